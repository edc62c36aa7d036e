extension LogImage {
    // Images by name: a directory path, or `SCHEME://…` of a registered store
    // (`ImageStores`). The directory calls (`open(at:)` …) and an optional
    // module's own calls (`open(radosURL:)` …) run the same steps through
    // their scheme: the `in:` functions below.

    /// Opens the image named `name`; see `open(at:mode:)`.
    /// - Throws: as `open(at:mode:)`; `invalidArgument` for a scheme this
    ///   program has no store for.
    package static func open(named name: String, mode: OpenMode, tuning: Tuning = Tuning()) throws -> LogImage {
        try open(name, in: ImageStores.scheme(for: name), mode: mode, tuning: tuning)
    }

    /// Creates the image named `name` and returns it open read-write; see `create(at:options:)`.
    package static func create(named name: String, options: CreateOptions, tuning: Tuning = Tuning()) throws -> LogImage {
        try create(name, in: ImageStores.scheme(for: name), options: options, tuning: tuning)
    }

    /// Verifies the image named `name`; see `check(at:repair:)`.
    package static func check(named name: String, repair: Bool) throws -> CheckReport {
        try check(name, in: ImageStores.scheme(for: name), repair: repair)
    }

    /// Deletes the image named `name` under its writer lock; see `remove(at:)`.
    package static func remove(named name: String) throws {
        try remove(name, in: ImageStores.scheme(for: name))
    }

    /// `openForSnapshotCommands(at:)` for the image named `name`.
    package static func openForSnapshotCommands(named name: String) throws -> ImageMetadata {
        try openForSnapshotCommands(name, in: ImageStores.scheme(for: name))
    }

    /// Fences the holders of the writer lock of the image named `name` and
    /// breaks it (`StoreScheme.breakLock`); returns the holders.
    package static func breakLock(named name: String, blocklistSeconds: UInt32 = 0) throws -> [String] {
        try ImageStores.scheme(for: name).breakLock(name, blocklistSeconds: blocklistSeconds)
    }

    /// Deletes what there is of an image this process created and failed to fill.
    package static func removeUnfinished(named name: String) throws {
        try ImageStores.scheme(for: name).removeUnfinished(name)
    }

    /// `open` of the image `name` in `scheme`'s store.
    /// With `forceShare`, a read-only open takes no lock (see `open(at:mode:forceShare:)`).
    package static func open(_ name: String, in scheme: any StoreScheme, mode: OpenMode, tuning: Tuning = Tuning(),
                             forceShare: Bool = false) throws -> LogImage {
        try open(store: scheme.existingStore(name), mode: mode, tuning: scheme.tuning(tuning), loadMaps: true, forceShare: forceShare)
    }

    /// `openForSnapshotCommands` of the image `name` in `scheme`'s store (see `ImageMetadata`).
    package static func openForSnapshotCommands(_ name: String, in scheme: any StoreScheme, tuning: Tuning = Tuning()) throws -> ImageMetadata {
        try ImageMetadata.open(store: scheme.existingStore(name), tuning: scheme.tuning(tuning))
    }

    /// `create` of the image `name` in `scheme`'s store: options are checked
    /// before the name is claimed, so bad options leave nothing behind.
    package static func create(_ name: String, in scheme: any StoreScheme, options: CreateOptions, uuid: [UInt8]? = nil,
                               creationTime: UInt64? = nil, tuning: Tuning = Tuning()) throws -> LogImage {
        try validate(options)
        return try create(store: scheme.claimNewStore(name, options: options), options: options, uuid: uuid,
                          creationTime: creationTime, tuning: scheme.tuning(tuning))
    }

    /// `check` of the image `name` in `scheme`'s store.
    /// With `forceShare` the check takes no lock (see `check(at:repair:forceShare:)`).
    package static func check(_ name: String, in scheme: any StoreScheme, repair: Bool, forceShare: Bool = false) throws -> CheckReport {
        try check(store: scheme.existingStore(name), repair: repair, tuning: scheme.tuning(Tuning()), forceShare: forceShare)
    }

    /// `remove` of the image `name` in `scheme`'s store: its objects under the
    /// writer lock (`remove(store:)`), then what the store keeps besides.
    package static func remove(_ name: String, in scheme: any StoreScheme) throws {
        try remove(store: scheme.existingStore(name))
        try scheme.finishRemoval(name)
    }
}
