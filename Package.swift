// swift-tools-version:6.0
import PackageDescription
import Foundation

let package = Package(
    name: "logimg",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LogImage", targets: ["LogImage"]),
        .library(name: "Compactor", targets: ["Compactor"]),
        .library(name: "LogImageNBD", targets: ["LogImageNBD"]),
        .library(name: "LogImageControl", targets: ["LogImageControl"]),
        .library(name: "LogImageMetrics", targets: ["LogImageMetrics"]),
        // Test-only (never a dependency of logimg, LogImageNBD, Compactor or LogImageRados): products
        // only so that the fuzz targets in Fuzz/ (a separate package; see Fuzz/Package.swift) can use them.
        .library(name: "LogImageTesting", targets: ["LogImageTesting"]),
        .library(name: "LogImageNBDTesting", targets: ["LogImageNBDTesting"]),
        .executable(name: "logimg", targets: ["logimg"]),
        .executable(name: "logimg-bench", targets: ["logimg-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // liblz4 from Debian's liblz4-dev (Spec/format.md §5.5, codec 1).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // CRC32C (SSE4.2 / ARMv8 CRC), fdatasync, fallocate, flock, O_DIRECT.
        .target(name: "CLogImageShims"),
        .target(
            name: "LogImage",
            dependencies: [
                "CLZ4",
                "CLogImageShims",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Compactor", dependencies: ["LogImage"]),
        // NBD server (NetworkBlockDevice/nbd doc/proto.md) on SwiftNIO; `logimg serve` fronts it.
        .target(
            name: "LogImageNBD",
            dependencies: [
                "LogImage",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The control protocol of a served image (Spec/control.md): codec, Unix-socket server, client, ImageService.
        .target(
            name: "LogImageControl",
            dependencies: [
                "LogImage",
                "Compactor",
                "LogImageNBD",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // `logimg serve --metrics`: the statistics in the Prometheus text format over HTTP
        // (swift-metrics with swift-prometheus's factory, NIOHTTP1's server pipeline).
        .target(
            name: "LogImageMetrics",
            dependencies: [
                "LogImage",
                "LogImageNBD",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test-only: the simulated file system, the crash-state explorer, the planted bugs
        // (misbehaviour injected at the I/O layer) and the fuzz entry points of LogImage.
        .target(name: "LogImageTesting", dependencies: ["LogImage"]),
        // Test-only: the fuzz entry point of the NBD server (EmbeddedChannel from NIOEmbedded).
        .target(
            name: "LogImageNBDTesting",
            dependencies: [
                "LogImage",
                "LogImageNBD",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "logimg",
            dependencies: [
                "LogImage",
                "Compactor",
                "LogImageNBD",
                "LogImageControl",
                "LogImageMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Compaction benchmark (bench/compaction.sh); build with -c release.
        .executableTarget(name: "logimg-compactbench", dependencies: ["LogImage", "Compactor"]),
        // In-process engine benchmark (bench/engine.sh); build with -c release.
        .executableTarget(name: "logimg-bench", dependencies: ["LogImage", "Compactor"]),
        // The crash-state explorer over its workload families (bench/crashtest.sh); build with -c release.
        .executableTarget(
            name: "logimg-crashtest",
            dependencies: [
                "LogImage",
                "LogImageTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "LogImageTestSupport",
            dependencies: ["LogImage", "LogImageTesting"],
            path: "Tests/LogImageTestSupport"
        ),
        .testTarget(
            name: "LogImageTests",
            dependencies: ["LogImage", "LogImageTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        // Runs the built `logimg` binary (swift build --build-tests builds it).
        .testTarget(name: "CompactorTests", dependencies: ["Compactor", "LogImage", "LogImageTestSupport"]),
        .testTarget(name: "logimgCLITests", dependencies: ["LogImage", "LogImageTestSupport"]),
        // Drives the NBD server with real clients (nbdinfo, qemu-io, qemu-img, nbdcopy, fio, python3-libnbd).
        .testTarget(name: "LogImageNBDTests", dependencies: ["LogImage", "LogImageNBD", "LogImageTestSupport"]),
        // Runs ImageService + ControlServer in process against a real NBDServer, with raw sockets and ControlClient.
        .testTarget(name: "LogImageControlTests",
                    dependencies: ["LogImage", "LogImageControl", "LogImageNBD", "Compactor", "LogImageTestSupport"]),
        // Scrapes `MetricsServer` with curl; the engine and compaction statistics.
        .testTarget(name: "LogImageMetricsTests",
                    dependencies: ["LogImage", "LogImageNBD", "LogImageMetrics", "Compactor", "LogImageTestSupport"]),
        // Runs every file of the fuzz seed corpora (Tests/Fuzz/Corpus, read via #filePath) through its
        // fuzz entry point; the libFuzzer targets themselves are in the separate package Fuzz/.
        .testTarget(name: "FuzzRegressionTests",
                    dependencies: ["LogImage", "LogImageNBD", "LogImageControl", "LogImageTesting", "LogImageNBDTesting", "LogImageTestSupport"]),
    ]
)

// Ceph RADOS segment store (Spec/format.md §3.1). librados-dev ships no pkg-config file, so
// these targets are added only where its header is installed: without it,
// `swift build` and `swift test` build everything else exactly as before.
// LogImageRadosTests skip (XCTSkip) unless CEPH_CONF names a running cluster
// (bench/ceph-single-node.sh starts one).
if FileManager.default.fileExists(atPath: "/usr/include/rados/librados.h") {
    package.products.append(.library(name: "LogImageRados", targets: ["LogImageRados"]))
    package.targets += [
        // librados' header only: the library itself is loaded with dlopen on first use (Sources/CRados).
        .target(name: "CRados", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "LogImageRados",
            dependencies: ["LogImage", "CRados", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(name: "LogImageRadosTests", dependencies: ["LogImage", "LogImageRados", "Compactor", "LogImageTestSupport"]),
    ]
    // The CLI takes rados://POOL/NAME wherever it takes an image path.
    package.targets.first { $0.name == "logimg" }!.dependencies.append("LogImageRados")
}
