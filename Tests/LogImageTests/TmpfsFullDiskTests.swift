import Foundation
import LogImage
import LogImageTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A full disk, for real: the image lives on a small tmpfs (`mount -t tmpfs
/// -o size=8m`), is written with the production `PosixFileSystem` until the
/// kernel answers ENOSPC, and must then
///
/// - fail the write or flush with `LogImageError.noSpace` (no trap, no other code),
/// - still read back everything that a completed flush covered (and every
///   accepted write, through the same handle),
/// - reopen, with `LogImage.check` consistent,
/// - take writes and flushes again once the file system has room
///   (`mount -o remount,size=64m`).
///
/// Needs root (mount); skipped otherwise, or where mounting is not permitted.
final class TmpfsFullDiskTests: XCTestCase {
    private var mountPoint: String?

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root (uid \(getuid()))") }
        var template = Array((NSTemporaryDirectory() + "/logimg-tmpfs.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw XCTSkip("mkdtemp failed: errno \(errno)")
        }
        let dir = String(cString: made)
        let r = try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir])
        guard r.status == 0 else {
            rmdir(dir)
            throw XCTSkip("mount -t tmpfs failed (status \(r.status)): \(r.output)")
        }
        mountPoint = dir
    }

    override func tearDownWithError() throws {
        guard let dir = mountPoint else { return }
        mountPoint = nil
        // A handle left open by a failed test would keep the mount busy: fall back to a lazy unmount.
        if (try? Self.run("/bin/umount", [dir]))?.status != 0 {
            _ = try? Self.run("/bin/umount", ["-l", dir])
        }
        rmdir(dir)
    }

    // MARK: - Tests

    /// The same handle: ENOSPC is retryable, so after the remount the pending
    /// writes drain, and new writes and flushes succeed.
    func testFullDiskFailsWithNoSpaceThenSameHandleRecoversAfterRemount() throws {
        let dir = try XCTUnwrap(mountPoint)
        let path = dir + "/full.limg"
        let image = try LogImage.create(at: path, options: options(checkpointMiB: 0))
        let fill = try fillUntilFull(image)
        try assertReadsBack(image, fill.accepted, "same handle, disk full")

        // Still full: another write or flush fails the same way, and does not crash.
        assertNoSpaceOrSuccess {
            try image.write(self.block(fill.accepted), at: self.offset(fill.accepted))
            try image.flush()
        }

        try remount(dir, size: "64m")
        // The retryable failure left the handle usable: flush drains what was pending.
        try image.flush()
        var all = fill.accepted
        for i in all..<(all + 32) { try image.write(block(i), at: offset(i)) }
        all += 32
        try image.flush()
        try assertReadsBack(image, all, "same handle, after remount")
        try image.close()

        let report = try LogImage.check(at: path, repair: false)
        XCTAssertTrue(report.isConsistent, "\(report.findings)")
        let ro = try LogImage.open(at: path, mode: .readOnly)
        try assertReadsBack(ro, all, "reopened after remount")
        try ro.close()
    }

    /// Closing on a full disk, then reopening it while still full: flushed
    /// data is there and the check passes; after the remount a new handle
    /// writes and flushes.
    func testFullDiskCloseAndReopenWhileFullThenWriteAfterRemount() throws {
        try fullDiskReopenScenario(checkpointMiB: 0)
    }

    /// As above, with an automatic checkpoint every 2 MiB of log, so recovery
    /// while full starts from a recent checkpoint.
    func testFullDiskWithFrequentCheckpoints() throws {
        try fullDiskReopenScenario(checkpointMiB: 2)
    }

    /// A checkpoint (a temporary file, synced and renamed) on a file system
    /// with no free page left: `checkpoint()` fails with noSpace, the image
    /// stays readable and consistent, and once space is freed (the filler
    /// file deleted) a new handle checkpoints, writes and flushes.
    func testCheckpointOnFullDisk() throws {
        let dir = try XCTUnwrap(mountPoint)
        let path = dir + "/full.limg"
        let written = 32  // 2 MiB
        do {
            let image = try LogImage.create(at: path, options: options(checkpointMiB: 0))
            for i in 0..<written { try image.write(block(i), at: offset(i)) }
            try image.flush()
            try fillFileSystem(dir + "/filler")
            XCTAssertThrowsError(try image.checkpoint()) { error in
                XCTAssertEqual((error as? LogImageError)?.code, .noSpace, "checkpoint on a full disk: \(error)")
            }
            XCTAssertThrowsError(try { try image.write(self.block(written), at: self.offset(written)); try image.flush() }()) { error in
                XCTAssertEqual((error as? LogImageError)?.code, .noSpace, "write + flush on a full disk: \(error)")
            }
            try assertReadsBack(image, written, "after the failed checkpoint")
            assertNoSpaceOrSuccess { try image.close() }
        }
        let full = try LogImage.check(at: path, repair: false)
        XCTAssertTrue(full.isConsistent, "check while full: \(full.findings)")
        let ro = try LogImage.open(at: path, mode: .readOnly)
        try assertReadsBack(ro, written, "reopened read-only while full")
        try ro.close()

        XCTAssertEqual(unlink(dir + "/filler"), 0)
        let rw = try LogImage.open(at: path, mode: .readWrite)
        try assertReadsBack(rw, written, "reopened read-write with space again")
        try rw.checkpoint()
        for i in written..<(written + 16) { try rw.write(block(i), at: offset(i)) }
        try rw.flush()
        try assertReadsBack(rw, written + 16, "after new writes")
        try rw.close()
        let after = try LogImage.check(at: path, repair: false)
        XCTAssertTrue(after.isConsistent, "check at the end: \(after.findings)")
        let files = try FileManager.default.contentsOfDirectory(atPath: path)
        XCTAssertFalse(files.contains { $0.hasSuffix(".tmp") }, "a temporary checkpoint file was left behind: \(files)")
    }

    // MARK: - Scenario and helpers

    private func fullDiskReopenScenario(checkpointMiB: UInt32, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try XCTUnwrap(mountPoint)
        let path = dir + "/full.limg"
        var flushed = 0
        do {
            let image = try LogImage.create(at: path, options: options(checkpointMiB: checkpointMiB))
            let fill = try fillUntilFull(image, file: file, line: line)
            flushed = fill.flushed
            try assertReadsBack(image, fill.accepted, "same handle, disk full", file: file, line: line)
            // close() flushes and writes a checkpoint: on a full disk it may fail, but only with noSpace.
            assertNoSpaceOrSuccess(file: file, line: line) { try image.close() }
        }  // the handle is released here (its lock too)

        let full = try LogImage.check(at: path, repair: false)
        XCTAssertTrue(full.isConsistent, "check while full: \(full.findings)", file: file, line: line)
        let ro = try LogImage.open(at: path, mode: .readOnly)
        try assertReadsBack(ro, flushed, "reopened read-only while full", file: file, line: line)
        try ro.close()

        try remount(dir, size: "64m")
        let rw = try LogImage.open(at: path, mode: .readWrite)
        try assertReadsBack(rw, flushed, "reopened read-write after remount", file: file, line: line)
        var all = flushed
        for i in all..<(all + 32) { try rw.write(block(i), at: offset(i)) }
        all += 32
        try rw.flush()
        try rw.write(block(all), at: offset(all), fua: true)
        all += 1
        try assertReadsBack(rw, all, "after new writes", file: file, line: line)
        try rw.close()

        let after = try LogImage.check(at: path, repair: false)
        XCTAssertTrue(after.isConsistent, "check after remount: \(after.findings)", file: file, line: line)
        let again = try LogImage.open(at: path, mode: .readOnly)
        try assertReadsBack(again, all, "reopened at the end", file: file, line: line)
        try again.close()
    }

    /// 64 MiB virtual disk (8x the file system), 1 MiB segments so the log rolls over often.
    private func options(checkpointMiB: UInt32) -> LogImage.CreateOptions {
        var o = LogImage.CreateOptions(virtualSize: 64 << 20)
        o.segmentSize = 1 << 20
        o.checkpointIntervalMiB = checkpointMiB
        return o
    }

    private static let blockBytes = 64 << 10
    private func offset(_ i: Int) -> UInt64 { UInt64(i * Self.blockBytes) }

    /// Block `i`: every 512-byte sector starts with the block and sector number, then a pattern byte.
    private func block(_ i: Int) -> [UInt8] {
        var b = [UInt8](repeating: UInt8(truncatingIfNeeded: i &* 37 &+ 11), count: Self.blockBytes)
        for s in 0..<(Self.blockBytes / 512) {
            withUnsafeBytes(of: UInt32(i).littleEndian) { b.replaceSubrange(s * 512..<(s * 512 + 4), with: $0) }
            withUnsafeBytes(of: UInt32(s).littleEndian) { b.replaceSubrange(s * 512 + 4..<(s * 512 + 8), with: $0) }
        }
        return b
    }

    private struct Fill {
        /// Blocks 0..<flushed were covered by a completed flush.
        var flushed: Int
        /// Blocks 0..<accepted were accepted by `write` (flushed or not).
        var accepted: Int
        var error: LogImageError
    }

    /// Writes 64 KiB blocks in order with a flush every 16 (1 MiB) until the
    /// file system is full; asserts that the first failure is `noSpace`.
    private func fillUntilFull(_ image: LogImage, file: StaticString = #filePath, line: UInt = #line) throws -> Fill {
        var flushed = 0, accepted = 0
        let limit = Int(image.virtualSize) / Self.blockBytes
        var failure: (any Error)?
        var failedOp = ""
        loop: while accepted < limit {
            do {
                failedOp = "write of block \(accepted)"
                try image.write(block(accepted), at: offset(accepted))
                accepted += 1
                if accepted % 16 == 0 {
                    failedOp = "flush after block \(accepted - 1)"
                    try image.flush()
                    flushed = accepted
                }
            } catch {
                failure = error
                break loop
            }
        }
        guard let failure else {
            struct NoENOSPC: Error {}
            XCTFail("wrote the whole \(image.virtualSize)-byte disk on an 8 MiB tmpfs without an error", file: file, line: line)
            throw NoENOSPC()
        }
        guard let e = failure as? LogImageError else {
            XCTFail("\(failedOp) failed with \(type(of: failure)), not LogImageError: \(failure)", file: file, line: line)
            throw failure
        }
        XCTAssertEqual(e.code, .noSpace, "\(failedOp): \(e)", file: file, line: line)
        XCTAssertGreaterThan(flushed, 16, "the disk should hold several MiB before it is full", file: file, line: line)
        return Fill(flushed: flushed, accepted: accepted, error: e)
    }

    private func assertNoSpaceOrSuccess(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
        } catch let e as LogImageError {
            XCTAssertEqual(e.code, .noSpace, "\(e)", file: file, line: line)
        } catch {
            XCTFail("\(type(of: error)) instead of LogImageError: \(error)", file: file, line: line)
        }
    }

    private func assertReadsBack(_ image: LogImage, _ count: Int, _ what: String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        for i in 0..<count {
            let got = try image.read(at: offset(i), count: Self.blockBytes)
            if got != block(i) {
                let firstBad = zip(got, block(i)).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                XCTFail("\(what): block \(i) (offset \(offset(i))) reads wrong data from byte \(firstBad) of \(count) blocks",
                        file: file, line: line)
                return
            }
        }
    }

    /// Writes `path` in 64 KiB chunks until the file system has no page left.
    private func fillFileSystem(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0, "open \(path): errno \(errno)")
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5a, count: 64 << 10)
        var total = 0
        while true {
            let n = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n > 0 { total += n; continue }
            XCTAssertEqual(errno, ENOSPC, "filling the tmpfs stopped with errno \(errno) after \(total) bytes")
            break
        }
        // A short write leaves a partial page; one more byte at a time until that fails too.
        var one: UInt8 = 0
        while Glibc.write(fd, &one, 1) == 1 { total += 1 }
    }

    private func remount(_ dir: String, size: String) throws {
        let r = try Self.run("/bin/mount", ["-o", "remount,size=\(size)", dir])
        XCTAssertEqual(r.status, 0, "remount failed: \(r.output)")
    }

    /// Runs a tool, returning its exit status and combined output.
    private static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
