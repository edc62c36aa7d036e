import ArgumentParser
import LogImage

/// `logimg create PATH --size SIZE [--segment-size SIZE] [--compression none|lz4]`
struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a new, empty image.",
        discussion: """
            Sizes take binary units: 512, 4K, 512M, 20G, 1T (an optional B or iB \
            may follow). The virtual size must be a multiple of 512.

            Example: logimg create disk.limg --size 20G
            """
    )

    @Argument(help: "Image to create: a directory (conventionally NAME.limg), or rados://POOL/NAME. Must not exist.")
    var path: String

    @Option(name: .long, help: "Virtual disk size, e.g. 20G.", transform: SizeParser.parseDiskSize)
    var size: UInt64

    @Option(name: .long, help: "Segment file size, 1M to 2G, a multiple of 4K (default 64M).",
            transform: SizeParser.parseSegmentSize)
    var segmentSize: Int?

    @Option(name: .long, help: "Compress data records: none or lz4.")
    var compression: CompressionOption = .none

    func run() throws {
        var options = LogImage.CreateOptions(virtualSize: size)
        if let segmentSize { options.segmentSize = segmentSize }
        options.compression = compression == .lz4
        let image = try ImageName.create(path, options: options)
        try image.close()
        print("Formatting '\(path)', fmt=limg size=\(size) segment_size=\(options.segmentSize) compression=\(compression.rawValue)")
    }
}
