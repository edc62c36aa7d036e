extension LogImage {
    /// Verifies the checksums of every sealed segment while the image is in
    /// use: the live counterpart of `check(at:repair:)`'s segment pass
    /// (Spec/format.md §5), for a served image whose lock this handle holds.
    ///
    /// Each sealed segment (every segment but the one being appended to) is
    /// read in full and every batch's header and block checksums are
    /// verified; damage is reported as `.corruption` findings naming the
    /// segment and the byte offset, as `check` does. Checkpoints and the
    /// active segment are not verified (the former are rewritten while
    /// serving, the latter is still growing). A segment the compactor deletes
    /// during the scrub is skipped. The state lock is taken only to learn
    /// which segments are sealed: guest I/O does not wait on a scrub.
    /// - Throws: `io` when a segment cannot be read at all. Damage is reported, not thrown.
    public func scrub() throws -> CheckReport {
        let sealedBelow = state.withLock { $0.tail.sealedBelow }
        var checker = Checker(store: store, manifest: manifest, report: CheckReport())
        for seg in try store.listSegments() where seg < sealedBelow {
            do {
                try checker.checkSegment(seg, isLast: false)
            } catch let e as LogImageError where e.code == .notFound {
                continue  // deleted by a compaction pass since it was listed
            }
        }
        return checker.report
    }

    /// The UUID of the image `name` in `scheme`'s store as 32 lowercase hex
    /// digits, read from its manifest without taking the image's lock, so it
    /// works while a server holds the image open (the control socket's path
    /// is derived from it: Spec/control.md §2).
    /// - Throws: `notFound`, `invalidArgument` (not an image), `corruption` (a damaged manifest), `io`.
    package static func uuidHex(of name: String, in scheme: any StoreScheme) throws -> String {
        let store = try scheme.existingStore(name)
        let manifest = try Manifest.decode(try store.readManifest(), path: joinPath(store.name, Format.manifestName))
        return manifest.uuid.map { b in b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
    }

    /// `uuidHex(of:in:)` for an image directory or a name of a registered
    /// store scheme (`rados://` once LogImageRados has registered it).
    /// - Throws: as `uuidHex(of:in:)`; `invalidArgument` for an unregistered URL scheme.
    public static func uuidHex(named name: String) throws -> String {
        try uuidHex(of: name, in: ImageStores.scheme(for: name))
    }
}

extension LogImage {
    /// Bytes of all segment files now (what the `log-bytes` write threshold
    /// watches): one listing and one size query per segment, no map walk.
    package func logBytes() throws -> UInt64 {
        var total: UInt64 = 0
        for seg in try store.listSegments() {
            do { total += try store.segmentSize(seg) } catch let e as LogImageError where e.code == .notFound { continue }
        }
        return total
    }

    /// The store's name for the image: its directory path, or its URL.
    package var storeName: String { store.name }
}
