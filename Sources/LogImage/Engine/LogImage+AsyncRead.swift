import Dispatch

extension LogImage {
    /// Whether `startRead(into:at:completion:)` can ever start a read here.
    package var readsByCallback: Bool { store.segmentAbilities.contains(.callbackReads) }

    /// Starts a read that completes by callback, when the store can do that
    /// (RADOS) and the range is the common case of `read(into:at:)`'s fast path:
    /// one 4 KiB-aligned data extent of at most 32 KiB already in its segment.
    /// Then no thread waits for the round trip. Returns false, having done
    /// nothing, otherwise: the caller reads with `read(into:at:)`.
    ///
    /// `completion` runs once, on a thread of the store's (or, if the data
    /// was compacted away meanwhile, a dispatch queue's), after the buffer
    /// holds the checked data, or with the error `read(into:at:)` would throw.
    /// The caller keeps `buffer` valid and untouched until then.
    package func startRead(into buffer: ReadBuffer, at offset: UInt64,
                           completion: @escaping @Sendable ((any Error)?) -> Void) -> Bool {
        let count = UInt64(buffer.bytes.count)
        guard store.segmentAbilities.contains(.callbackReads), offset % 4096 == 0, count % 4096 == 0, count > 0,
              let (handle, segment, at, crcs) = fastPiece(lba: offset / 512, sectors: count / 512),
              handle.abilities.contains(.callbackReads) else { return false }
        do {
            try handle.startRead(into: buffer, at: Int64(at)) { result in
                switch result {
                case .success(let n):
                    do {
                        try self.verifyFast(buffer.bytes, count: n, segment: segment, at: at, crcs: crcs)
                        self.counters.read(count)
                        completion(nil)
                    } catch {
                        completion(error)
                    }
                case .failure(let e) where e.code == .notFound:
                    // Compacted away since the lookup: the blocking path plans again, off the store's thread.
                    DispatchQueue.global().async {
                        do { try self.read(into: buffer.bytes, at: offset); completion(nil) } catch { completion(error) }
                    }
                case .failure(let e):
                    completion(e)
                }
            }
        } catch {
            completion(error)
        }
        return true
    }
}
