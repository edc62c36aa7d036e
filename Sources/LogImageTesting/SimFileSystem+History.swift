// The history side of `SimFileSystem`: the operation log, acknowledgement
// marks for relating crash points to what the client was told, resetting the
// history, and read-only views of the current state for assertions.

import LogImage

extension SimFileSystem {
    /// Number of operations in the log (mutating calls that succeeded).
    package var operationCount: Int { state.withLock { $0.log.count } }

    /// The operation log, for reports and for choosing crash points.
    package var operations: [SimOperation] {
        state.withLock { s in s.log.enumerated().map { SimOperation(index: $0.offset, op: $0.element) } }
    }

    /// Records that `label` (e.g. "flush 3 done") was acknowledged to the client
    /// after the operations logged so far. Not an operation; changes no state.
    package func markAcknowledged(_ label: String) {
        state.withLock { s in s.acknowledgements.append(SimAcknowledgement(afterOperations: s.log.count, label: label)) }
    }

    /// Every acknowledgement in the order it was recorded.
    package var acknowledgements: [SimAcknowledgement] { state.withLock { $0.acknowledgements } }

    /// Labels acknowledged no later than a crash after the first `k` operations.
    package func acknowledged(atOperation k: Int) -> [String] {
        acknowledgements.filter { $0.afterOperations <= k }.map(\.label)
    }

    /// Treats the current state as durable and starts a new, empty history:
    /// crash states then replay from here. Faults and locks are kept.
    package func resetHistory() {
        state.withLock { s in
            s.initial = s.tree
            s.log = []
            s.acknowledgements = []
            s.createdBy = [:]
            s.linkedBy = [:]
        }
    }

    /// Every path reachable from "/" ("/d", "/d/f") and what it holds, as reads see it now.
    package func snapshot() -> [String: SimEntry] { state.withLock { $0.tree.dump() } }

    /// The current contents of a file, or nil if `path` is not a file. Not logged.
    package func contents(of path: String) -> [UInt8]? {
        state.withLock { s in
            guard let inode = s.tree.lookup(path), s.tree.directories[inode] == nil else { return nil }
            return s.tree.files[inode] ?? []
        }
    }

    /// The operation log with acknowledgements interleaved, one per line.
    package var logDescription: String {
        let (ops, acks) = state.withLock { s in
            (s.log.enumerated().map { SimOperation(index: $0.offset, op: $0.element) }, s.acknowledgements)
        }
        var lines: [String] = []
        var a = 0
        for i in 0...ops.count {
            while a < acks.count, acks[a].afterOperations == i { lines.append("   ack \(acks[a].label)"); a += 1 }
            if i < ops.count { lines.append(ops[i].description) }
        }
        return lines.joined(separator: "\n")
    }
}
