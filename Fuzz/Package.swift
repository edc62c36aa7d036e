// swift-tools-version:6.0
// libFuzzer targets for every parser of logimg. A separate package:
// they are executables without `main` (libFuzzer provides it), which link only
// with `--sanitize fuzzer`, so they must stay out of the main package's builds.
//
//   cd Fuzz && swift build -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
//   (swiftc keeps only the last -sanitize= option: without the -Xswiftc one, Swift code gets
//   ASan but no coverage instrumentation, and libFuzzer fuzzes blind)
//   .build/release/fuzz-segment -rss_limit_mb=2048 -timeout=10 ../Tests/Fuzz/Corpus/fuzz-segment
//
// bench/fuzz.sh builds and runs them all. The entry points are in the main package's
// test-only libraries (Sources/LogImageTesting/FuzzEntryPoints*.swift,
// Sources/LogImageNBDTesting/NBDFuzzEntryPoints.swift), and the seed corpora
// (Tests/Fuzz/Corpus/<target>) also run in `swift test` (FuzzRegressionTests).
import PackageDescription

let package = Package(
    name: "logimg-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "logimg", path: ".."),
    ],
    targets: [
        // The manifest and segment header parsers.
        .executableTarget(name: "fuzz-manifest", dependencies: [.product(name: "LogImageTesting", package: "logimg")],
                          path: "Sources/FuzzManifest"),
        // The record parser and recovery scan of a segment (bytes as the segment).
        .executableTarget(name: "fuzz-segment", dependencies: [.product(name: "LogImageTesting", package: "logimg")],
                          path: "Sources/FuzzSegment"),
        // Checkpoint decoding (and snapshot record payloads).
        .executableTarget(name: "fuzz-checkpoint", dependencies: [.product(name: "LogImageTesting", package: "logimg")],
                          path: "Sources/FuzzCheckpoint"),
        // The NBD handshake and request decoders (bytes as the client's stream).
        .executableTarget(name: "fuzz-nbd", dependencies: [.product(name: "LogImageNBDTesting", package: "logimg")],
                          path: "Sources/FuzzNBD"),
        // The control protocol's request parser (one line as a request, Spec/control.md §4).
        .executableTarget(name: "fuzz-control", dependencies: [.product(name: "LogImageControl", package: "logimg")],
                          path: "Sources/FuzzControl"),
        // A whole image (manifest, segments, checkpoints) opened, read, checked and written.
        .executableTarget(name: "fuzz-image", dependencies: [.product(name: "LogImageTesting", package: "logimg")],
                          path: "Sources/FuzzImage"),
    ]
)
