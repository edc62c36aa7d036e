import LogImage
import Synchronization

/// Delivers events (Spec/control.md §6) from whoever raises them (the
/// image service, the compactor watcher, the NBD server's connection
/// observer) to every subscriber (each control server's connections).
public final class ControlEventBus: Sendable {
    private let subscribers = Locked<[Int: @Sendable (ControlEvent) -> Void]>([:])
    private let nextID = Atomic<Int>(1)

    /// An empty bus.
    public init() {}

    /// Calls `body` with every event published from now on, on the
    /// publisher's thread (it must not block); returns a token for `unsubscribe`.
    @discardableResult
    public func subscribe(_ body: @escaping @Sendable (ControlEvent) -> Void) -> Int {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        subscribers.withLock { $0[id] = body }
        return id
    }

    /// Stops the deliveries to the subscription `token`.
    public func unsubscribe(_ token: Int) {
        subscribers.withLock { _ = $0.removeValue(forKey: token) }
    }

    /// Delivers `event` to every subscriber.
    public func publish(_ event: ControlEvent) {
        for s in subscribers.withLock({ Array($0.values) }) { s(event) }
    }
}

/// What a control server runs commands against: one served image
/// (`ImageService` is the implementation).
public protocol ControlCommandHandler: Sendable {
    /// The image's name as served, for the greeting.
    var imageName: String { get }
    /// Where the image's events are published.
    var events: ControlEventBus { get }
    /// Runs a validated request and returns its return value. Blocking; the
    /// server calls it off the event loop, one request at a time.
    /// - Throws: `ControlFailure`, `LogImageError`, or any error (a GenericError reply).
    func execute(_ request: ControlRequest) throws -> JSONValue
}
