import ArgumentParser
import Foundation
import LogImage
import LogImageControl
#if canImport(Glibc)
import Glibc
#endif

/// `logimg snapshot create|list|delete|revert PATH [NAME]`, like `qemu-img snapshot -c|-l|-d|-a`.
///
/// A snapshot is a marker record in the log: create, delete and revert are
/// O(1) whatever the disk size, and durable when the command returns.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, list, delete or revert to internal snapshots.",
        discussion: """
            create, delete and revert open the image for writing; list opens it \
            read-only. While logimg serve holds the image, each runs in the server \
            instead (its control socket), with the disk in use.

            Examples:
              logimg snapshot create disk.limg before-upgrade
              logimg snapshot list disk.limg
              logimg snapshot revert disk.limg before-upgrade
              logimg snapshot delete disk.limg before-upgrade
            """,
        subcommands: [Create.self, List.self, Delete.self, Revert.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Freeze the current contents under NAME (qemu-img snapshot -c).")

        @Argument(help: ImageName.help)
        var path: String

        @OptionGroup var lock: BreakLockOption

        @Argument(help: "Snapshot name: 1 to 255 bytes, no control characters or '/'.")
        var name: String

        func run() throws {
            try LiveServer.offlineOrLive(path, offline: {
                try SnapshotCommand.withWritable(path, breakLock: lock.breakLock) { try $0.createSnapshot(name: name) }
            }, live: { _ = try $0.execute("snapshot-create", arguments: ["name": .string(name)]) })
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete snapshot NAME (qemu-img snapshot -d); its space is reclaimed by compaction.")

        @Argument(help: ImageName.help)
        var path: String

        @OptionGroup var lock: BreakLockOption

        @Argument(help: "The snapshot to delete.")
        var name: String

        func run() throws {
            try LiveServer.offlineOrLive(path, offline: {
                try SnapshotCommand.withWritable(path, breakLock: lock.breakLock) { try $0.deleteSnapshot(name: name) }
            }, live: { _ = try $0.execute("snapshot-delete", arguments: ["name": .string(name)]) })
        }
    }

    struct Revert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revert",
            abstract: "Make the disk read as snapshot NAME again (qemu-img snapshot -a); writes since are dropped.")

        @Argument(help: ImageName.help)
        var path: String

        @OptionGroup var lock: BreakLockOption

        @Argument(help: "The snapshot to revert to.")
        var name: String

        @Flag(name: .long, help: "On a served image: disconnect the NBD clients of the head first (refused while any is connected otherwise).")
        var disconnect = false

        func run() throws {
            try LiveServer.offlineOrLive(path, offline: {
                try SnapshotCommand.withWritable(path, breakLock: lock.breakLock) { try $0.revert(to: name) }
            }, live: { client in
                do {
                    let r = try client.execute("snapshot-revert", arguments: ["name": .string(name), "disconnect": .bool(disconnect)])
                    if let n = r["disconnected"]?.intValue, n > 0 { Output.warning("disconnected \(n) NBD client\(n == 1 ? "" : "s") of the head") }
                } catch ControlClientError.remote(let f) where f.errorClass == .busy {
                    throw CLIError("\(path): \(f.desc) (--disconnect)")
                }
            })
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the snapshots (qemu-img snapshot -l).",
            discussion: """
                Columns: ID (the snapshot's epoch), TAG (its name), REFERENCED (bytes \
                of data its view reads), EXCLUSIVE (bytes only it reads: what deleting \
                it frees, once compacted), DATE (local time), SEQ (sequence number of \
                its record). Prints nothing when there are none. --output json prints \
                an array of snapshot objects.
                """)

        @Argument(help: ImageName.help)
        var path: String

        @Option(name: .long, help: "Output format: human or json.")
        var output: OutputFormat = .human

        @OptionGroup var share: ForceShareOption

        func run() throws {
            let list = try LiveServer.offlineOrLive(path, readOnlyVerb: true, offline: {
                let image = try ImageName.open(path, mode: .readOnly, forceShare: share.forceShare)
                let list = image.snapshots()
                try image.close()
                return list
            }, live: { try $0.execute("snapshot-list", as: [SnapshotInfo].self) })
            switch output {
            case .json: print(try Output.json(list))
            case .human:
                if !list.isEmpty { print(SnapshotCommand.table(list), terminator: "") }
            }
        }
    }

    /// Opens `path` for snapshot commands and runs `body`, then closes it.
    ///
    /// The open is metadata-only (`ImageMetadata`): it validates the newest
    /// checkpoint but does not load its extent maps, so an O(1) snapshot
    /// operation does not pay O(extents) to open the image; and `close()` on
    /// such a handle only flushes, it writes no checkpoint. The next full
    /// open replays the record after the last checkpoint.
    static func withWritable(_ path: String, breakLock: Bool, _ body: (ImageMetadata) throws -> Void) throws {
        let image = try ImageName.openForSnapshotCommands(path, breakLock: breakLock)
        do {
            try body(image)
        } catch {
            try? image.close()
            throw error
        }
        try image.close()
    }

    /// The `Snapshot list:` table, as `qemu-img snapshot -l` and `qemu-img info` print it.
    static func table(_ list: [SnapshotInfo]) -> String {
        let header = ["ID", "TAG", "REFERENCED", "EXCLUSIVE", "DATE", "SEQ"]
        let rows = list.map { s in
            ["\(s.epoch)", s.name, SizeParser.human(s.bytesReferenced), SizeParser.human(s.bytesExclusive),
             localDate(s.createdNs), "\(s.sequence)"]
        }
        // Left-aligned text columns, right-aligned numbers, two spaces apart.
        let rightAligned: Set<Int> = [2, 3, 5]
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, c) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                let cell = rightAligned.contains(i) ? pad + c : (i == cells.count - 1 ? c : c + pad)
                out += (i == 0 ? "" : "  ") + cell
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return out + "\n"
        }
        return "Snapshot list:\n" + line(header) + rows.map(line).joined()
    }

    /// `2026-11-26 17:52:55` in local time (ISO 8601 date and time, as qemu-img prints).
    static func localDate(_ ns: UInt64) -> String {
        var t = time_t(ns / 1_000_000_000)
        var tm = tm()
        localtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S", &tm)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
