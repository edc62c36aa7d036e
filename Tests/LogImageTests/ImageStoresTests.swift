import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// `ImageStores`: which store an image name means. A plain path is an image
/// directory; `SCHEME://…` is the store registered for SCHEME, and a scheme
/// nothing registered (here `rados`: this test target does not link
/// LogImageRados) gives one clear `invalidArgument`.
final class ImageStoresTests: XCTestCase {
    /// A scheme the tests register: it knows one image, kept in a directory.
    struct TestScheme: StoreScheme {
        let directory: String
        var scheme: String { "limgtest" }
        func existingStore(_ name: String) throws -> any ImageStore {
            guard name == "limgtest://disk" else { throw LogImageError(.notFound, "\(name): no such image") }
            return try DirectoryStoreScheme(fileSystem: PosixFileSystem()).existingStore(directory)
        }
        func claimNewStore(_ name: String, options: LogImage.CreateOptions) throws -> any ImageStore {
            try DirectoryStoreScheme(fileSystem: PosixFileSystem()).claimNewStore(directory, options: options)
        }
        func removeUnfinished(_ name: String) throws {}
    }

    func testURLSchemes() {
        for (name, scheme) in [("rados://pool/disk", "rados"), ("s3://b/d", "s3"), ("a+b.c-9://x", "a+b.c-9"), ("rados://", "rados")] {
            XCTAssertEqual(ImageStores.urlScheme(of: name), scheme, name)
        }
        for path in ["disk.limg", "/var/lib/disk.limg", "./rados://p/n", "dir/rados://p/n", "9p://x", "://x", "a:b", "rados:/p/n", "my disk://x"] {
            XCTAssertNil(ImageStores.urlScheme(of: path), path)
        }
    }

    func testPlainPathIsAnImageDirectory() throws {
        let dir = TempDirectory()
        let path = dir.file("a.limg")
        let scheme = try ImageStores.scheme(for: path)
        XCTAssertTrue(scheme is DirectoryStoreScheme)
        XCTAssertEqual(scheme.scheme, "")
        XCTAssertFalse(scheme.locksOutliveHolders)
        XCTAssertFalse(scheme.isRemote)

        try LogImage.create(named: path, options: .init(virtualSize: 1 << 20)).close()
        let store = try scheme.existingStore(path)
        XCTAssertTrue(store is DirectoryImageStore)
        XCTAssertEqual(store.name, path)
        XCTAssertEqual(store.segmentAbilities, [], "local segments: one write at a time, no callback reads")
        XCTAssertEqual(try store.openSegment(1, writable: false).abilities, [])
        XCTAssertTrue(try LogImage.check(named: path, repair: false).isConsistent)
        XCTAssertThrowsError(try LogImage.breakLock(named: path)) { XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument) }
        try LogImage.remove(named: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try ImageStores.scheme(for: path).existingStore(path)) { XCTAssertEqual(($0 as! LogImageError).code, .notFound) }
    }

    /// Without RADOS registered (as in a program that does not link
    /// LogImageRados), every name-based call refuses `rados://` names, well
    /// formed or not, with the one message, and touches no file. (One test
    /// binary holds every test target, so a RADOS test may have registered it.)
    func testUnregisteredAndUnknownSchemes() throws {
        let saved = ImageStores.unregister("rados")
        defer { if let saved { ImageStores.register(saved) } }
        XCTAssertFalse(ImageStores.isRegistered("rados"))
        for name in ["rados://pool/disk", "rados://", "rados://pool", "rados:///disk", "rados://pool/"] {
            for call in [{ _ = try ImageStores.scheme(for: name) },
                         { _ = try LogImage.open(named: name, mode: .readOnly) },
                         { _ = try LogImage.create(named: name, options: .init(virtualSize: 1 << 20)) },
                         { _ = try LogImage.check(named: name, repair: false) },
                         { try LogImage.remove(named: name) },
                         { _ = try LogImage.breakLock(named: name) }] as [() throws -> Void] {
                XCTAssertThrowsError(try call()) {
                    XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument)
                    XCTAssertEqual(($0 as! LogImageError).message,
                                   "\(name): this build has no support for rados:// images (built without librados-dev: install it and rebuild)")
                }
            }
        }
        XCTAssertThrowsError(try ImageStores.scheme(for: "s3://bucket/disk")) {
            XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument)
            XCTAssertEqual(($0 as! LogImageError).message, "s3://bucket/disk: this build has no support for s3:// images")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "rados:"), "no directory named after the URL")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "s3:"))
    }

    /// A registered scheme's names open through it; the directory calls
    /// refuse them instead of taking them for paths, and still take a URL of a
    /// scheme nobody registered for a path, as they always did.
    func testRegisteredScheme() throws {
        let dir = TempDirectory()
        ImageStores.register(TestScheme(directory: dir.file("t.limg")))
        defer { ImageStores.unregister("limgtest") }
        XCTAssertTrue(ImageStores.isRegistered("limgtest"))
        XCTAssertTrue(try ImageStores.scheme(for: "limgtest://disk") is TestScheme)

        let img = try LogImage.create(named: "limgtest://disk", options: .init(virtualSize: 1 << 20))
        try img.write([UInt8](repeating: 7, count: 4096), at: 0)
        try img.close()
        XCTAssertEqual(try LogImage.open(named: "limgtest://disk", mode: .readOnly).read(at: 0, count: 4096), [UInt8](repeating: 7, count: 4096))
        XCTAssertThrowsError(try LogImage.open(named: "limgtest://other", mode: .readOnly)) { XCTAssertEqual(($0 as! LogImageError).code, .notFound) }
        XCTAssertThrowsError(try LogImage.breakLock(named: "limgtest://disk")) { XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument) }

        XCTAssertThrowsError(try LogImage.open(at: "limgtest://disk", mode: .readOnly)) {
            XCTAssertEqual(($0 as! LogImageError).code, .invalidArgument)
            XCTAssertTrue(($0 as! LogImageError).message.contains("not directories"), "\($0)")
        }
        XCTAssertThrowsError(try LogImage.open(at: dir.file("unregistered://disk"), mode: .readOnly)) {
            XCTAssertEqual(($0 as! LogImageError).code, .notFound)
        }
        XCTAssertThrowsError(try LogImage.open(at: "unregistered://disk", mode: .readOnly)) {
            XCTAssertEqual(($0 as! LogImageError).code, .notFound, "a path, as before")
        }
    }
}
