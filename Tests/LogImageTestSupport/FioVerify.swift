import Foundation

/// fio's nbd engine writing 4 KiB blocks at random with crc32c verification,
/// two jobs (two NBD connections) of `jobBytes` each, 32 MiB apart, iodepth 16:
/// what the serve tests use to prove writes from several connections read back.
public enum FioVerify {
    /// One job's outcome in fio's JSON report.
    public struct Job: Sendable {
        public var error: Int
        public var bytesWritten: Int64
        public var bytesRead: Int64
    }

    /// A fio report that could not be read.
    public struct BadReport: Error, CustomStringConvertible {
        public var description: String
    }

    /// Why the run cannot happen here (no fio, or fio built without its nbd
    /// engine), or nil: tests skip with this message.
    public static func missing() throws -> String? {
        if let msg = Tools.missing("/usr/bin/fio") { return msg }
        let help = try Tools.run("/usr/bin/fio", ["--enghelp=nbd"])
        return help.status == 0 ? nil : "fio was built without the nbd engine: \(help.output)"
    }

    /// Runs fio against `uri`; returns the run and, when fio wrote a JSON
    /// report, its jobs (nil if it wrote none).
    public static func run(uri: String, jobBytes: Int, in dir: TempDirectory, timeout: Double) throws -> (ToolRun, [Job]?) {
        let out = dir.file("fio.json")
        let r = try Tools.run("/usr/bin/fio", [
            "--name=nbdverify", "--ioengine=nbd", "--uri=\(uri)", "--rw=randwrite", "--bs=4k",
            "--size=\(jobBytes)", "--offset_increment=32M", "--numjobs=2", "--iodepth=16",
            "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0", "--output-format=json", "--output=\(out)",
        ], timeout: timeout, in: dir.path)
        guard r.status == 0 else { return (r, nil) }
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        // fio's nbd engine may print a line before the JSON.
        guard let json = text.firstIndex(of: "{").map({ String(text[$0...]) }) else {
            throw BadReport(description: "no JSON in fio output: \(text)")
        }
        guard let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let jobs = obj["jobs"] as? [[String: Any]] else {
            throw BadReport(description: "no jobs in fio output: \(text)")
        }
        return (r, jobs.map { j in
            func bytes(_ dir: String) -> Int64 { ((j[dir] as? [String: Any])?["io_bytes"] as? NSNumber)?.int64Value ?? 0 }
            return Job(error: (j["error"] as? NSNumber)?.intValue ?? -1, bytesWritten: bytes("write"), bytesRead: bytes("read"))
        })
    }
}
