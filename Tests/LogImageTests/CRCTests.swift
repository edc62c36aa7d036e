import CLogImageShims
import XCTest
import LogImageTestSupport
@testable import LogImage

final class CRCTests: XCTestCase {
    func testKnownVector() {
        // RFC 3720 B.4: CRC32C("123456789") = 0xE3069283.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // 32 bytes of zeros: 0x8A9136AA (RFC 3720 B.4).
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    }

    /// The three-lane hardware path must equal the table path for every
    /// length, alignment and starting value, including lengths around the
    /// 4080-byte lane boundary.
    func testHardwareMatchesTable() {
        var rng = SeededRandom(seed: 99)
        let data = rng.bytes(20000)
        data.withUnsafeBytes { b in
            for n in Array(0..<64) + [4079, 4080, 4081, 4096, 8160, 8161, 12240, 16384, 19990] {
                for off in 0..<3 {
                    let seed = UInt32(truncatingIfNeeded: rng.next())
                    let p = b.baseAddress! + off
                    XCTAssertEqual(limg_crc32c(seed, p, n), limg_crc32c_software(seed, p, n), "n \(n) off \(off)")
                }
            }
        }
    }

    /// The payload CRC joined from block CRCs equals the CRC of the payload.
    func testJoinedBlockCRCs() {
        var rng = SeededRandom(seed: 17)
        for blocks in [1, 2, 3, 8, 64] {
            let data = rng.bytes(blocks * 4096)
            let sums = data.withUnsafeBytes { payloadChecksums($0) }
            XCTAssertEqual(sums.payload, CRC32C.checksum(data), "\(blocks) blocks")
            XCTAssertEqual(sums.blocks.count, blocks)
        }
        let odd = rng.bytes(4096 + 512)
        XCTAssertEqual(odd.withUnsafeBytes { payloadChecksums($0) }.payload, CRC32C.checksum(odd))
    }

    func testChainingAndZeroExtend() {
        var rng = SeededRandom(seed: 1)
        let a = rng.bytes(5000), z = [UInt8](repeating: 0, count: 3000)
        let whole = CRC32C.checksum(a + z)
        let part = a.withUnsafeBytes { CRC32C.checksum($0) }
        XCTAssertEqual(CRC32C.zeroExtend(part, count: 3000), whole)
    }
}
