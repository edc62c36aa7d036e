import Foundation
import XCTest
import LogImage
import LogImageRados
import LogImageTestSupport

/// Base class of the RADOS tests: they need a running cluster, named by
/// `CEPH_CONF` (`bench/ceph-single-node.sh start DIR` prints the export line),
/// and skip without one. Images go into pool `$LOGIMG_RADOS_POOL` (default
/// `logimg`) under unique names, and every image a test made is removed
/// afterwards.
class RadosTestCase: XCTestCase {
    static var pool: String { ProcessInfo.processInfo.environment["LOGIMG_RADOS_POOL"] ?? "logimg" }

    private var made: [String] = []

    /// Throws XCTSkip unless a cluster is configured.
    func requireCluster() throws {
        guard let conf = ProcessInfo.processInfo.environment["CEPH_CONF"], !conf.isEmpty else {
            throw XCTSkip("CEPH_CONF is not set: the RADOS tests need a cluster (bench/ceph-single-node.sh start DIR, then export what it prints)")
        }
    }

    /// A fresh `rados://POOL/NAME` that no image uses yet; removed in tearDown.
    func newImageURL(_ tag: String = #function) throws -> String {
        try requireCluster()
        let clean = tag.filter { $0.isLetter || $0.isNumber }
        let url = "rados://\(Self.pool)/test-\(clean)-\(UUID().uuidString.prefix(8).lowercased())"
        made.append(url)
        return url
    }

    /// A new connection to the image, as another process would make.
    func freshStore(_ url: String) throws -> RadosImageStore {
        try RadosImageStore(url: url)
    }

    /// Engine tuning for tests: no background checkpoint thread, so a handle
    /// dropped without `close()` is gone at once (and its lock with it).
    var tuning: LogImage.Tuning {
        var t = LogImage.Tuning()
        t.backgroundCheckpoints = false
        return t
    }

    override func tearDown() {
        for url in made {
            do { try RadosImageStore(url: url).destroy() } catch { print("cleanup of \(url) failed: \(error)") }
        }
        made = []
        super.tearDown()
    }

    /// Asserts that `body` throws a `LogImageError` with `code`; returns its message.
    @discardableResult
    func assertThrows<T>(_ code: LogImageError.Code, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) -> String {
        do {
            _ = try body()
            XCTFail("expected \(code), got success", file: file, line: line)
        } catch let e as LogImageError {
            XCTAssertEqual(e.code, code, "\(e)", file: file, line: line)
            return e.message
        } catch {
            XCTFail("expected LogImageError \(code), got \(error)", file: file, line: line)
        }
        return ""
    }
}
