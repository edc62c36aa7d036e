import Foundation
import LogImage

/// Everything `logimg serve` can tell about one served image at one moment:
/// the engine's statistics, the background compactor's totals, and the NBD
/// counters of the image's exports. The control command `query-stats`
/// returns it, `logimg stats --output json` prints it, and `--metrics`
/// serves it in the Prometheus text format (`LogImageMetrics`).
///
/// It lives in LogImageNBD because that is the lowest module that sees both
/// halves: LogImageNBD depends on LogImage (`EngineStatistics`,
/// `CompactionStatistics`), and the Compactor module fills in
/// `CompactionStatistics` without LogImageNBD having to depend on it.
///
/// Its JSON (the synthesized `Codable`, snake_case keys) is specified in
/// Spec/control.md, "Statistics"; keys are only ever added.
public struct ServeStatistics: Sendable, Codable, Equatable {
    /// The image's name as served (its path, or `rados://POOL/NAME`).
    public var image: String
    /// When the snapshot was taken, in seconds since 1970.
    public var timestamp: Double
    /// The engine: log, garbage, checkpoints, flushes, lock waits.
    public var engine: EngineStatistics
    /// The background compactor's totals; nil when none runs (read-only, `--no-compact`).
    public var compaction: CompactionStatistics?
    /// Connections open to the server now (all its exports, whatever image).
    public var connections: Int
    /// The NBD counters of this image's exports, sorted by name.
    public var exports: [NBDExportStatistics]

    /// A snapshot from its parts.
    public init(image: String, timestamp: Double, engine: EngineStatistics, compaction: CompactionStatistics?,
                connections: Int, exports: [NBDExportStatistics]) {
        self.image = image
        self.timestamp = timestamp
        self.engine = engine
        self.compaction = compaction
        self.connections = connections
        self.exports = exports
    }

    /// Takes a snapshot of `image` served by `server` now.
    /// - Parameters:
    ///   - name: the image's name as served (default: the engine's, `EngineStatistics.image`).
    ///   - compaction: the background compactor's `statistics`, if one runs.
    ///   - exports: which of the server's exports are this image's (default: all,
    ///     for a server of one image).
    /// - Throws: as `LogImage.statistics()`.
    public static func collect(image: LogImage, name: String? = nil, server: NBDServer,
                               compaction: CompactionStatistics?,
                               exports: (String) -> Bool = { _ in true }) throws -> ServeStatistics {
        let engine = try image.statistics()
        let nbd = server.statistics()
        return ServeStatistics(image: name ?? engine.image, timestamp: Date().timeIntervalSince1970, engine: engine,
                               compaction: compaction, connections: nbd.connections,
                               exports: nbd.exports.filter { exports($0.name) })
    }

    /// Encodes every key, `null` for a missing compaction, so the JSON shape never changes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(image, forKey: .image)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encode(engine, forKey: .engine)
        try c.encode(compaction, forKey: .compaction)
        try c.encode(connections, forKey: .connections)
        try c.encode(exports, forKey: .exports)
    }

    enum CodingKeys: String, CodingKey {
        case image, timestamp, engine, compaction, connections, exports
    }
}
