import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// `logimg remove`: deletes an image under its writer lock.
final class RemoveCLITests: XCTestCase, CLITestCase {
    var tmp: TempDirectory!

    override func setUp() {
        tmp = TempDirectory("logimg-remove")
    }

    func testRemoveDeletesTheImageAndRefusesWhatIsNotOne() throws {
        let img = tmp.file("disk.limg")
        try logimg("create", img, "--size", "16M")
        try logimg("snapshot", "create", img, "base")
        var r = try logimg("remove", img)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "Removed '\(img)'.\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: img), "the directory is gone")

        assertOneLineError(try logimg("remove", img), containing: "no such image")
        let notImage = tmp.file("plain")
        try FileManager.default.createDirectory(atPath: notImage, withIntermediateDirectories: false)
        try "keep".write(toFile: notImage + "/file", atomically: true, encoding: .utf8)
        assertOneLineError(try logimg("remove", notImage), containing: "not a logimg image")
        XCTAssertTrue(FileManager.default.fileExists(atPath: notImage + "/file"), "nothing of a non-image is touched")
        assertOneLineError(try logimg("remove", img, "--break-lock"), containing: "rados:// images only")

        // Files that are not the image's stay, with the directory, and the error says so.
        let mixed = tmp.file("mixed.limg")
        try logimg("create", mixed, "--size", "16M")
        try "notes".write(toFile: mixed + "/notes.txt", atomically: true, encoding: .utf8)
        r = try logimg("remove", mixed)
        assertOneLineError(r, containing: "holds other files")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mixed), ["notes.txt"])
    }

    func testRemoveRefusesAnImageInUse() throws {
        let img = tmp.file("busy.limg")
        try logimg("create", img, "--size", "16M")
        let open = try LogImage.open(at: img, mode: .readOnly)   // even a reader blocks removal
        assertOneLineError(try logimg("remove", img), containing: "in use")
        XCTAssertTrue(FileManager.default.fileExists(atPath: img + "/manifest"), "nothing was deleted")
        try open.close()
        XCTAssertEqual(try logimg("remove", img).status, 0)
    }
}
