import Dispatch

extension LogImage {
    /// Writes a checkpoint now (Spec §6): everything before the current end of
    /// the log is made durable, then the extent map as of that point is stored
    /// atomically, older checkpoints beyond the newest two are deleted, and a
    /// CHECKPOINT marker is appended to the log.
    /// - Throws: `io`, `noSpace`, `readOnly`, `closed`.
    public func checkpoint() throws {
        try checkpoint(forClose: false)
    }

    /// `forClose`: the checkpoint `close()` writes; every other one is refused once closing began.
    func checkpoint(forClose: Bool) throws {
        if mode == .readOnly { throw LogImageError(.readOnly, "\(store.name): image is open read-only") }
        try checkpointMutex.withLock { lastGeneration in
            let snap = try state.withLock { s -> (ImageIndex, LogPosition, UInt64, UInt64, LifetimeStats) in
                try checkWritable(s)
                if s.closing && !forClose { throw LogImageError(.closed, "\(store.name): image is closing") }
                s.tail.closeStaging()
                s.tail.sinceCheckpoint = 0
                return (s.index.mapsCopy, s.tail.appendEnd, s.tail.nextSeq, s.checkpointGeneration, s.tail.stats)
            }
            // Durability precondition (Spec §6): every record the map points at is durable.
            try flush()
            let generation = max(snap.3, lastGeneration) + 1
            let epochs = snap.0.epochs
            let c = Checkpoint(generation: generation, coveredSegment: snap.1.segment, coveredOffset: snap.1.offset,
                               nextSeq: snap.2, uuid: manifest.uuid, headEpoch: epochs.head, map: snap.0.head,
                               epochs: epochs.isEmpty ? [] : epochs.all, epochMaps: epochs.maps, stats: snap.4)
            try store.writeCheckpoint(generation, c.encode())
            lastGeneration = generation
            state.withLock { $0.checkpointGeneration = generation }
            counters.checkpointWritten()
            for old in try store.listCheckpoints() where old + UInt64(Format.Checkpoint.retained) <= generation {
                try store.deleteCheckpoint(old)
            }
            let marker = PreparedRecord(type: .checkpoint, lba: 0, sectors: 0, aux: generation)
            let needDrain = try state.withLock { s -> Bool in
                try checkWritable(s)
                append(marker, to: &s)
                return !s.tail.pending.isEmpty
            }
            if needDrain { try drain() }
        }
    }

    /// Runs a checkpoint when the configured amount of log has been appended since the last.
    func checkpointIfDue() throws {
        let due = state.withLock { s -> Bool in
            guard !s.checkpointRunning, !s.closing, s.tail.sinceCheckpoint >= manifest.effectiveCheckpointIntervalBytes else { return false }
            s.checkpointRunning = true
            return true
        }
        guard due else { return }
        if tuning.backgroundCheckpoints {
            // Off the writer's path: the write that crossed the interval does not wait for it.
            DispatchQueue.global(qos: .utility).async { [self] in
                defer { state.withLock { $0.checkpointRunning = false } }
                try? checkpoint()  // a failure is retried at the next interval; close() checkpoints again
            }
            return
        }
        defer { state.withLock { $0.checkpointRunning = false } }
        try checkpoint()
    }

    /// Flushes, writes a checkpoint and releases the handle. Later calls throw `closed`.
    ///
    /// A read-only handle just stops. After `close()` the lock is released when
    /// the object is released.
    /// - Throws: `io`, `noSpace` (the image is still consistent; reopening recovers).
    public func close() throws {
        try close(checkpointing: true)
    }

    /// `close()`; `checkpointing` false only for a handle without its maps
    /// (`ImageMetadata`), whose checkpoint would lose them: it just flushes.
    func close(checkpointing: Bool) throws {
        let already = state.withLock { s -> Bool in
            if s.closed { return true }
            s.closing = true  // no background checkpoint starts from now on
            return false
        }
        if already { return }
        if mode == .readWrite {
            // Waits for a background checkpoint in progress (the same mutex), then writes the last one.
            if checkpointing { try checkpoint(forClose: true) }
            try flush()
        }
        state.withLock { s in
            s.closed = true
            s.tail.close()
            s.lock = nil
        }
    }
}
