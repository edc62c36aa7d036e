import Foundation
import LogImage
import LogImageTestSupport
import XCTest

/// `logimg compact` and the space figures of `logimg info`.
final class CompactCLITests: XCTestCase, CLITestCase {
    var tmp: TempDirectory!
    override func setUp() { tmp = TempDirectory("logimg-compactcli") }
    override func tearDown() { tmp = nil }

    func testCompactReclaimsGarbageAndInfoShowsIt() throws {
        let path = tmp.file("g.limg")
        var opts = LogImage.CreateOptions(virtualSize: 8 << 20)
        opts.segmentSize = 1 << 20
        var rng = SeededRandom(seed: 4)
        var expect: [UInt8] = []
        do {
            let img = try LogImage.create(at: path, options: opts)
            for _ in 0..<4 { for b in 0..<128 { try img.write(rng.bytes(65536), at: UInt64(b) * 65536) } }
            try img.flush()
            expect = try img.read(at: 0, count: 8 << 20)
            try img.close()
        }
        let before = try logimg("info", "--output", "json", path)
        XCTAssertEqual(before.status, 0, before.stderr)
        let b = try JSONSerialization.jsonObject(with: Data(before.stdout.utf8)) as! [String: Any]
        let garbage0 = (b["garbageBytes"] as! NSNumber).uint64Value
        XCTAssertGreaterThan(garbage0, 16 << 20)
        XCTAssertGreaterThan((b["writeAmplification"] as! NSNumber).doubleValue, 1.0)
        let human = try logimg("info", path)
        XCTAssertTrue(human.stdout.contains("segment utilisation"), human.stdout)

        let r = try logimg("compact", path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("segments deleted"), r.stdout)
        let after = try JSONSerialization.jsonObject(with: Data(try logimg("info", "--output", "json", path).stdout.utf8)) as! [String: Any]
        XCTAssertLessThan((after["garbageBytes"] as! NSNumber).uint64Value, garbage0 / 4)
        XCTAssertLessThan((after["logBytes"] as! NSNumber).uint64Value, (b["logBytes"] as! NSNumber).uint64Value)
        XCTAssertEqual(try logimg("check", path).status, 0)
        let img = try LogImage.open(at: path, mode: .readOnly)
        XCTAssertTrue(try img.read(at: 0, count: 8 << 20) == expect, "compact changed the contents")
    }

    func testCompactBadArguments() throws {
        assertOneLineError(try logimg("compact", tmp.file("missing.limg")), containing: "missing.limg")
        let path = tmp.file("a.limg")
        XCTAssertEqual(try logimg("create", path, "--size", "1M").status, 0)
        assertOneLineError(try logimg("compact", path, "--until-garbage", "150"), containing: "until-garbage")
    }
}
