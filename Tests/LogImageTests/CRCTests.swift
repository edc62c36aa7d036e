import XCTest
@testable import LogImage

final class CRCTests: XCTestCase {
    func testKnownVector() {
        // RFC 3720 B.4: CRC32C("123456789") = 0xE3069283.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // 32 bytes of zeros: 0x8A9136AA (RFC 3720 B.4).
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    }
}
