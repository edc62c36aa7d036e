import Foundation
import LogImage
import LogImageNBD
import Logging

/// Conversion to and from the formats qemu-img knows (qcow2, VMDK, VHDX,
/// VDI, VHD, …): qemu-img reads or writes the other side, and this process
/// serves the logimg side over NBD on a private Unix socket.
enum QemuInterop {
    /// Formats passed to `qemu-img convert -O`.
    static let outputFormats = ["qcow2", "vmdk", "vhdx", "vdi", "vpc", "qed"]

    /// The qemu-img binary, or a clear error saying how to get it.
    static func qemuImg() throws -> String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/qemu-img") {
            return d + "/qemu-img"
        }
        throw CLIError("this conversion needs qemu-img, which is not installed (on Debian: apt-get install qemu-utils)")
    }

    /// Runs qemu-img with `args`; throws its last error line on failure.
    static func run(_ args: [String], showProgress: Bool = false) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try qemuImg())
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = showProgress ? FileHandle.standardError : err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = showProgress ? Data() : err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: stderr, as: UTF8.self).split(whereSeparator: \.isNewline).last.map(String.init) ?? "failed"
            throw CLIError("qemu-img \(args.first ?? ""): \(msg)")
        }
        return String(decoding: stdout, as: UTF8.self)
    }

    /// The virtual size and format of any image qemu-img can open.
    static func describe(_ path: String) throws -> (size: UInt64, format: String) {
        let json = try run(["info", "--output", "json", path])
        guard let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let size = (obj["virtual-size"] as? NSNumber)?.uint64Value else {
            throw CLIError("qemu-img info '\(path)' gave no virtual size")
        }
        return (size, obj["format"] as? String ?? "unknown")
    }

    /// Serves `image` (its head, or `snapshot`) on a private Unix socket for the
    /// duration of `body`, which gets the NBD URI.
    static func withServer<R>(_ image: LogImage, snapshot: String?, readOnly: Bool, _ body: (String) throws -> R) throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logimg-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = NBDServerConfiguration()
        config.host = nil
        config.unixSocketPath = dir + "/nbd.sock"
        config.readOnly = readOnly
        config.maxConnections = 4
        var logger = Logger(label: "logimg.convert")
        logger.logLevel = .critical
        let server = NBDServer(image: image, configuration: config, logger: logger)
        try server.start()
        defer { try? server.shutdown() }
        let export = snapshot.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? $0 } ?? ""
        return try body("nbd+unix:///\(export)?socket=\(config.unixSocketPath!)")
    }

    /// Converts a foreign image into a new limg image at `destination`.
    static func importImage(_ source: String, to destination: String, options: (UInt64) -> LogImage.CreateOptions) throws -> (size: UInt64, stored: UInt64) {
        let (size, _) = try describe(source)
        let image = try ImageName.create(destination, options: options((size + 511) & ~511))
        do {
            try withServer(image, snapshot: nil, readOnly: false) { uri in
                _ = try run(["convert", "-n", "-O", "raw", source, uri], showProgress: Output.stderrIsTerminal)
            }
            try image.flush()
            let stored = try image.info().liveBytes
            try image.close()
            return (size, stored)
        } catch {
            try? image.close()
            try? ImageName.removeUnfinished(destination)
            throw error
        }
    }

    /// Converts a limg image (or one snapshot of it) into a new image of a qemu-img format.
    static func exportImage(_ source: String, snapshot: String?, to destination: String, format: String) throws -> UInt64 {
        let image = try ImageName.open(source, mode: .readOnly)
        defer { try? image.close() }
        if let snapshot { _ = try image.openSnapshot(name: snapshot) }  // a clear error if it is missing
        try withServer(image, snapshot: snapshot, readOnly: true) { uri in
            _ = try run(["convert", "-f", "raw", "-O", format, uri, destination], showProgress: Output.stderrIsTerminal)
        }
        return snapshot.flatMap { try? image.openSnapshot(name: $0).virtualSize } ?? image.virtualSize
    }
}
