/// Writing the log tail's closed batches to their segments, under the I/O
/// lock, and rolling over to new segments (Spec §5; Spec/consistency.md §4.3).
extension LogImage {
    /// Batches left pending by a failed write (a full disk) are retried before
    /// anything new is accepted, so memory stays bounded while the disk is full.
    /// With `writersWaitForDrain` false, only once `maxPendingBytes` are pending.
    func drainIfBacklogged() throws {
        let pendingBytes = state.withLock { $0.tail.pendingBytes }
        if pendingBytes > 0 && (tuning.writersWaitForDrain || pendingBytes >= tuning.maxPendingBytes) { try drain() }
    }

    /// After a write closed a batch: `drain()`, or with `writersWaitForDrain`
    /// false, drains only if no other thread is draining. A thread that finds
    /// the I/O lock held leaves its batch to the holder. A holder in this
    /// function checks for pending batches again after releasing the lock
    /// (the batch was queued before the failed try, so before that release);
    /// a holder in `drain()` (a flush) may return just before the batch was
    /// queued, and then the next write, flush or checkpoint writes it. Either
    /// way nothing is lost: only a flush promises durability, and it drains.
    func drainAfterWrite() throws {
        if tuning.writersWaitForDrain { return try drain() }
        while state.withLock({ !$0.tail.pending.isEmpty }) {
            guard try io.withLockIfAvailable({ try drainLocked(&$0) }) != nil else { return }
        }
    }

    /// Writes every pending batch, in log order, creating segments as needed.
    /// Where the segment file takes several writes at once (`.concurrentWrites`:
    /// RADOS), the pending batches of one segment go out together.
    func drain() throws {
        try io.withLock { try drainLocked(&$0) }
    }

    /// `drain()` with the I/O lock held.
    private func drainLocked(_ io: inout IOState) throws {
        while true {
            let run = state.withLock { $0.tail.nextRun() }
            guard let first = run.first, let last = run.last else { return }
            if first.segment != io.segment {
                try roll(&io, to: first.segment)
            }
            var done = 1
            do {
                if run.count > 1, io.handle.abilities.contains(.concurrentWrites) {
                    try io.handle.write(many: run.map { PositionedWrite($0.bytes, at: Int64($0.offset)) })
                    done = run.count
                } else {
                    try io.handle.write(first.bytes, at: Int64(first.offset))
                }
            } catch let e as LogImageError where e.code == .noSpace {
                throw e  // retryable: the batches stay pending, and are rewritten whole
            } catch {
                throw fail(error)
            }
            let end = done == 1 ? first : last
            state.withLock { $0.tail.wrote(done, through: end) }
            let written = Int64(end.offset) + Int64(end.bytes.count)
            if tuning.writebackBytes > 0, written - io.writebackFrom >= tuning.writebackBytes {
                io.handle.startWriteback(at: io.writebackFrom, length: written - io.writebackFrom)
                io.writebackFrom = written
            }
        }
    }

    /// Seals the current segment (durable) and creates `next` (Spec §5; Spec/consistency.md §4.3).
    private func roll(_ io: inout IOState, to next: UInt64) throws {
        do { try io.handle.sync() } catch { throw fail(error) }
        state.withLock { $0.tail.synced() }
        let header = SegmentHeader(uuid: manifest.uuid, segmentNumber: next,
                                   creationSeq: state.withLock { $0.tail.nextSeq }).encode()
        let handle = try store.createSegment(next, header: header)
        state.withLock { $0.tail.rolled(to: next, handle: handle) }
        io.segment = next
        io.handle = handle
        io.writebackFrom = 0
    }
}
