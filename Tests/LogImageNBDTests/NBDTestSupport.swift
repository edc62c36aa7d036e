import Foundation
import LogImage
import LogImageNBD
import LogImageTestSupport
import Logging
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The XCTSkip side of `Tools` (LogImageTestSupport/ToolProcesses.swift), which runs the clients.
extension Tools {
    /// Skips the test (saying why) when a client binary is missing.
    static func require(_ path: String, _ why: String = "") throws {
        if let msg = missing(path, why) {
            print("skipping: \(msg)")
            throw XCTSkip(msg)
        }
    }

    /// Skips unless /usr/bin/python3 can import the `nbd` module.
    static func requirePythonNBD() throws {
        if let msg = pythonNBDMissing() {
            print("skipping: \(msg)")
            throw XCTSkip(msg)
        }
    }
}

/// A temp dir with an image served in-process on a Unix socket.
final class ServedImage {
    let dir: TempDirectory
    let imagePath: String
    let socketPath: String
    let image: LogImage
    let server: NBDServer
    var uri: String { "nbd+unix:///?socket=\(socketPath)" }

    init(size: UInt64 = 64 << 20, readOnly: Bool = false, maxConnections: Int = 64,
         configure: (inout NBDServerConfiguration) -> Void = { _ in }) throws {
        dir = TempDirectory("logimg-nbd")
        imagePath = dir.file("disk.limg")
        socketPath = dir.file("nbd.sock")
        try LogImage.create(at: imagePath, options: .init(virtualSize: size)).close()
        image = try LogImage.open(at: imagePath, mode: readOnly ? .readOnly : .readWrite)
        var config = NBDServerConfiguration()
        config.host = nil
        config.unixSocketPath = socketPath
        config.readOnly = readOnly
        config.maxConnections = maxConnections
        configure(&config)
        var logger = Logger(label: "logimg.nbd.test")
        logger.logLevel = ProcessInfo.processInfo.environment["NBD_TEST_DEBUG"] != nil ? .trace : .critical
        server = NBDServer(image: image, configuration: config, logger: logger)
        try server.start()
    }

    /// Stops the server and closes the image (flush + checkpoint).
    func stop() throws {
        try server.shutdown()
        try image.close()
    }

    deinit {
        try? server.shutdown()
        try? image.close()
    }
}
