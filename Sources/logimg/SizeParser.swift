import Foundation

/// Parses and prints byte sizes the way qemu-img does: binary units
/// (`512`, `4K`, `512M`, `20G`, `1T`, `1.5G`), with an optional trailing
/// `B` or `iB` (`4KiB`, `4KB`, `512B`).
enum SizeParser {
    struct Error: Swift.Error, CustomStringConvertible {
        var description: String
    }

    private static let units: [Character: UInt64] = [
        "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60,
    ]

    /// Bytes in `text`. Throws `SizeParser.Error` with a message for people.
    static func parse(_ text: String) throws -> UInt64 {
        let bad = Error(description: "invalid size '\(text)': expected a number with an optional binary unit K, M, G, T, P or E (e.g. 512, 4K, 512M, 20G, 1T)")
        var s = Substring(text.trimmingSpaces())
        guard !s.isEmpty else { throw bad }
        // Unit suffix: [KMGTPE] then optional "B" or "iB"; or a bare "B".
        if s.hasSuffix("iB") || s.hasSuffix("ib") {
            s = s.dropLast(2)
            guard let u = s.last, units[Character(u.uppercased())] != nil else { throw bad }
        } else if s.hasSuffix("B") || s.hasSuffix("b") {
            s = s.dropLast()
        }
        var multiplier: UInt64 = 1
        if let u = s.last, let m = units[Character(u.uppercased())] {
            multiplier = m
            s = s.dropLast()
        }
        // Number: digits, optionally one '.' and more digits.
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let intPart = parts.first, !intPart.isEmpty || parts.count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              !(parts.count == 2 && parts[0].isEmpty && parts[1].isEmpty) else { throw bad }
        let digits = parts.joined()
        let fractionDigits = parts.count == 2 ? parts[1].count : 0
        guard digits.count <= 19, let mantissa = UInt64(digits.isEmpty ? "0" : digits) else {
            throw Error(description: "size '\(text)' is too large")
        }
        var scale: UInt64 = 1
        for _ in 0..<fractionDigits { scale *= 10 }
        let product = mantissa.multipliedFullWidth(by: multiplier)
        // (high, low) / scale must be exact and fit in 64 bits.
        guard product.high < scale else {
            throw Error(description: "size '\(text)' is too large")
        }
        let (q, r) = scale.dividingFullWidth((high: product.high, low: product.low))
        guard r == 0 else {
            throw Error(description: "size '\(text)' is not a whole number of bytes")
        }
        return q
    }

    /// A virtual disk size: non-zero, a multiple of 512.
    static func parseDiskSize(_ text: String) throws -> UInt64 {
        let v = try parse(text)
        guard v > 0 else { throw Error(description: "size must be greater than 0") }
        guard v % 512 == 0 else {
            throw Error(description: "size \(text == String(v) ? text : "\(text) (\(v) bytes)") is not a multiple of 512 bytes")
        }
        return v
    }

    /// A segment size: a multiple of 4096 from 1 MiB to 2 GiB.
    static func parseSegmentSize(_ text: String) throws -> Int {
        let v = try parse(text)
        guard v % 4096 == 0, v >= 1 << 20, v <= 1 << 31 else {
            throw Error(description: "segment size \(text) must be a multiple of 4096 between 1M and 2G")
        }
        return Int(v)
    }

    /// `20 GiB`, `1.5 MiB`, `512 B` (binary units, up to two decimals, like qemu-img).
    static func human(_ bytes: UInt64) -> String {
        let names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var unit = 0
        var v = Double(bytes)
        while v >= 1024 && unit < names.count - 1 { v /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        var s = String(format: "%.2f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return "\(s) \(names[unit])"
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
