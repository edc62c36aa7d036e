import Compactor
import Dispatch
import Foundation
import LogImage
import LogImageNBD

extension ImageService {
    /// Dispatches one command (Spec/control.md §8). Arguments are validated
    /// against `ControlCommand.table` already.
    func run(_ name: String, _ a: Arguments) throws -> JSONValue {
        switch name {
        case "qmp_capabilities":
            return [:]
        case "query-commands":
            return .array(ControlCommand.table.keys.sorted().map { ["name": .string($0)] })
        case "query-image":
            return try JSONValue(encoding: image.info())
        case "query-exports":
            return queryExports()
        case "query-stats":
            return .object(try statistics())
        case "snapshot-create":
            let info = try image.createSnapshot(name: a.string("name")!)
            events.publish(ControlEvent("SNAPSHOT_CREATED", ["name": .string(info.name), "epoch": .int(Int64(info.epoch))]))
            return try JSONValue(encoding: info)
        case "snapshot-delete":
            let n = a.string("name")!
            try image.deleteSnapshot(name: n)
            events.publish(ControlEvent("SNAPSHOT_DELETED", ["name": .string(n)]))
            return [:]
        case "snapshot-list":
            return try JSONValue(encoding: image.snapshots(includeUsage: a.bool("usage") ?? true))
        case "snapshot-revert":
            return try revert(to: a.string("name")!, disconnect: a.bool("disconnect") ?? false)
        case "compact-start":
            return try compactStart(garbage: a.double("garbage"), defragment: a.bool("defragment") ?? false)
        case "compact-stop":
            return compactStop()
        case "query-compaction":
            return try queryCompaction()
        case "scrub":
            return try scrub(wait: a.bool("wait") ?? false)
        case "query-scrub":
            return state.withLock { s in ["running": .bool(s.scrubRunning), "last": s.lastScrub ?? .null] }
        case "checkpoint":
            try image.checkpoint()
            return [:]
        case "resize":
            let size = a.unsigned("size")!
            let current = image.virtualSize
            guard size >= current else {
                throw ControlFailure(.invalidArgument, "resize: shrinking a served image is refused (\(current) to \(size) bytes): connected clients would lose data past the new end; stop serving and use logimg resize --shrink")
            }
            try image.resize(to: size)
            return ["size": .int(Int64(size))]
        case "export-add":
            return try exportAdd(name: a.string("name")!, snapshot: a.string("snapshot"))
        case "export-remove":
            return try exportRemove(name: a.string("name")!)
        case "set-write-threshold":
            return setWriteThreshold(logBytes: a.unsigned("log-bytes"), freeBytes: a.unsigned("free-bytes"))
        case "query-map":
            return try JSONValue(encoding: ImageReports.map(image, snapshot: a.string("snapshot"), offset: a.unsigned("offset") ?? 0,
                                                            length: a.unsigned("length")))
        case "query-changes":
            return try JSONValue(encoding: ImageReports.changes(image, from: a.string("from")!, to: a.string("to")))
        case "quit":
            let quit = onQuit
            // After the reply has been written (the server writes it once this returns).
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { quit?() }
            return [:]
        default:
            throw ControlFailure(.commandNotFound, "the command '\(name)' has not been found")
        }
    }

    private func queryExports() -> JSONValue {
        let server = state.withLock { $0.server }
        let added = state.withLock { $0.addedExports }
        return .array(nbdExports().map { e in
            var o: [String: JSONValue] = [
                "name": .string(e.name), "description": .string(e.description), "readOnly": .bool(e.readOnly),
                "size": .int(Int64(e.size)), "clients": .int(Int64(server?.connectionCount(export: e.name) ?? 0)),
            ]
            if e.name == headExportName {
                o["kind"] = "head"
            } else if let snap = added[e.name] {
                o["kind"] = "added"
                if let snap { o["snapshot"] = .string(snap) }
            } else {
                o["kind"] = "snapshot"
                o["snapshot"] = .string((e.image as? LogImageView)?.name ?? e.name)
            }
            return .object(o)
        })
    }

    /// The export names that serve the head (read-write): the head and any `export-add` without a snapshot.
    private func headExportNames() -> [String] {
        [headExportName] + state.withLock { $0.addedExports.filter { $0.value == nil }.map(\.key) }
    }

    private func revert(to name: String, disconnect: Bool) throws -> JSONValue {
        _ = try image.openSnapshot(name: name)  // notFound before anything is disconnected
        let server = state.withLock { $0.server }
        let names = headExportNames()
        let connected = names.reduce(0) { $0 + (server?.connectionCount(export: $1) ?? 0) }
        if connected > 0 && !disconnect {
            throw ControlFailure(.busy, "snapshot-revert: \(connected) client\(connected == 1 ? " is" : "s are") connected to the head; "
                + "reverting under them would change their disk without notice. Disconnect them first, or pass disconnect: true")
        }
        var dropped = 0
        if let server { for n in names { dropped += server.disconnect(export: n) } }
        try image.revert(to: name)
        return ["disconnected": .int(Int64(dropped))]
    }

    private func exportAdd(name: String, snapshot: String?) throws -> JSONValue {
        guard !name.isEmpty, name.utf8.count <= 4096 else { throw ControlFailure(.invalidArgument, "export-add: the name must be 1 to 4096 bytes") }
        if let snapshot { _ = try image.openSnapshot(name: snapshot) }
        try state.withLock { s in
            if exportNames(added: s.addedExports.keys).contains(name) { throw ControlFailure(.invalidArgument, "export-add: an export named '\(name)' exists already") }
            s.addedExports[name] = .some(snapshot)
        }
        return [:]
    }

    private func exportRemove(name: String) throws -> JSONValue {
        let (removed, server) = state.withLock { s in (s.addedExports.removeValue(forKey: name) != nil, s.server) }
        guard removed else {
            throw ControlFailure(.invalidArgument, "export-remove: '\(name)' is not an export added by export-add (the head and snapshot exports cannot be removed)")
        }
        let dropped = server?.disconnect(export: name) ?? 0
        return ["disconnected": .int(Int64(dropped))]
    }

    /// `query-stats`: the image's `ServeStatistics` (Spec/control.md §10):
    /// the engine, the background compactor and this image's NBD exports;
    /// without an attached NBD server, the engine and compactor alone. Members
    /// added through `addStatistics` are merged in.
    public func statistics() throws -> [String: JSONValue] {
        let (server, compactor) = state.withLock { ($0.server, $0.compactorRunning ? $0.compactor : nil) }
        var out: [String: JSONValue]
        if let server {
            out = try JSONValue(encoding: serveStatistics(server: server)).objectValue ?? [:]
        } else {
            out = ["image": .string(imageName), "engine": try JSONValue(encoding: image.statistics()),
                   "compaction": try compactor.map { try JSONValue(encoding: $0.statistics) } ?? .null,
                   "connections": 0, "exports": []]
        }
        for (key, provider) in statisticsProviders.withLock({ $0 }) { out[key] = provider() }
        return out
    }

    /// Adds `provider()`'s value under `key` to every `query-stats` reply
    /// (for the NBD and engine statistics of other modules).
    public func addStatistics(_ key: String, _ provider: @escaping @Sendable () -> JSONValue) {
        statisticsProviders.withLock { $0[key] = provider }
    }
}
