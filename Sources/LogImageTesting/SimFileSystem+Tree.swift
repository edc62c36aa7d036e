// The data model of `SimFileSystem`: a tree of inodes (a value type, so a
// snapshot is O(1) and files are copied only when written), the operations
// that change it, and the public description of those operations.

import LogImage

/// The file tree. Every file and directory is an inode id; directories map
/// names to inode ids. An inode that no directory entry reaches (a file
/// unlinked while open, or one whose creating entry was lost in a crash) can
/// still hold data, exactly like an orphan inode on a real file system.
struct SimTree: Sendable, Equatable {
    static let root = 0
    /// File contents by inode.
    var files: [Int: [UInt8]] = [:]
    /// Directory entries by inode; `root` always exists.
    var directories: [Int: [String: Int]] = [SimTree.root: [:]]

    /// Splits a path into components: "a//b/", "/a/b" and "./a/b" are the same.
    /// There is one root: relative and absolute paths name the same files.
    static func components(_ path: String) -> [String] {
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !out.isEmpty { out.removeLast() }
            default: out.append(String(part))
            }
        }
        return out
    }

    /// The normalized form of a path, always absolute: "/a/b".
    static func normalize(_ path: String) -> String {
        "/" + components(path).joined(separator: "/")
    }

    /// The inode a path names, or nil.
    func lookup(_ comps: ArraySlice<String>) -> Int? {
        var node = SimTree.root
        for name in comps {
            guard let entries = directories[node], let next = entries[name] else { return nil }
            node = next
        }
        return node
    }

    func lookup(_ path: String) -> Int? { lookup(SimTree.components(path)[...]) }

    func kind(ofInode inode: Int?) -> FileKind {
        guard let inode else { return .missing }
        if directories[inode] != nil { return .directory }
        return .file
    }

    /// Applies one logged effect. Barriers change nothing. Entries are added to
    /// and removed from directory inodes whether or not those are reachable.
    mutating func apply(_ effect: SimEffect, part: SimPart = .full) {
        switch effect {
        case let .write(inode, offset, bytes):
            write(inode, offset, bytes[...])
        case let .truncate(inode, size):
            resize(inode, size)
        case let .create(dir, name, inode):
            if files[inode] == nil { files[inode] = [] }
            directories[dir, default: [:]][name] = inode
        case let .mkdir(dir, name, inode):
            if directories[inode] == nil { directories[inode] = [:] }
            directories[dir, default: [:]][name] = inode
        case let .rename(fromDir, fromName, toDir, toName, inode):
            if part != .linkOnly, directories[fromDir]?[fromName] == inode {
                directories[fromDir]?[fromName] = nil
            }
            if part != .unlinkOnly {
                directories[toDir, default: [:]][toName] = inode
            }
        case let .unlink(dir, name, inode):
            if directories[dir]?[name] == inode { directories[dir]?[name] = nil }
        case .fileSync, .dirSync:
            break
        }
    }

    mutating func write(_ inode: Int, _ offset: Int, _ bytes: ArraySlice<UInt8>) {
        let end = offset + bytes.count
        let count = files[inode]?.count ?? 0
        if count < end {
            files[inode, default: []].append(contentsOf: [UInt8](repeating: 0, count: end - count))
        }
        files[inode, default: []].replaceSubrange(offset..<end, with: bytes)
    }

    mutating func resize(_ inode: Int, _ size: Int) {
        let count = files[inode]?.count ?? 0
        if size < count {
            files[inode, default: []].removeSubrange(size...)
        } else {
            files[inode, default: []].append(contentsOf: [UInt8](repeating: 0, count: size - count))
        }
    }

    /// Drops inodes that no path reaches (what fsck does with orphans).
    mutating func collectGarbage() {
        var reachable: Set<Int> = [SimTree.root]
        var stack = [SimTree.root]
        while let dir = stack.popLast() {
            for child in directories[dir, default: [:]].values where reachable.insert(child).inserted {
                if directories[child] != nil { stack.append(child) }
            }
        }
        files = files.filter { reachable.contains($0.key) }
        directories = directories.filter { reachable.contains($0.key) }
    }

    /// Every reachable path ("/a/b") with what it is.
    func dump() -> [String: SimEntry] {
        var out: [String: SimEntry] = [:]
        func walk(_ dir: Int, _ prefix: String) {
            for (name, child) in directories[dir, default: [:]] {
                if directories[child] != nil {
                    out[prefix + name] = .directory
                    walk(child, prefix + name + "/")
                } else {
                    out[prefix + name] = .file(files[child] ?? [])
                }
            }
        }
        walk(SimTree.root, "/")
        return out
    }
}

/// What a path holds, as `SimFileSystem.snapshot()` reports it.
package enum SimEntry: Sendable, Hashable {
    case directory
    case file([UInt8])
}

/// Which part of an operation a crash state keeps. Only renames have parts:
/// the new entry lives in the target directory and the removal of the old
/// one in the source directory, and each becomes durable with its own
/// directory's sync.
enum SimPart: Hashable, Sendable {
    case full, linkOnly, unlinkOnly
}

/// One logged mutation with the data it needs for replay. Writes keep only
/// the bytes written, never a whole file.
enum SimEffect: Sendable {
    case write(inode: Int, offset: Int, bytes: [UInt8])
    case truncate(inode: Int, size: Int)
    case create(dir: Int, name: String, inode: Int)
    case mkdir(dir: Int, name: String, inode: Int)
    case rename(fromDir: Int, fromName: String, toDir: Int, toName: String, inode: Int)
    case unlink(dir: Int, name: String, inode: Int)
    case fileSync(inode: Int, full: Bool)
    case dirSync(dir: Int)
}

/// A logged operation: its effect, the path named by the call (for a rename,
/// `path` is the source and `target` the destination), and the
/// earlier operations it depends on (the create of the inode it writes, the
/// operation that made the entry it renames or unlinks).
struct SimLoggedOp: Sendable {
    var effect: SimEffect
    var path: String
    var target: String? = nil
    var dependsOn: [Int] = []
}

/// A logged operation as tests and reports see it.
package struct SimOperation: Sendable, Equatable, CustomStringConvertible {
    /// What the operation did. Inodes and directories are inode ids.
    package enum Kind: Sendable, Equatable {
        case write(inode: Int, offset: Int, count: Int)
        case truncate(inode: Int, size: Int)
        case create(directory: Int, name: String, inode: Int)
        case mkdir(directory: Int, name: String, inode: Int)
        case rename(fromDirectory: Int, fromName: String, toDirectory: Int, toName: String, inode: Int)
        case unlink(directory: Int, name: String, inode: Int)
        /// `sync()` (full == false) or `fullSync()` (full == true).
        case fileSync(inode: Int, full: Bool)
        case dirSync(directory: Int)
    }

    /// Position in the operation log; a crash "at operation k" keeps ops `0..<k`.
    package let index: Int
    package let kind: Kind
    /// The path the call named (for handle operations, the path it was
    /// opened with; for a rename, the source).
    package let path: String
    /// The destination of a rename; nil otherwise.
    package let target: String?

    /// True for `fileSync` and `dirSync`.
    package var isBarrier: Bool {
        switch kind {
        case .fileSync, .dirSync: return true
        default: return false
        }
    }

    package var description: String {
        switch kind {
        case let .write(inode, offset, count): return "#\(index) write \(path) [ino \(inode)] @\(offset) +\(count)"
        case let .truncate(inode, size): return "#\(index) truncate \(path) [ino \(inode)] to \(size)"
        case let .create(_, _, inode): return "#\(index) create \(path) [ino \(inode)]"
        case let .mkdir(_, _, inode): return "#\(index) mkdir \(path) [ino \(inode)]"
        case let .rename(_, _, _, toName, inode): return "#\(index) rename \(path) -> \(target ?? toName) [ino \(inode)]"
        case let .unlink(_, _, inode): return "#\(index) unlink \(path) [ino \(inode)]"
        case let .fileSync(inode, full): return "#\(index) \(full ? "fsync" : "fdatasync") \(path) [ino \(inode)]"
        case let .dirSync(dir): return "#\(index) dirsync \(path) [ino \(dir)]"
        }
    }

    init(index: Int, op: SimLoggedOp) {
        self.index = index
        self.path = op.path
        self.target = op.target
        switch op.effect {
        case let .write(inode, offset, bytes): kind = .write(inode: inode, offset: offset, count: bytes.count)
        case let .truncate(inode, size): kind = .truncate(inode: inode, size: size)
        case let .create(dir, name, inode): kind = .create(directory: dir, name: name, inode: inode)
        case let .mkdir(dir, name, inode): kind = .mkdir(directory: dir, name: name, inode: inode)
        case let .rename(fd, fn, td, tn, inode):
            kind = .rename(fromDirectory: fd, fromName: fn, toDirectory: td, toName: tn, inode: inode)
        case let .unlink(dir, name, inode): kind = .unlink(directory: dir, name: name, inode: inode)
        case let .fileSync(inode, full): kind = .fileSync(inode: inode, full: full)
        case let .dirSync(dir): kind = .dirSync(directory: dir)
        }
    }
}

/// An acknowledgement recorded with `markAcknowledged`: `label` was reported
/// to the client after the first `afterOperations` operations.
package struct SimAcknowledgement: Sendable, Equatable {
    package let afterOperations: Int
    package let label: String
}
