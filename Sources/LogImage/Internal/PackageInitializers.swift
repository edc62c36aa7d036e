// Initializers for the repository's test-only libraries (Sources/LogImageTesting):
// a struct's memberwise initializer stays internal even when the struct is
// `package`, so these forward to it.

extension Manifest {
    /// A manifest with these fields and the defaults for the rest.
    package init(incompatible: UInt64, uuid: [UInt8], virtualSize: UInt64, segmentSize: UInt32, defaultCodec: Format.Codec,
                 checkpointIntervalMiB: UInt32, creationTime: UInt64) {
        self.init(incompatible: incompatible, compatible: 0, uuid: uuid, virtualSize: virtualSize, segmentSize: segmentSize,
                  defaultCodec: defaultCodec, checkpointIntervalMiB: checkpointIntervalMiB, creationTime: creationTime)
    }
}

extension Recovery {
    /// Recovery of the image in `store` (Spec §8), loading the maps.
    package init(store: any ImageStore, manifest: Manifest, writable: Bool) {
        self.init(store: store, manifest: manifest, writable: writable, loadMaps: true)
    }
}
