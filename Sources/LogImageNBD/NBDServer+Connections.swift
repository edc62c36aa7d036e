import NIOCore
import LogImage
import Synchronization

/// A client entering or leaving transmission on an export of an `NBDServer`.
public struct NBDConnectionEvent: Sendable, Equatable {
    /// Whether the client connected (entered transmission) or disconnected.
    public enum Kind: String, Sendable { case connected, disconnected }
    /// Connected or disconnected.
    public var kind: Kind
    /// The export the client chose (`""`: the default export).
    public var export: String
    /// The client's address (`unix` for a Unix-socket client), for people.
    public var client: String
}

/// The connections in transmission, by export, and the observers of their
/// comings and goings. Connections still negotiating are not in it: they
/// read and write no export yet.
package final class NBDConnectionRegistry: Sendable {
    private struct Entry { var export: String; var client: String; var channel: any Channel }
    private let entries = Locked<[ObjectIdentifier: Entry]>([:])
    private let observers = Locked<[@Sendable (NBDConnectionEvent) -> Void]>([])

    package init() {}

    /// Records that `channel` entered transmission on `export`; it is
    /// forgotten (and observers told) when the channel closes.
    package func entered(_ channel: any Channel, export: String) {
        let client = channel.remoteAddress.map { a in a.ipAddress.map { "\($0):\(a.port ?? 0)" } ?? "unix" } ?? "unix"
        let id = ObjectIdentifier(channel)
        entries.withLock { $0[id] = Entry(export: export, client: client, channel: channel) }
        notify(NBDConnectionEvent(kind: .connected, export: export, client: client))
        channel.closeFuture.whenComplete { [self] _ in
            if entries.withLock({ $0.removeValue(forKey: id) }) != nil {
                notify(NBDConnectionEvent(kind: .disconnected, export: export, client: client))
            }
        }
    }

    func count(export: String) -> Int { entries.withLock { $0.values.filter { $0.export == export }.count } }

    func channels(export: String) -> [any Channel] { entries.withLock { $0.values.filter { $0.export == export }.map(\.channel) } }

    func observe(_ body: @escaping @Sendable (NBDConnectionEvent) -> Void) { observers.withLock { $0.append(body) } }

    private func notify(_ event: NBDConnectionEvent) {
        for o in observers.withLock({ $0 }) { o(event) }
    }
}

extension NBDServer {
    /// Clients in transmission on export `name` right now (`""`: the head).
    /// Clients still negotiating are not counted.
    public func connectionCount(export name: String) -> Int { shared.connections.count(export: name) }

    /// Closes every connection in transmission on export `name` at once
    /// (requests in flight are abandoned, as when the client drops the
    /// connection) and waits until they are closed; returns how many there were.
    /// Used before a live revert of the head (Spec/control.md, `snapshot-revert`).
    @available(*, noasync, message: "blocks until the connections are closed")
    @discardableResult
    public func disconnect(export name: String) -> Int {
        let channels = shared.connections.channels(export: name)
        for c in channels { try? c.close().wait() }
        return channels.count
    }

    /// Calls `body` (on an event-loop thread: it must not block) whenever a
    /// client enters transmission on an export or its connection closes.
    public func observeConnections(_ body: @escaping @Sendable (NBDConnectionEvent) -> Void) {
        shared.connections.observe(body)
    }
}
