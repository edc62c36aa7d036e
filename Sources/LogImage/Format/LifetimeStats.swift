/// Lifetime counters kept in checkpoints (Spec §6.7): bytes the guest wrote
/// in DATA records, and bytes appended to the log (batches, headers included).
/// Their ratio is the write amplification since creation.
struct LifetimeStats: Sendable, Equatable, Codable {
    var guestBytes: UInt64 = 0
    var logBytes: UInt64 = 0
}
