import XCTest
import LogImageTestSupport
@testable import LogImage

/// The check the compactor's crash tests share: every crash state in `plan`
/// passes `check`, opens read-write, and reads `head` on the head and
/// `snapshot.data` on that snapshot, byte for byte.
func assertEveryCrashStateReads(_ plan: [SimCrashPoint], of fs: SimFileSystem, path: String,
                                head: [UInt8], snapshot: (name: String, data: [UInt8]),
                                file: StaticString = #filePath, line: UInt = #line) throws {
    for point in plan {
        let crashed = fs.crashState(point)
        let report = try LogImage.check(at: path, repair: false, fileSystem: crashed)
        XCTAssertTrue(report.isConsistent, "\(point): \(report.corruptions)", file: file, line: line)
        do {
            let re = try LogImage.open(at: path, mode: .readWrite, fileSystem: crashed)
            XCTAssertTrue(try re.read(at: 0, count: head.count) == head, "\(point): head differs", file: file, line: line)
            XCTAssertTrue(try re.openSnapshot(name: snapshot.name).read(at: 0, count: snapshot.data.count) == snapshot.data,
                          "\(point): snapshot differs", file: file, line: line)
        } catch {
            XCTFail("\(point): \(error)", file: file, line: line)
        }
    }
}
