// A simulated file system for crash-consistency tests (ALICE / SQLite test6.c
// style). It keeps the volatile state that reads see, records every mutating
// call in an ordered operation log, and can rebuild from that log the disk a
// crash would leave behind (SimFileSystem+CrashStates.swift, +CrashPlan.swift).
// It also injects EIO/ENOSPC faults and bounds file sizes (SimFileSystem+Faults.swift).
//
// Durability model:
// - `sync()`/`fullSync()` on a handle make the earlier writes and truncates of
//   that inode durable, never its directory entry;
// - `syncDirectory(d)` makes the earlier create/mkdir/rename/unlink entries of
//   directory `d` durable; a rename between two directories is durable in each
//   directory once that directory is synced.
// Everything else is pending until a crash state decides its fate.

import LogImage


/// An in-memory `FileSystem` that logs operations and produces crash states.
/// Thread-safe; every instance is independent (crash states are new instances
/// with a fresh log).
package final class SimFileSystem: FileSystem {
    struct EntryKey: Hashable {
        var dir: Int
        var name: String
    }

    struct Inner {
        /// What reads see now.
        var tree = SimTree()
        /// The state the operation log starts from (at init or `resetHistory`).
        var initial = SimTree()
        var nextInode = 1
        var log: [SimLoggedOp] = []
        var acknowledgements: [SimAcknowledgement] = []
        /// Dependency tracking: which op created an inode / made an entry.
        var createdBy: [Int: Int] = [:]
        var linkedBy: [EntryKey: Int] = [:]
        /// Directory locks by inode: shared holders, or one exclusive holder.
        var locks: [Int: (shared: Int, exclusive: Bool)] = [:]
        var fault: Fault?
        var mutatingCalls = 0
        var faultsTriggered = 0
        var failReads = false
        /// Writes and truncates that would make a file larger fail with ENOSPC.
        var fileSizeLimit = Int.max

        mutating func allocateInode() -> Int {
            defer { nextInode += 1 }
            return nextInode
        }

        /// Applies `effect` to the volatile tree and appends it to the log.
        mutating func record(_ effect: SimEffect, path: String, target: String? = nil) {
            let index = log.count
            var deps: [Int] = []
            switch effect {
            case let .write(inode, _, _), let .truncate(inode, _):
                if let c = createdBy[inode] { deps.append(c) }
            case let .create(dir, name, inode), let .mkdir(dir, name, inode):
                if let c = createdBy[dir] { deps.append(c) }
                createdBy[inode] = index
                linkedBy[EntryKey(dir: dir, name: name)] = index
            case let .rename(fromDir, fromName, toDir, toName, _):
                if let l = linkedBy[EntryKey(dir: fromDir, name: fromName)] { deps.append(l) }
                if let c = createdBy[toDir] { deps.append(c) }
                linkedBy[EntryKey(dir: fromDir, name: fromName)] = nil
                linkedBy[EntryKey(dir: toDir, name: toName)] = index
            case let .unlink(dir, name, _):
                if let l = linkedBy[EntryKey(dir: dir, name: name)] { deps.append(l) }
                linkedBy[EntryKey(dir: dir, name: name)] = nil
            case .fileSync, .dirSync:
                break
            }
            tree.apply(effect)
            log.append(SimLoggedOp(effect: effect, path: path, target: target, dependsOn: deps))
        }

        /// The directory inode and name for creating `comps`, or `.notFound`.
        func parent(_ comps: [String], _ path: String, _ what: String) throws -> (dir: Int, name: String) {
            guard let name = comps.last, let dir = tree.lookup(comps.dropLast()),
                  tree.directories[dir] != nil else {
                throw SimFileSystem.error(.notFound, path, what, "no such parent directory")
            }
            return (dir, name)
        }

        /// The inode of an existing directory, or `.notFound` / `.io` (ENOTDIR).
        func directory(_ path: String, _ what: String) throws -> Int {
            guard let inode = tree.lookup(path) else {
                throw SimFileSystem.error(.notFound, path, what, "no such directory")
            }
            guard tree.directories[inode] != nil else {
                throw SimFileSystem.error(.io, path, what, "not a directory")
            }
            return inode
        }
    }

    let state: Locked<Inner>

    /// An empty file system: only the root directory "/" exists.
    package init() {
        state = Locked(Inner())
    }

    /// A file system whose volatile and durable state is `tree`.
    init(tree: SimTree, nextInode: Int) {
        var inner = Inner()
        inner.tree = tree
        inner.initial = tree
        inner.nextInode = nextInode
        state = Locked(inner)
    }

    static func error(_ code: LogImageError.Code, _ path: String, _ what: String, _ why: String) -> LogImageError {
        LogImageError(code, "\(path): \(what) failed: \(why) (simulated)")
    }

    // MARK: FileSystem

    package func open(_ path: String, mode: FileOpenMode) throws -> any StorageFile {
        let comps = SimTree.components(path)
        let inode: Int = try state.withLock { s in
            if let existing = s.tree.lookup(comps[...]) {
                if s.tree.directories[existing] != nil {
                    if mode == .createNew { throw Self.error(.alreadyExists, path, "open", "file exists") }
                    throw Self.error(.io, path, "open", "is a directory")
                }
                switch mode {
                case .readOnly, .readWrite:
                    break
                case .createNew:
                    throw Self.error(.alreadyExists, path, "open", "file exists")
                case .createOrTruncate:
                    try s.checkFault("open (truncate)", path)
                    s.record(.truncate(inode: existing, size: 0), path: path)
                }
                return existing
            }
            if mode == .readOnly || mode == .readWrite {
                throw Self.error(.notFound, path, "open", "no such file")
            }
            let (dir, name) = try s.parent(comps, path, "open (create)")
            try s.checkFault("open (create)", path)
            let inode = s.allocateInode()
            s.record(.create(dir: dir, name: name, inode: inode), path: path)
            return inode
        }
        return SimFileHandle(fs: self, inode: inode, path: path, writable: mode != .readOnly)
    }

    package func createDirectory(_ path: String) throws {
        let comps = SimTree.components(path)
        try state.withLock { s in
            if s.tree.lookup(comps[...]) != nil { throw Self.error(.alreadyExists, path, "mkdir", "file exists") }
            let (dir, name) = try s.parent(comps, path, "mkdir")
            try s.checkFault("mkdir", path)
            s.record(.mkdir(dir: dir, name: name, inode: s.allocateInode()), path: path)
        }
    }

    package func list(_ directory: String) throws -> [String] {
        try state.withLock { s in
            Array(s.tree.directories[try s.directory(directory, "list")]!.keys)
        }
    }

    package func rename(_ from: String, _ to: String) throws {
        let fromComps = SimTree.components(from), toComps = SimTree.components(to)
        let what = "rename to \(to)"
        try state.withLock { s in
            guard let inode = s.tree.lookup(fromComps[...]) else {
                throw Self.error(.notFound, from, what, "no such file")
            }
            guard !fromComps.isEmpty, !toComps.isEmpty else {
                throw Self.error(.io, from, what, "cannot rename the root directory")
            }
            let (fromDir, fromName) = try s.parent(fromComps, from, what)
            let (toDir, toName) = try s.parent(toComps, to, what)
            let isDir = s.tree.directories[inode] != nil
            if let target = s.tree.lookup(toComps[...]) {
                if target == inode { return }  // rename(2) of a name onto itself does nothing
                if let entries = s.tree.directories[target] {
                    if !isDir { throw Self.error(.io, from, what, "target is a directory") }
                    if !entries.isEmpty { throw Self.error(.io, from, what, "target directory not empty") }
                } else if isDir {
                    throw Self.error(.io, from, what, "target is not a directory")
                }
            }
            if isDir, toComps.count > fromComps.count, Array(toComps.prefix(fromComps.count)) == fromComps {
                throw Self.error(.invalidArgument, from, what, "cannot move a directory into itself")
            }
            try s.checkFault(what, from)
            s.record(.rename(fromDir: fromDir, fromName: fromName, toDir: toDir, toName: toName, inode: inode), path: from, target: to)
        }
    }

    package func unlink(_ path: String) throws {
        let comps = SimTree.components(path)
        try state.withLock { s in
            guard let inode = s.tree.lookup(comps[...]) else { throw Self.error(.notFound, path, "unlink", "no such file") }
            guard s.tree.directories[inode] == nil else { throw Self.error(.io, path, "unlink", "is a directory") }
            let (dir, name) = try s.parent(comps, path, "unlink")
            try s.checkFault("unlink", path)
            s.record(.unlink(dir: dir, name: name, inode: inode), path: path)
        }
    }

    package func syncDirectory(_ path: String) throws {
        try state.withLock { s in
            let dir = try s.directory(path, "fsync directory")
            try s.checkFault("fsync directory", path)
            s.record(.dirSync(dir: dir), path: path)
        }
    }

    package func lockDirectory(_ path: String, exclusive: Bool) throws -> any DirectoryLock {
        let inode: Int = try state.withLock { s in
            let dir = try s.directory(path, "flock")
            let held = s.locks[dir] ?? (shared: 0, exclusive: false)
            if held.exclusive || (exclusive && held.shared > 0) {
                throw LogImageError(.locked, "\(path) is in use by another process (\(held.exclusive ? "it holds a lock" : "a writer holds it")) (simulated)")
            }
            s.locks[dir] = exclusive ? (shared: 0, exclusive: true) : (shared: held.shared + 1, exclusive: false)
            return dir
        }
        return SimDirectoryLock(fs: self, inode: inode, exclusive: exclusive)
    }

    package func kind(of path: String) -> FileKind {
        state.withLock { s in s.tree.kind(ofInode: s.tree.lookup(path)) }
    }
}

/// A lock from `SimFileSystem.lockDirectory`; released on deinit.
package final class SimDirectoryLock: DirectoryLock {
    let fs: SimFileSystem
    let inode: Int
    let exclusive: Bool

    init(fs: SimFileSystem, inode: Int, exclusive: Bool) {
        self.fs = fs
        self.inode = inode
        self.exclusive = exclusive
    }

    deinit {
        let (inode, exclusive) = (inode, exclusive)
        fs.state.withLock { s in
            guard let held = s.locks[inode] else { return }
            if exclusive || held.shared <= 1 { s.locks[inode] = nil } else { s.locks[inode] = (held.shared - 1, false) }
        }
    }
}
