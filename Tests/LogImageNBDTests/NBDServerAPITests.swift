import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import XCTest

/// The NBDServer API itself: bind failures, double start and shutdown.
final class NBDServerAPITests: XCTestCase {
    func makeImage(_ dir: TempDirectory) throws -> LogImage {
        try LogImage.create(at: dir.file("disk.limg"), options: .init(virtualSize: 1 << 20))
    }

    func testBindFailureIsOneClearErrorAndLeavesNothingRunning() throws {
        let dir = TempDirectory("logimg-nbd-api")
        let image = try makeImage(dir)
        var config = NBDServerConfiguration()
        config.host = nil
        config.unixSocketPath = dir.file("no/such/dir/s.sock")
        let server = NBDServer(image: image, configuration: config)
        XCTAssertThrowsError(try server.start()) { error in
            XCTAssertEqual("\(error)", "cannot listen on unix:\(dir.file("no/such/dir/s.sock")): No such file or directory")
        }
        XCTAssertNoThrow(try server.shutdown())
        try image.close()
    }

    func testNothingToListenOn() throws {
        let dir = TempDirectory("logimg-nbd-api")
        let image = try makeImage(dir)
        var config = NBDServerConfiguration()
        config.host = nil
        let server = NBDServer(image: image, configuration: config)
        XCTAssertThrowsError(try server.start())
        XCTAssertNoThrow(try server.shutdown())
        try image.close()
    }

    func testStartTwiceFailsAndShutdownIsIdempotent() throws {
        let dir = TempDirectory("logimg-nbd-api")
        let image = try makeImage(dir)
        var config = NBDServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.unixSocketPath = dir.file("s.sock")
        let server = NBDServer(image: image, configuration: config)
        try server.start()
        XCTAssertNotNil(server.tcpAddress?.port)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("s.sock")))
        XCTAssertThrowsError(try server.start())
        try server.shutdown()
        try server.shutdown()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("s.sock")))
        try image.close()
    }
}
