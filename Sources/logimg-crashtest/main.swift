// logimg-crashtest: the crash-state explorer (Sources/LogImageTesting/
// CrashExplorer*.swift) over its workload families, printed as a table.
// Exits 1 if any crash state broke an invariant or a workload failed.
//
//   swift build -c release --product logimg-crashtest
//   .build/release/logimg-crashtest                      # lengths 1-3 and 4 random runs
//   .build/release/logimg-crashtest --length 2 --states-per-workload 50
//   .build/release/logimg-crashtest --workload span+flush --planted missingSegmentDirSync --per-workload
//   .build/release/logimg-crashtest --exhaustive-subsets --length 1      # plus every subset of the pending ops
//   .build/release/logimg-crashtest --exhaustive-subsets --subsets-every-operation all --subset-census  # count them
//
// bench/crashtest.sh runs the full explorer and keeps the output.

import ArgumentParser
import Foundation
import LogImage
import LogImageTesting

struct CrashTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logimg-crashtest",
        abstract: "Explore the crash states of logimg workloads and check invariants I1-I7.")

    @Option(help: "Seed of the workloads' write places, random runs and crash plans.")
    var seed: UInt64 = 1

    @Option(help: "Fixed-length workload families to run: 1, 2, 3, all or none.")
    var length: String = "all"

    @Option(help: "Random runs to add.")
    var random: Int = 4

    @Option(help: "Operations per random run.")
    var randomLength: Int = 200

    @Option(help: "Run only these workloads, e.g. span+flush (repeatable); replaces --length and --random.")
    var workload: [String] = []

    @Option(help: "Run an evenly spread sample of this many workloads of each length.")
    var sample: Int?

    @Option(help: "Crash states per workload, from the simulator's crash plan.")
    var statesPerWorkload: Int = 200

    @Option(help: "Crash states of each recovery (crashes during recovery); 0 for none.")
    var recoveryStates: Int = 6

    @Option(help: "Deep checks (I6, I7, crashes during recovery) on every n-th state.")
    var deepEvery: Int = 1

    @Option(help: "Sectors of the virtual disk (512 B each).")
    var sectors: Int = 2048

    @Option(help: "Switch on a planted bug (repeatable): \(PlantedBug.allCases.map(\.rawValue).joined(separator: ", ")).")
    var planted: [String] = []

    @Flag(inversion: .prefixedNo, exclusivity: .chooseLast,
          help: "Add the all-subsets class: every subset of the pending operations at each sync point, barrier acknowledgement and the final point (seeded random ones past --exhaustive-limit).")
    var exhaustiveSubsets = false

    @Option(help: "With --exhaustive-subsets: all 2^n subsets when at most this many operations are pending (or 2^n <= --random-subsets).")
    var exhaustiveLimit: Int = 12

    @Option(help: "With --exhaustive-subsets: distinct seeded random subsets when more are pending (at most 4x as many draws).")
    var randomSubsets: Int = 10_000

    @Option(help: "With --exhaustive-subsets: the families whose all-subsets class runs at every crash point (after every file operation), not only at syncs, acknowledgements and the end: all, none, or from 1, 2, 3, random, selected, e.g. 1,2,3.")
    var subsetsEveryOperation: String = "none"

    @Option(help: "With --exhaustive-subsets: deep checks (I6, I7, crashes during recovery) on every n-th all-subsets state; 0 for none.")
    var subsetDeepEvery: Int = 1

    @Option(help: "With --exhaustive-subsets: the families that get the class: all, none, or from 1, 2, 3, random, selected, e.g. 1,2.")
    var subsetFamilies: String = "all"

    @Flag(help: "With --exhaustive-subsets: count the all-subsets crash points and states of each family, recover none.")
    var subsetCensus = false

    @Flag(help: "Leave out the unflushed tail (64 KiB, 4 KiB, 64 KiB, 4 KiB writes) that ends every workload.")
    var noTail = false

    @Flag(help: "Print the calls and file operations of each workload (with --workload) instead of exploring.")
    var log = false

    @Flag(help: "One table row per workload instead of per family.")
    var perWorkload = false

    @Option(help: "Violations to print in detail.")
    var showViolations: Int = 40

    func run() throws {
        var options = CrashExplorer.Options()
        options.seed = seed
        options.statesPerWorkload = statesPerWorkload
        options.recoveryStates = recoveryStates
        options.deepEvery = deepEvery
        options.sectors = sectors
        options.unflushedTail = !noTail
        options.exhaustiveSubsets = exhaustiveSubsets
        options.exhaustiveLimit = exhaustiveLimit
        options.randomSubsets = randomSubsets
        options.subsetDeepEvery = subsetDeepEvery
        guard (0...20).contains(exhaustiveLimit), randomSubsets >= 0, subsetDeepEvery >= 0 else {
            throw ValidationError("--exhaustive-limit must be in 0...20, --random-subsets and --subset-deep-every >= 0")
        }
        // Family names are "length N", "random xL" and "selected"; nil: all.
        func familyPrefixes(_ text: String, _ option: String) throws -> [String]? {
            if text == "all" { return nil }
            if text == "none" { return [] }
            return try text.split(separator: ",").map { part in
                switch part {
                case "1", "2", "3": return "length \(part)"
                case "random", "selected": return String(part)
                default: throw ValidationError("\(option) takes all, none, or 1, 2, 3, random, selected, comma separated")
                }
            }
        }
        let subsetPrefixes = try familyPrefixes(subsetFamilies, "--subset-families")
        let everyPrefixes = try familyPrefixes(subsetsEveryOperation, "--subsets-every-operation")
        options.plantedBugs = Set(try planted.map { name in
            guard let bug = PlantedBug(rawValue: name) else { throw ValidationError("unknown planted bug '\(name)'") }
            return bug
        })
        guard sectors >= 1024, sectors % 256 == 0, sectors <= 1 << 16 else {
            throw ValidationError("--sectors must be a multiple of 256 in 1024...65536")
        }

        var families: [(String, [CrashExplorer.Workload])] = []
        if !workload.isEmpty {
            families.append(("selected", try workload.enumerated().map { i, text in
                guard let w = CrashExplorer.Workload(parsing: text, seed: seed &+ UInt64(i)) else {
                    throw ValidationError("bad workload '\(text)'; operations: \(CrashExplorer.Op.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return w
            }))
        } else {
            let lengths: [Int]
            switch length {
            case "all": lengths = [1, 2, 3]
            case "none": lengths = []
            default:
                guard let n = Int(length), (1...3).contains(n) else { throw ValidationError("--length must be 1, 2, 3, all or none") }
                lengths = [n]
            }
            for n in lengths {
                var ws = CrashExplorer.workloads(length: n, seed: seed)
                if let sample { ws = CrashExplorer.sample(ws, count: sample) }
                families.append(("length \(n)", ws))
            }
            if random > 0 {
                families.append(("random x\(randomLength)", (0..<random).map {
                    CrashExplorer.randomWorkload(seed: seed &+ 1000 &+ UInt64($0), length: randomLength)
                }))
            }
        }

        let explorer = try CrashExplorer(options: options)
        var variants: [Bool: CrashExplorer] = [:]  // keyed by `subsetsAtEveryOperation`
        var plainExplorer: CrashExplorer?
        /// The explorer of a family: the all-subsets class on or off, at syncs or every operation, per the options.
        func explorerFor(_ family: String) throws -> CrashExplorer {
            func matches(_ prefixes: [String]?) -> Bool { prefixes.map { $0.contains(where: family.hasPrefix) } ?? true }
            guard exhaustiveSubsets else { return explorer }
            guard matches(subsetPrefixes) else {
                if plainExplorer == nil {
                    var o = options
                    o.exhaustiveSubsets = false
                    plainExplorer = try CrashExplorer(options: o)
                }
                return plainExplorer!
            }
            let every = matches(everyPrefixes)
            if let e = variants[every] { return e }
            var o = options
            o.subsetsAtEveryOperation = every
            let e = try CrashExplorer(options: o)
            variants[every] = e
            return e
        }
        let subsetsDescription = "every subset up to \(exhaustiveLimit) pending, else \(randomSubsets) random; families \(subsetFamilies)"
            + ", at every operation for \(subsetsEveryOperation), else at syncs, acknowledgements and the end"
        if subsetCensus {
            guard exhaustiveSubsets else { throw ValidationError("--subset-census needs --exhaustive-subsets") }
            print("all-subsets census: seed \(seed), \(subsetsDescription)")
            print("family          workloads  points  sampled  max-n     subsets    states  (sampled: subsets  states)")
            for (family, ws) in families {
                let e = try explorerFor(family)
                guard e.options.exhaustiveSubsets else { continue }
                var c = CrashExplorer.SubsetCensus()
                for w in ws { c.add(e.subsetCensus(w)) }
                print(family.padding(toLength: 14, withPad: " ", startingAt: 0)
                      + [ws.count, c.points, c.sampledPoints, c.maxPending, c.subsets, c.states].enumerated().map { i, v in
                          let s = "\(v)"
                          return String(repeating: " ", count: max(0, [11, 8, 9, 7, 12, 10][i] - s.count)) + s
                      }.joined() + "  (\(c.sampledSubsets)  \(c.sampledStates))")
            }
            return
        }
        if log {
            for (_, ws) in families { for w in ws { print("== \(w)\n" + explorer.operationLog(w)) } }
            return
        }
        print("logimg-crashtest: seed \(seed), \(statesPerWorkload) states/workload, \(recoveryStates) recovery states/state, "
              + "deep every \(deepEvery), \(sectors) sectors, segment \(options.segmentSize >> 20) MiB, batch \(options.batchBytes >> 10) KiB, "
              + "planted: \(options.plantedBugs.isEmpty ? "none" : options.plantedBugs.map(\.rawValue).sorted().joined(separator: ","))"
              + (exhaustiveSubsets ? "\nall-subsets: \(subsetsDescription); deep every \(subsetDeepEvery)" : ""))
        var rows: [(name: String, totals: CrashExplorer.Totals)] = []
        var violations: [CrashExplorer.Violation] = []
        var errors: [String] = []
        var failed = false
        for (family, ws) in families {
            var totals = CrashExplorer.Totals()
            for (i, w) in ws.enumerated() {
                let r = try explorerFor(family).run(w)
                totals.add(r)
                if perWorkload { rows.append((w.name, CrashExplorer.Totals([r]))) }
                violations += r.violations
                if let e = r.error { errors.append("\(w.name): \(e)") }
                failed = failed || r.failed
                if (i + 1) % 25 == 0 || i + 1 == ws.count {
                    FileHandle.standardError.write(Data("  \(family): \(i + 1)/\(ws.count) workloads, \(totals.stateCount) states, \(totals.violationCount) violating, \(String(format: "%.0f", totals.seconds)) s\n".utf8))
                }
            }
            if !perWorkload { rows.append((family, totals)) }
        }
        print(CrashExplorer.table(rows))
        print()
        print(CrashExplorer.legend)
        if !errors.isEmpty {
            print("\nworkload errors (an operation failed):")
            for e in errors.prefix(showViolations) { print("  " + e) }
        }
        if !violations.isEmpty {
            print("\nviolations (first \(min(showViolations, violations.count)) of those kept):")
            for v in violations.prefix(showViolations) { print("  \(v)") }
        }
        print(failed ? "\nFAILED" : "\nOK: no violations")
        if failed { throw ExitCode(1) }
    }
}

CrashTest.main()
