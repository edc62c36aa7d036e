import Foundation

/// A fresh directory under the system temp dir, removed on `deinit`.
public final class TempDirectory: @unchecked Sendable {
    public let path: String
    public init(_ prefix: String = "logimg-test") {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/" + prefix + "-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { path + "/" + name }
}
