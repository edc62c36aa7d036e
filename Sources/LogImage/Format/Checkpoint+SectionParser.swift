/// The per-section checks of a checkpoint (Spec §6.2–§6.7), shared by the
/// two decoders: `decode`, which reads the whole file, and
/// `decodeThroughDirectory`, which reads only the small sections (§6.8).
/// Each decoder walks its own framing (the body in order, or the DIRECTORY
/// entries) and hands every section to one parser.
extension Checkpoint {
    /// Which sections' data a decoder reads.
    enum Reading: Equatable, Sendable {
        /// Every section's data (`decode`); the maps are kept only when `loadMaps`.
        case wholeFile(loadMaps: Bool)
        /// Only HEAD_EPOCH, EPOCHS, STATS and unknown sections (`decodeThroughDirectory`,
        /// §6.8): the map sections are noted, not read.
        case directory
    }

    /// Accumulates the sections of one checkpoint. For each section the
    /// decoder calls `admit`, then, when it returns true, `parse` with the
    /// section's data; at the end, `finish`.
    struct SectionParser {
        let reading: Reading
        let path: String
        private var headMap: ExtentMap?
        private var hasHeadMap = false
        private var headEpoch: UInt32 = Format.initialEpoch
        private var epochs: [Epoch] = []
        private var epochMaps: [UInt32: ExtentMap] = [:]
        private var stats = LifetimeStats()
        private var pointers = PointerSummary()
        /// Known section types seen so far (each may occur once, §6.2).
        private var seen = Set<UInt32>()

        init(reading: Reading, path: String) {
            self.reading = reading
            self.path = path
        }

        func bad(_ why: String) -> LogImageError { .corrupt("\(path): \(why)") }

        /// Checks a section's header: a known type must not repeat, and an
        /// unknown type with REQUIRED set makes the checkpoint unusable
        /// (§6.2). Returns whether `parse` needs the section's data.
        mutating func admit(type: UInt32, flags: UInt32) throws -> Bool {
            let C = Format.Checkpoint.self
            let known: Bool
            switch type {
            case C.sectionHeadMap, C.sectionHeadEpoch, C.sectionEpochs, C.sectionStats: known = true
            // DIRECTORY lists only the other sections; an entry that names one is taken as an unknown type.
            case C.sectionDirectory: known = reading != .directory
            default: known = false  // EPOCH_MAP repeats, once per epoch: `parse` checks its epoch
            }
            guard !known || seen.insert(type).inserted else { throw bad("section type \(type) appears twice") }
            switch type {
            case C.sectionHeadMap:
                if reading == .directory { hasHeadMap = true; return false }
                return true
            case C.sectionEpochMap:
                return reading != .directory  // through DIRECTORY: checked by whoever loads the maps
            case C.sectionHeadEpoch, C.sectionEpochs, C.sectionStats:
                return true
            case C.sectionDirectory where known:
                return false  // only for readers that do not read the whole file (§6.8)
            default:
                if flags & C.sectionFlagRequired != 0 {
                    throw LogImageError(.unsupportedFeature, "\(path): checkpoint section type \(type) is required but unknown")
                }
                return false
            }
        }

        /// Decodes and checks the data of a section that `admit` asked for.
        /// `offset` is the data's file offset, for messages.
        mutating func parse(type: UInt32, _ data: UnsafeRawBufferPointer, at offset: Int) throws {
            let C = Format.Checkpoint.self, path = self.path
            let bad = { (why: String) in LogImageError.corrupt("\(path): \(why)") }
            let keep: Bool
            if case .wholeFile(let loadMaps) = reading { keep = loadMaps } else { keep = false }
            switch type {
            case C.sectionHeadMap:
                headMap = try decodeMap(data, at: offset, keep: keep, pointers: &pointers, bad: bad)
                hasHeadMap = true
            case C.sectionHeadEpoch:
                guard data.count == C.HeadEpoch.size else {
                    throw bad("HEAD_EPOCH section is \(data.count) bytes, not \(C.HeadEpoch.size)")
                }
                headEpoch = data.le32(C.HeadEpoch.offEpoch)
            case C.sectionEpochs:
                epochs = try decodeEpochs(data, at: offset, bad: bad)
            case C.sectionStats:
                guard data.count >= C.Stats.size else { throw bad("STATS section too short") }
                stats = LifetimeStats.decode(data)
            case C.sectionEpochMap:
                let entriesAt = C.EpochMap.offEntries
                guard data.count >= entriesAt else { throw bad("EPOCH_MAP section too short at offset \(offset)") }
                let id = data.le32(C.EpochMap.offEpoch)
                guard epochMaps[id] == nil else { throw bad("EPOCH_MAP for epoch \(id) appears twice") }
                epochMaps[id] = try decodeMap(UnsafeRawBufferPointer(rebasing: data[entriesAt...]), at: offset + entriesAt,
                                              keep: keep, pointers: &pointers, bad: bad)
            default:
                break
            }
        }

        /// The checks across sections (a HEAD_MAP, and an epoch tree that
        /// agrees with HEAD_EPOCH and the EPOCH_MAPs, §6.3–§6.6), then the
        /// checkpoint, with the fields of its checked `header` (§6.1).
        func finish(header b: UnsafeRawBufferPointer, uuid: [UInt8]) throws -> Checkpoint {
            let C = Format.Checkpoint.self
            guard hasHeadMap else { throw bad("checkpoint has no HEAD_MAP section") }
            try checkEpochs(epochs, head: headEpoch, mapIDs: Array(epochMaps.keys), bad: bad)
            return Checkpoint(generation: b.le64(C.offGeneration), coveredSegment: b.le64(C.offCoveredSegment),
                              coveredOffset: b.le64(C.offCoveredOffset), nextSeq: b.le64(C.offNextSeq),
                              uuid: uuid, headEpoch: headEpoch, map: headMap ?? ExtentMap(), epochs: epochs,
                              epochMaps: epochMaps, stats: stats, pointers: pointers)
        }
    }

    /// The epoch tree of a checkpoint agrees with HEAD_EPOCH and the EPOCH_MAP ids (§6.4–§6.6).
    static func checkEpochs(_ epochs: [Epoch], head epoch: UInt32, mapIDs: [UInt32], bad: (String) -> LogImageError) throws {
        if !epochs.isEmpty {
            let ids = Set(epochs.map(\.id))
            guard epochs.contains(where: { $0.id == epoch && $0.kind == .head }) else { throw bad("HEAD_EPOCH \(epoch) is not the head in EPOCHS") }
            guard mapIDs.allSatisfy({ ids.contains($0) && $0 != epoch }) else { throw bad("EPOCH_MAP for an epoch not in EPOCHS") }
        } else {
            guard mapIDs.isEmpty else { throw bad("EPOCH_MAP without EPOCHS") }
        }
    }
}
