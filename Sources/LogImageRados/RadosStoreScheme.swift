import LogImage

/// Images named `rados://POOL/NAME`, stored as RADOS objects
/// (`RadosImageStore`). A program that links this module makes such names
/// open by name by calling `register()` once; `LogImage`'s `radosURL:` calls
/// use it directly.
package struct RadosStoreScheme: StoreScheme {
    package init() {}

    /// Makes `rados://` names open through `ImageStores` (the `logimg` tool calls it at start).
    package static func register() { ImageStores.register(RadosStoreScheme()) }

    package var scheme: String { "rados" }

    /// A `cls_lock` lives on the manifest object, not in a process.
    package var locksOutliveHolders: Bool { true }

    /// Every object operation waits a network round trip.
    package var isRemote: Bool { true }

    /// Connects for `rados://POOL/NAME`; `notFound` unless its manifest object exists.
    package func existingStore(_ url: String) throws -> any ImageStore {
        try existing(RadosImageStore(url: url))
    }

    package func claimNewStore(_ url: String, options: LogImage.CreateOptions) throws -> any ImageStore {
        try claim(RadosImageStore(url: url), options: options)
    }

    /// Every batch write waits a network round trip, so writers do not wait
    /// for each other's (`Tuning.writersWaitForDrain`).
    package func tuning(_ tuning: LogImage.Tuning) -> LogImage.Tuning {
        var t = tuning
        t.writersWaitForDrain = false
        return t
    }

    /// Removes every object of the image's namespace.
    package func removeUnfinished(_ url: String) throws {
        try RadosImageStore(url: url).destroy()
    }

    /// See `LogImage.breakLock(radosURL:blocklistSeconds:)`.
    package func breakLock(_ url: String, blocklistSeconds: UInt32) throws -> [String] {
        let store = try existing(RadosImageStore(url: url))
        return try store.breakLock(blocklistSeconds: blocklistSeconds).map { "\($0.cookie) (\($0.client) at \($0.address))" }
    }

    /// `store`, if the image exists.
    func existing(_ store: RadosImageStore) throws -> RadosImageStore {
        guard try store.exists() else { throw LogImageError(.notFound, "\(store.name): no such image") }
        return store
    }

    /// The analogue of mkdir(2) (`RadosImageStore.claimForCreation`), after
    /// refusing a segment size above the OSDs' object size limit.
    func claim(_ store: RadosImageStore, options: LogImage.CreateOptions) throws -> RadosImageStore {
        if let limit = store.maxObjectSize(), UInt64(options.segmentSize) > limit {
            throw LogImageError(.invalidArgument, "segment size \(options.segmentSize) is above the OSDs' object size limit (osd_max_object_size \(limit))")
        }
        try store.claimForCreation()
        return store
    }
}
