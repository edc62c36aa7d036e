/// The rules for snapshot names (Spec §5.4), shared by writers and by replay.
enum SnapshotName {
    /// Why `name` is not a valid snapshot name, or nil when it is: 1 to 255
    /// bytes of UTF-8, no C0 or C1 control characters, no DEL and no `/`.
    static func problem(_ name: String) -> String? {
        let n = name.utf8.count
        if n < 1 || n > 255 { return "snapshot name must be 1 to 255 bytes, got \(n)" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7f && $0.value <= 0x9f) || $0 == "/" }) {
            return "snapshot name '\(name)' contains a control character or '/'"
        }
        return nil
    }
}
