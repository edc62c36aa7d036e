import Foundation
import LogImage
@testable import LogImageControl
import LogImageNBD
import LogImageTestSupport
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A served temp image: LogImage + NBDServer (Unix socket) + ImageService + ControlServer.
final class ServedImage {
    let dir = TempDirectory("logimg-control")
    let image: LogImage
    let nbd: NBDServer
    let service: ImageService
    let control: ControlServer
    var nbdSocket: String { dir.file("nbd.sock") }
    var controlSocket: String { control.socketPath }
    var nbdURI: String { "nbd+unix:///?socket=\(nbdSocket)" }

    init(size: UInt64 = 64 << 20, configuration: ControlServerConfiguration = ControlServerConfiguration()) throws {
        var opts = LogImage.CreateOptions(virtualSize: size)
        opts.segmentSize = 1 << 20
        image = try LogImage.create(at: dir.file("disk.limg"), options: opts)
        service = ImageService(image: image, name: dir.file("disk.limg"))
        var config = NBDServerConfiguration()
        config.host = nil
        config.unixSocketPath = dir.file("nbd.sock")
        let service = self.service
        nbd = NBDServer(exports: [], configuration: config, dynamicExports: { service.nbdExports() })
        service.attach(nbd)
        try nbd.start()
        control = ControlServer(handler: service, socketPath: dir.file("ctl/control.sock"), configuration: configuration)
        try control.start()
    }

    func client() throws -> ControlClient { try ControlClient.connect(path: controlSocket) }

    func stop() {
        control.shutdown()
        try? nbd.shutdown()
        service.stop()
        try? image.close()
    }
}

/// A raw connection to a control socket, for bad input.
final class RawConnection {
    let fd: Int32
    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try ControlSocket.connectUnix(fd, path)
    }
    deinit { close(fd) }

    func send(_ s: String) { send(Array(s.utf8)) }
    func send(_ b: [UInt8]) {
        var off = 0
        while off < b.count {
            let n = b[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    private var buffer: [UInt8] = []
    /// The next line as JSON; nil on EOF or after `timeout` seconds.
    func line(timeout: Double = 5) -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let l = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return try? JSONDecoder().decode(JSONValue.self, from: Data(l))
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer += chunk[..<n]
        }
    }

    /// Whether the server closed the connection within `timeout` seconds (lines before EOF are skipped).
    func closed(timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return true }
        }
        return false
    }
}

extension ControlClient {
    /// Waits up to `timeout` seconds for an event named `name`.
    func waitEvent(_ name: String, timeout: Double = 10) throws -> ControlEvent? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            if let e = try nextEvent(timeout: deadline.timeIntervalSinceNow), e.name == name { return e }
        }
        return nil
    }
}

func XCTAssertRemoteError(_ body: @autoclosure () throws -> Any, _ cls: ControlErrorClass, contains: String = "",
                          file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a \(cls.rawValue) error", file: file, line: line)
    } catch ControlClientError.remote(let f) {
        XCTAssertEqual(f.errorClass, cls, f.desc, file: file, line: line)
        if !contains.isEmpty { XCTAssertTrue(f.desc.contains(contains), f.desc, file: file, line: line) }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
