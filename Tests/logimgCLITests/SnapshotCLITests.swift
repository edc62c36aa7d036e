import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// End-to-end tests of the snapshot verbs and the verbs around them
/// (`snapshot`, `info`, `convert --snapshot`, `map`, `diff`, `compare`,
/// `resize`): they run the built `logimg` binary, found as `CLITests` finds it.
final class SnapshotCLITests: XCTestCase, CLITestCase {
    typealias Run = CLIRun

    var tmp: TempDirectory!

    override func setUp() { tmp = TempDirectory("logimg-snapcli") }
    override func tearDown() { tmp = nil }


    /// Asserts success with nothing on stderr.
    @discardableResult
    func ok(_ r: Run, file: StaticString = #filePath, line: UInt = #line) -> Run {
        XCTAssertEqual(r.status, 0, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "", file: file, line: line)
        return r
    }


    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
    func writeFile(_ path: String, _ content: [UInt8]) throws { try Data(content).write(to: URL(fileURLWithPath: path)) }

    /// Exports the head (or a snapshot) through `convert -O raw` and returns its bytes.
    func export(_ img: String, snapshot: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let out = tmp.file("export-\(UUID().uuidString).raw")
        let run = try snapshot.map { try logimg("convert", "--snapshot", $0, "-O", "raw", img, out) }
            ?? logimg("convert", "-O", "raw", img, out)
        XCTAssertEqual(run.status, 0, "convert failed: \(run.stderr)", file: file, line: line)
        defer { try? FileManager.default.removeItem(atPath: out) }
        return try bytes(out)
    }

    /// An image holding `content`, written through the library; all-zero MiBs are left as holes.
    func makeImage(_ name: String, _ content: [UInt8]) throws -> String {
        let img = tmp.file(name)
        let image = try LogImage.create(at: img, options: .init(virtualSize: UInt64(content.count)))
        var off = 0
        while off < content.count {
            let end = min(content.count, off + (1 << 20))
            if content[off..<end].contains(where: { $0 != 0 }) { try image.write(Array(content[off..<end]), at: UInt64(off)) }
            off = end
        }
        try image.close()
        return img
    }

    func write(_ img: String, _ data: [UInt8], at offset: UInt64) throws {
        let image = try LogImage.open(at: img, mode: .readWrite)
        try image.write(data, at: offset)
        try image.close()
    }

    /// 8 MiB: 2 MiB of random data, then zeros (stored as nothing).
    func baseDisk(seed: UInt64 = 1) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var disk = [UInt8](repeating: 0, count: 8 << 20)
        disk.replaceSubrange(0..<(2 << 20), with: rng.bytes(2 << 20))
        return disk
    }

    // MARK: - snapshot create / list / revert / delete

    func testSnapshotRoundTrip() throws {
        var disk = baseDisk()
        let img = try makeImage("rt.limg", disk)
        let v1 = disk

        ok(try logimg("snapshot", "create", img, "v1"))
        var rng = SeededRandom(seed: 9)
        let patch = rng.bytes(64 << 10)
        try write(img, patch, at: 1 << 20)
        disk.replaceSubrange((1 << 20)..<(1 << 20) + patch.count, with: patch)
        let v2 = disk
        XCTAssertNotEqual(v1, v2)
        ok(try logimg("snapshot", "create", img, "v2"))
        // The verbs exit without a closing checkpoint; the image is still clean.
        let check = try logimg("check", img)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertFalse(check.stdout.contains("Torn tail"), check.stdout)

        // list --output json: both, oldest first, with the fields of SnapshotInfo.
        let j = ok(try logimg("snapshot", "list", "--output", "json", img))
        let list = try JSONDecoder().decode([SnapshotInfo].self, from: Data(j.stdout.utf8))
        XCTAssertEqual(list.map(\.name), ["v1", "v2"])
        XCTAssertEqual(list[0].bytesReferenced, 2 << 20)
        XCTAssertLessThan(list[0].sequence, list[1].sequence)
        XCTAssertEqual(list[0].virtualSize, 8 << 20)
        XCTAssertLessThan(try XCTUnwrap(j.stdout.range(of: "\"bytesExclusive\"")).lowerBound,
                          try XCTUnwrap(j.stdout.range(of: "\"name\"")).lowerBound, "sorted keys")

        // Human table and info list them.
        let h = ok(try logimg("snapshot", "list", img))
        XCTAssertTrue(h.stdout.hasPrefix("Snapshot list:\nID  TAG  REFERENCED  EXCLUSIVE  DATE"), h.stdout)
        let rows = h.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 4, h.stdout)
        XCTAssertTrue(rows[2].hasPrefix("\(list[0].epoch)   v1 ") && rows[2].contains("2 MiB"), h.stdout)
        XCTAssertNotNil(rows[2].firstMatch(of: /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/), h.stdout)
        XCTAssertTrue(rows[2].hasSuffix(" \(list[0].sequence)"), h.stdout)
        let info = ok(try logimg("info", img))
        XCTAssertTrue(info.stdout.contains("features: snapshots\n"), info.stdout)
        XCTAssertTrue(info.stdout.contains("Snapshot list:\nID  TAG"), info.stdout)
        XCTAssertTrue(info.stdout.contains(" v2 "), info.stdout)

        // Overwrite the head; both snapshots still export their own contents.
        try write(img, [UInt8](repeating: 0xEE, count: 1 << 20), at: 0)
        disk.replaceSubrange(0..<(1 << 20), with: [UInt8](repeating: 0xEE, count: 1 << 20))
        XCTAssertEqual(try export(img), disk)
        XCTAssertEqual(try export(img, snapshot: "v1"), v1)
        XCTAssertEqual(try export(img, snapshot: "v2"), v2)

        // Revert to v1: the head reads v1 again, and v2 is untouched.
        ok(try logimg("snapshot", "revert", img, "v1"))
        XCTAssertEqual(try export(img), v1)
        XCTAssertEqual(try export(img, snapshot: "v2"), v2)

        // Delete v1: gone from the list, v2 and the head unchanged.
        ok(try logimg("snapshot", "delete", img, "v1"))
        let after = try JSONDecoder().decode([SnapshotInfo].self,
                                             from: Data(ok(try logimg("snapshot", "list", "--output", "json", img)).stdout.utf8))
        XCTAssertEqual(after.map(\.name), ["v2"])
        XCTAssertEqual(try export(img), v1)
        XCTAssertEqual(try export(img, snapshot: "v2"), v2)
        assertOneLineError(try logimg("convert", "--snapshot", "v1", "-O", "raw", img, tmp.file("gone.raw")), containing: "v1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("gone.raw")))

        // No snapshots: list prints nothing (like qemu-img), json an empty array.
        ok(try logimg("snapshot", "delete", img, "v2"))
        XCTAssertEqual(ok(try logimg("snapshot", "list", img)).stdout, "")
        let empty = ok(try logimg("snapshot", "list", "--output", "json", img))
        XCTAssertEqual(try JSONDecoder().decode([SnapshotInfo].self, from: Data(empty.stdout.utf8)), [])
    }

    func testSnapshotErrors() throws {
        let img = try makeImage("err.limg", baseDisk())
        ok(try logimg("snapshot", "create", img, "a"))
        assertOneLineError(try logimg("snapshot", "create", img), containing: "name")
        assertOneLineError(try logimg("snapshot", "create", img, "a"), containing: "already exists")
        assertOneLineError(try logimg("snapshot", "create", img, "x/y"), containing: "'/'")
        assertOneLineError(try logimg("snapshot", "create", img, String(repeating: "n", count: 256)), containing: "255")
        assertOneLineError(try logimg("snapshot", "delete", img, "nope"), containing: "nope")
        assertOneLineError(try logimg("snapshot", "revert", img, "nope"), containing: "nope")
        assertOneLineError(try logimg("convert", "--snapshot", "nope", "-O", "raw", img, tmp.file("n.raw")), containing: "nope")
        assertOneLineError(try logimg("snapshot", "list", tmp.file("missing.limg")), containing: "missing.limg")

        // A writer holds the image: every verb says it is in use.
        let writer = try LogImage.open(at: img, mode: .readWrite)
        assertOneLineError(try logimg("snapshot", "create", img, "b"), containing: "in use")
        assertOneLineError(try logimg("snapshot", "delete", img, "a"), containing: "in use")
        assertOneLineError(try logimg("snapshot", "revert", img, "a"), containing: "in use")
        assertOneLineError(try logimg("snapshot", "list", img), containing: "in use")
        try writer.close()
        let names = try JSONDecoder().decode([SnapshotInfo].self,
                                             from: Data(ok(try logimg("snapshot", "list", "--output", "json", img)).stdout.utf8))
        XCTAssertEqual(names.map(\.name), ["a"], "failed commands must not change the snapshots")
    }

    // MARK: - diff

    func testDiffReportsExactlyTheWrittenRange() throws {
        let img = try makeImage("diff.limg", baseDisk())
        ok(try logimg("snapshot", "create", img, "s1"))
        XCTAssertEqual(ok(try logimg("diff", img, "s1")).stdout, "total: 0 bytes (0 B) in 0 ranges\n")

        try write(img, [UInt8](repeating: 0x5A, count: 12288), at: 3 << 20)
        let h = ok(try logimg("diff", img, "s1"))
        XCTAssertEqual(h.stdout, "\(3 << 20) 12288\ntotal: 12288 bytes (12 KiB) in 1 range\n")

        ok(try logimg("snapshot", "create", img, "s2"))
        try write(img, [UInt8](repeating: 0x11, count: 4096), at: 512 << 10)
        let j = ok(try logimg("diff", "--output", "json", img, "s1", "s2"))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["from"] as? String, "s1")
        XCTAssertEqual(obj["to"] as? String, "s2")
        XCTAssertEqual(obj["totalBytes"] as? Int, 12288)
        let ranges = try XCTUnwrap(obj["ranges"] as? [[String: Int]])
        XCTAssertEqual(ranges, [["offset": 3 << 20, "length": 12288]])

        // s2 -> head: only the second write.
        XCTAssertEqual(ok(try logimg("diff", img, "s2")).stdout, "\(512 << 10) 4096\ntotal: 4096 bytes (4 KiB) in 1 range\n")
        assertOneLineError(try logimg("diff", img, "nope"), containing: "nope")
    }

    // MARK: - compare

    func testCompareExitCodes() throws {
        let disk = baseDisk()
        let img = try makeImage("cmp.limg", disk)
        let raw = tmp.file("cmp.raw")
        try writeFile(raw, disk)

        let same = try logimg("compare", img, raw)
        XCTAssertEqual(same.status, 0, same.stdout + same.stderr)
        XCTAssertEqual(same.stdout, "Images are identical.\n")

        // One byte different, inside the data, then in the zero part.
        for offset in [1_234_567, 6_000_001] {
            var other = disk
            other[offset] ^= 0x01
            let path = tmp.file("diff-\(offset).raw")
            try writeFile(path, other)
            let r = try logimg("compare", img, path)
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertEqual(r.stdout, "Content mismatch at offset \(offset)!\n")
            XCTAssertEqual(r.stderr, "")
            let j = try logimg("compare", "--output", "json", path, img)
            XCTAssertEqual(j.status, 1)
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(obj["identical"] as? Bool, false)
            XCTAssertEqual(obj["mismatchOffset"] as? Int, offset)
        }

        // A snapshot against the head of the same image, before and after a write.
        ok(try logimg("snapshot", "create", img, "s"))
        XCTAssertEqual(try logimg("compare", img, img, "--snapshot-a", "s").status, 0)
        try write(img, [UInt8](repeating: 0, count: 512), at: 4096)  // zeros over random data
        let snapVsHead = try logimg("compare", "--snapshot-a", "s", img, img)
        XCTAssertEqual(snapVsHead.status, 1, snapVsHead.stdout + snapVsHead.stderr)
        let firstNonZero = disk[4096..<4608].firstIndex { $0 != 0 }!
        XCTAssertEqual(snapVsHead.stdout, "Content mismatch at offset \(firstNonZero)!\n")
        XCTAssertEqual(try logimg("compare", "--snapshot-a", "s", img, raw).status, 0)

        // Different sizes: identical when the extra part is zeros, else the first non-zero byte.
        let longer = tmp.file("longer.raw")
        try writeFile(longer, disk + [UInt8](repeating: 0, count: 1 << 20))
        let l = try logimg("compare", raw, longer)
        XCTAssertEqual(l.status, 0, l.stdout + l.stderr)
        XCTAssertEqual(l.stdout, "Warning: Image size mismatch!\nImages are identical.\n")
        var tail = [UInt8](repeating: 0, count: 1 << 20)
        tail[777] = 1
        try writeFile(longer, disk + tail)
        let lt = try logimg("compare", img, longer, "--snapshot-a", "s")
        XCTAssertEqual(lt.status, 1, lt.stdout + lt.stderr)
        XCTAssertTrue(lt.stdout.hasSuffix("Content mismatch at offset \(disk.count + 777)!\n"), lt.stdout)

        // Errors exit 2 with one line.
        assertOneLineError(try logimg("compare", img, tmp.file("missing.raw")), containing: "missing.raw", status: 2)
        assertOneLineError(try logimg("compare", img, img, "--snapshot-b", "nope"), containing: "nope", status: 2)
        assertOneLineError(try logimg("compare", raw, img, "--snapshot-a", "s"), containing: "raw", status: 2)
    }

    // MARK: - resize

    func testResizeGrowShrink() throws {
        let disk = baseDisk()
        let img = try makeImage("rs.limg", disk)
        ok(try logimg("snapshot", "create", img, "before"))

        XCTAssertEqual(ok(try logimg("resize", img, "+8M")).stdout, "Image resized.\n")
        XCTAssertEqual(try export(img), disk + [UInt8](repeating: 0, count: 8 << 20))
        XCTAssertEqual(ok(try logimg("resize", img, "24M")).stdout, "Image resized.\n")
        XCTAssertEqual(try export(img).count, 24 << 20)

        // Shrinking needs --shrink; the image is unchanged without it.
        let refused = try logimg("resize", img, "-23M")
        assertOneLineError(refused, containing: "--shrink")
        XCTAssertEqual(refused.stdout, "")
        assertOneLineError(try logimg("resize", img, "1M"), containing: "--shrink")
        XCTAssertEqual(try export(img).count, 24 << 20)

        XCTAssertEqual(ok(try logimg("resize", "--shrink", img, "-23M")).stdout, "Image resized.\n")
        XCTAssertEqual(try export(img), Array(disk[0..<(1 << 20)]))
        // Growing again reads zeros past the old end: the shrink trimmed it.
        ok(try logimg("resize", img, "2M"))
        XCTAssertEqual(try export(img), Array(disk[0..<(1 << 20)]) + [UInt8](repeating: 0, count: 1 << 20))
        // The snapshot keeps its own size and contents.
        XCTAssertEqual(try export(img, snapshot: "before"), disk)

        assertOneLineError(try logimg("resize", img, "1000"), containing: "512")
        assertOneLineError(try logimg("resize", img, "-4M", "--shrink"), containing: "only")
        assertOneLineError(try logimg("resize", img, "12Q"), containing: "12Q")
        assertOneLineError(try logimg("resize", img), containing: "size")
    }

    // MARK: - map

    func testMapShowsDataZeroAndHoleRuns() throws {
        let img = tmp.file("map.limg")
        let image = try LogImage.create(at: img, options: .init(virtualSize: 8 << 20))
        try image.write([UInt8](repeating: 1, count: 1 << 20), at: 0)
        try image.writeZeroes(at: 4 << 20, length: 1 << 20)
        try image.close()
        ok(try logimg("snapshot", "create", img, "s"))
        try write(img, [UInt8](repeating: 2, count: 4096), at: 2 << 20)

        struct Entry: Decodable, Equatable { var start: UInt64; var length: UInt64; var kind: String; var depth: Int }
        let j = ok(try logimg("map", "--output", "json", img))
        XCTAssertEqual(try JSONDecoder().decode([Entry].self, from: Data(j.stdout.utf8)), [
            Entry(start: 0, length: 1 << 20, kind: "data", depth: 0),
            Entry(start: 1 << 20, length: 1 << 20, kind: "hole", depth: 0),
            Entry(start: 2 << 20, length: 4096, kind: "data", depth: 0),
            Entry(start: (2 << 20) + 4096, length: (2 << 20) - 4096, kind: "hole", depth: 0),
            Entry(start: 4 << 20, length: 1 << 20, kind: "zero", depth: 0),
            Entry(start: 5 << 20, length: 3 << 20, kind: "hole", depth: 0),
        ])
        let s = ok(try logimg("map", "--snapshot", "s", "--output", "json", img))
        XCTAssertEqual(try JSONDecoder().decode([Entry].self, from: Data(s.stdout.utf8)), [
            Entry(start: 0, length: 1 << 20, kind: "data", depth: 0),
            Entry(start: 1 << 20, length: 3 << 20, kind: "hole", depth: 0),
            Entry(start: 4 << 20, length: 1 << 20, kind: "zero", depth: 0),
            Entry(start: 5 << 20, length: 3 << 20, kind: "hole", depth: 0),
        ])
        let h = ok(try logimg("map", img))
        XCTAssertEqual(h.stdout.split(separator: "\n").first, "Offset          Length          Kind            Mapped to       File")
        XCTAssertTrue(h.stdout.contains("\n0               0x100000        data            0x"), h.stdout)
        XCTAssertTrue(h.stdout.contains("seg-0000000000000001.log\n"), h.stdout)
        XCTAssertTrue(h.stdout.contains("\n0x400000        0x100000        zero            \n"), h.stdout)
        // JSON data runs say where they lie in the log.
        struct Located: Decodable { var kind: String; var segment: UInt64?; var offset: UInt64? }
        let located = try JSONDecoder().decode([Located].self, from: Data(j.stdout.utf8))
        XCTAssertTrue(located.filter { $0.kind == "data" }.allSatisfy { $0.segment == 1 && $0.offset != nil })
        XCTAssertTrue(located.filter { $0.kind != "data" }.allSatisfy { $0.segment == nil })
        assertOneLineError(try logimg("map", "--snapshot", "nope", img), containing: "nope")
    }
}
