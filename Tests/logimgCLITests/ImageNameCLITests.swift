import Foundation
import LogImageTestSupport
import XCTest

/// Image names on the command line: a path is an image directory,
/// `rados://POOL/NAME` a RADOS image where this logimg was built with
/// LogImageRados, and any other `SCHEME://` name one clear error.
final class ImageNameCLITests: XCTestCase, CLITestCase {
    var tmp: TempDirectory!

    override func setUp() {
        tmp = TempDirectory("logimg-names")
    }

    /// Whether this logimg was built with LogImageRados (Package.swift's test).
    var builtWithRados: Bool { FileManager.default.fileExists(atPath: "/usr/include/rados/librados.h") }

    func testUnknownSchemeIsOneClearError() throws {
        for args in [["info", "s3://bucket/disk"], ["create", "s3://bucket/disk", "--size", "16M"], ["check", "s3://bucket/disk"],
                     ["remove", "s3://bucket/disk"], ["snapshot", "create", "s3://bucket/disk", "base"]] {
            assertOneLineError(try logimg(args), containing: "s3://bucket/disk: this build has no support for s3:// images")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("s3:")), "no directory named after the URL")
    }

    /// A malformed `rados://` name is refused before any cluster is asked
    /// (or, without RADOS support, with the build's error).
    func testMalformedRadosNames() throws {
        for name in ["rados://", "rados://pool", "rados://pool/", "rados:///disk"] {
            let expected = builtWithRados
                ? "\(name): an image name is rados://POOL/NAME, with POOL and NAME not empty"
                : "\(name): this build has no support for rados:// images (built without librados-dev: install it and rebuild)"
            assertOneLineError(try logimg("info", name), containing: expected)
            assertOneLineError(try logimg("create", name, "--size", "16M"), containing: expected)
        }
    }

    /// A path that merely contains `://` further on is still a path.
    func testPathsAreDirectories() throws {
        let img = tmp.file("plain.limg")
        try logimg("create", img, "--size", "16M")
        XCTAssertEqual(try logimg("check", img).status, 0)
        assertOneLineError(try logimg("info", tmp.file("x://y")), containing: "no such image")
    }
}
