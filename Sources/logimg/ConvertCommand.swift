import ArgumentParser
import Foundation
import LogImage
#if canImport(Glibc)
import Glibc
#endif

/// `logimg convert [-f auto|raw|limg] [-O limg|raw] [--compression none|lz4] [--segment-size SIZE] SRC DST`
///
/// Copies the guest-visible contents of SRC into a new DST. Holes, zeroed
/// ranges and all-zero 4 KiB blocks are not copied: a limg destination does
/// not store them, a raw destination leaves them sparse.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Copy a disk image into a new image of another (or the same) format.",
        discussion: """
            The source format is detected: a directory with a manifest is limg; \
            a regular file or block device is raw; qcow2, VMDK, VHDX, VHD and VDI \
            files are read by qemu-img, which writes into this image over a \
            private NBD socket. -O qcow2 (or vmdk, vhdx, vdi, vpc, qed) exports \
            the same way. Those two need qemu-img (Debian: qemu-utils).
            DST must not exist. A progress bar is shown when stderr is a terminal.

            Examples:
              logimg convert disk.raw disk.limg
              logimg convert -O raw disk.limg disk.raw
              logimg convert --compression lz4 old.limg packed.limg
              logimg convert --snapshot before-upgrade -O raw disk.limg old.raw
            """
    )

    enum SourceFormat: String, ExpressibleByArgument, CaseIterable { case auto, raw, limg, qemu }
    enum DestinationFormat: String, ExpressibleByArgument, CaseIterable { case limg, raw, qcow2, vmdk, vhdx, vdi, vpc, qed }

    @Option(name: [.customShort("f"), .customLong("source-format")], help: "Source format: auto, raw, limg, or qemu (any format qemu-img reads).")
    var sourceFormat: SourceFormat = .auto

    @Option(name: [.customShort("O"), .customLong("output-format")], help: "Destination format: limg, raw, or a qemu-img format (qcow2, vmdk, vhdx, vdi, vpc, qed).")
    var outputFormat: DestinationFormat = .limg

    @Option(name: .long, help: "limg destination: compression none or lz4 (default: the source's, else none).")
    var compression: CompressionOption?

    @Option(name: .long, help: "limg destination: segment size (default: the source's, else 64M).",
            transform: SizeParser.parseSegmentSize)
    var segmentSize: Int?

    @Option(name: [.customShort("l"), .customLong("snapshot")], help: "limg source: export this snapshot instead of the current contents.")
    var snapshot: String?

    @Argument(help: "Source image: raw file, block device, NAME.limg directory or rados://POOL/NAME.")
    var source: String

    @OptionGroup var share: ForceShareOption

    @Argument(help: "Destination to create (must not exist); a limg destination may be rados://POOL/NAME.")
    var destination: String

    func validate() throws {
        if outputFormat != .limg && (compression != nil || segmentSize != nil) {
            throw ValidationError("--compression and --segment-size apply only to -O limg")
        }
    }

    func run() throws {
        let format = try sourceFormat == .auto ? Self.detect(source) : sourceFormat
        var st = stat()
        if lstat(destination, &st) == 0 {
            throw CLIError("'\(destination)' already exists; convert creates a new destination and never overwrites")
        }
        if try runThroughQemu(format) { return }

        if snapshot != nil && format == .raw {
            throw CLIError("--snapshot needs a limg source; '\(source)' is raw")
        }
        let src: any ConvertSource = format == .raw
            ? try RawSource(RawFile.openForReading(source))
            : try LimgSource(ImageName.open(source, mode: .readOnly, forceShare: share.forceShare), snapshot: snapshot)

        let dst: any ConvertDestination
        switch outputFormat {
        case .raw:
            dst = try RawDestination(path: destination, size: src.size)
        default:  // .limg (qemu-img formats were handled above)
            var options = LogImage.CreateOptions(virtualSize: (src.size + 511) & ~511)
            if let segmentSize { options.segmentSize = segmentSize } else if let s = src.segmentSize { options.segmentSize = s }
            options.compression = (compression ?? src.compression ?? .none) == .lz4
            dst = LimgDestination(try ImageName.create(destination, options: options), path: destination)
        }

        let start = monotonicSeconds()
        let stored: UInt64
        do {
            stored = try Converter(source: src, destination: dst).run()
            try dst.finish()
        } catch {
            dst.abort()
            throw error
        }
        let seconds = max(monotonicSeconds() - start, 1e-6)
        let rate = SizeParser.human(UInt64(Double(src.size) / seconds))
        print("converted \(SizeParser.human(src.size)) in \(String(format: "%.1f", seconds)) s (\(rate)/s), \(SizeParser.human(stored)) stored")
    }

    /// Conversions that involve a qemu-img format; false when neither side does.
    private func runThroughQemu(_ format: SourceFormat) throws -> Bool {
        let foreignOut = outputFormat != .limg && outputFormat != .raw
        guard format == .qemu || foreignOut else { return false }
        let start = monotonicSeconds()
        let size: UInt64
        var stored: UInt64?
        switch (format, foreignOut) {
        case (.qemu, false) where outputFormat == .limg:
            let r = try QemuInterop.importImage(source, to: destination) { size in
                var o = LogImage.CreateOptions(virtualSize: size)
                if let segmentSize { o.segmentSize = segmentSize }
                o.compression = compression == .lz4
                return o
            }
            (size, stored) = (r.size, r.stored)
        case (.qemu, _):
            if snapshot != nil { throw CLIError("--snapshot needs a limg source") }
            size = try QemuInterop.describe(source).size
            _ = try QemuInterop.run(["convert", "-O", outputFormat.rawValue, source, destination], showProgress: Output.stderrIsTerminal)
        case (.limg, _):
            size = try QemuInterop.exportImage(source, snapshot: snapshot, to: destination, format: outputFormat.rawValue)
        default:
            if snapshot != nil { throw CLIError("--snapshot needs a limg source; '\(source)' is raw") }
            size = try QemuInterop.describe(source).size
            _ = try QemuInterop.run(["convert", "-f", "raw", "-O", outputFormat.rawValue, source, destination], showProgress: Output.stderrIsTerminal)
        }
        let seconds = max(monotonicSeconds() - start, 1e-6)
        let rate = SizeParser.human(UInt64(Double(size) / seconds))
        let tail = stored.map { ", \(SizeParser.human($0)) stored" } ?? ""
        print("converted \(SizeParser.human(size)) in \(String(format: "%.1f", seconds)) s (\(rate)/s) via qemu-img\(tail)")
        return true
    }

    /// Known foreign formats by their first bytes.
    static let foreignMagics: [(magic: [UInt8], name: String)] = [
        (Array("QFI".utf8) + [0xFB], "qcow2"),
        (Array("KDMV".utf8), "VMDK"),
        (Array("# Disk DescriptorFile".utf8), "VMDK (descriptor)"),
        (Array("vhdxfile".utf8), "VHDX"),
        (Array("conectix".utf8), "VHD (vpc)"),
        (Array("<<< Oracle VM VirtualBox Disk Image >>>".utf8), "VDI"),
    ]

    /// The format of `path`, or an error saying why it cannot be converted.
    static func detect(_ path: String) throws -> SourceFormat {
        if ImageName.isURL(path) { return .limg }
        var st = stat()
        guard stat(path, &st) == 0 else { throw CLIError.errno("could not open", path) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            guard access(path + "/manifest", F_OK) == 0 else {
                throw CLIError("'\(path)' is a directory but not a logimg image (no manifest)")
            }
            return .limg
        case S_IFREG, S_IFBLK:
            let file = try RawFile.openForReading(path)
            var head = [UInt8](repeating: 0, count: 64)
            let n = try head.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
            let first = head[0..<n]
            for (magic, _) in foreignMagics where first.starts(with: magic) {
                return .qemu  // qemu-img reads it (a clear error if qemu-img is missing)
            }
            if first.starts(with: Array("LIMG\r\n\u{1A}\n".utf8)) {
                throw CLIError("'\(path)' is a logimg manifest; pass the image directory instead")
            }
            return .raw
        default:
            throw CLIError("'\(path)' is neither a regular file, a block device nor a logimg image")
        }
    }
}

// MARK: - The copy loop

/// Where convert reads from.
protocol ConvertSource {
    /// Bytes of guest-visible data.
    var size: UInt64 { get }
    /// Settings a limg destination inherits when not given.
    var segmentSize: Int? { get }
    var compression: CompressionOption? { get }
    /// Visits `[start, end)` as `(start, end, kind)` runs in order.
    func ranges(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws
    /// Reads `buffer.count` bytes at `offset` (past the end of a raw file reads zeros).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
}

/// Where convert writes to. The destination starts out reading all zeros.
protocol ConvertDestination {
    var size: UInt64 { get }
    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// A range the source marks as allocated zeros.
    func writeZeroes(at offset: UInt64, length: UInt64) throws
    /// Makes everything durable and closes.
    func finish() throws
    /// Closes and removes the partial destination after a failure.
    func abort()
}

struct Converter {
    let source: any ConvertSource
    let destination: any ConvertDestination
    static let chunk = 4 << 20
    static let window: UInt64 = 256 << 20
    static let block = 4096

    /// Copies everything; returns the bytes of data written.
    func run() throws -> UInt64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunk, alignment: 4096)
        defer { buffer.deallocate() }
        let zero = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.block, alignment: 4096)
        defer { zero.deallocate() }
        zero.initializeMemory(as: UInt8.self, repeating: 0)

        let progress = ProgressBar(total: source.size)
        defer { progress.finish() }
        var stored: UInt64 = 0
        var windowStart: UInt64 = 0
        while windowStart < source.size {
            let windowEnd = min(source.size, windowStart + Self.window)
            try source.ranges(from: windowStart, to: windowEnd) { start, end, kind in
                switch kind {
                case .hole:
                    break
                case .zero:
                    try destination.writeZeroes(at: start, length: end - start)
                case .data:
                    var pos = start
                    while pos < end {
                        let chunkEnd = min(end, (pos / UInt64(Self.chunk) + 1) * UInt64(Self.chunk))
                        stored += try copy(pos, chunkEnd, buffer: buffer, zero: zero)
                        pos = chunkEnd
                        progress.update(pos)
                    }
                }
            }
            windowStart = windowEnd
            progress.update(windowStart)
        }
        return stored
    }

    /// Copies `[start, end)` (at most one chunk), skipping all-zero 4 KiB blocks.
    private func copy(_ start: UInt64, _ end: UInt64, buffer: UnsafeMutableRawBufferPointer,
                      zero: UnsafeMutableRawBufferPointer) throws -> UInt64 {
        // Reads and writes are whole 512-byte sectors; a raw source's odd tail reads as zeros.
        let padded = min((end + 511) & ~511, max(destination.size, end)) - start
        let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(padded)])
        try source.read(into: piece, at: start)
        let limit = min(start + padded, destination.size)
        var stored: UInt64 = 0
        var runStart: UInt64? = nil
        var pos = start
        func flushRun(_ runEnd: UInt64) throws {
            guard let s = runStart else { return }
            let e = min(runEnd, limit)
            if e > s {
                try destination.write(UnsafeRawBufferPointer(rebasing: buffer[Int(s - start)..<Int(e - start)]), at: s)
                stored += e - s
            }
            runStart = nil
        }
        while pos < start + padded {
            let blockEnd = min(start + padded, (pos / UInt64(Self.block) + 1) * UInt64(Self.block))
            let isZero = memcmp(buffer.baseAddress! + Int(pos - start), zero.baseAddress!, Int(blockEnd - pos)) == 0
            if isZero { try flushRun(pos) } else if runStart == nil { runStart = pos }
            pos = blockEnd
        }
        try flushRun(pos)
        return stored
    }
}

// MARK: - Formats

final class RawSource: ConvertSource {
    let file: RawFile
    let size: UInt64
    var segmentSize: Int? { nil }
    var compression: CompressionOption? { nil }

    init(_ file: RawFile) throws {
        self.file = file
        self.size = try file.size()
    }

    func ranges(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        try file.ranges(from: start, to: end) { s, e, isData in try body(s, e, isData ? .data : .hole) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        let n = try file.read(into: buffer, at: offset)
        if n < buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[n...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }
}

/// A limg image: its head, or with `snapshot` one of its snapshots (a read-only view).
final class LimgSource: ConvertSource {
    let image: LogImage
    let view: LogImageView?
    let size: UInt64
    /// Whether this source closes `image` when released (false when another source shares it).
    let ownsImage: Bool

    init(_ image: LogImage, snapshot: String? = nil, ownsImage: Bool = true) throws {
        self.image = image
        self.ownsImage = ownsImage
        do {
            view = try snapshot.map { try image.openSnapshot(name: $0) }
        } catch {
            if ownsImage { try? image.close() }
            throw error
        }
        size = view?.virtualSize ?? image.virtualSize
    }

    // From info() only when asked (convert to limg): it also totals every snapshot, which map and compare need not pay.
    var segmentSize: Int? { (try? image.info()).map { Int($0.segmentSize) } }
    var compression: CompressionOption? { (try? image.info()).flatMap { CompressionOption(rawValue: $0.compression) } }

    deinit { if ownsImage { try? image.close() } }

    func ranges(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64, AllocationKind) throws -> Void) throws {
        if let view {
            try view.allocation(at: start, length: end - start) { off, len, kind in try body(off, off + len, kind) }
        } else {
            try image.allocation(at: start, length: end - start) { off, len, kind in try body(off, off + len, kind) }
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        if let view { try view.read(into: buffer, at: offset) } else { try image.read(into: buffer, at: offset) }
    }
}

final class RawDestination: ConvertDestination {
    let file: RawFile
    let path: String
    let size: UInt64

    init(path: String, size: UInt64) throws {
        file = try RawFile.create(path)
        self.path = path
        self.size = size
        do { try file.truncate(to: size) } catch { abort(); throw error }
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws { try file.write(data, at: offset) }
    func writeZeroes(at offset: UInt64, length: UInt64) throws {}  // already zero: the file starts sparse
    func finish() throws { try file.sync() }
    func abort() { unlink(path) }
}

final class LimgDestination: ConvertDestination {
    let image: LogImage
    let path: String
    var size: UInt64 { image.virtualSize }

    init(_ image: LogImage, path: String) {
        self.image = image
        self.path = path
    }

    func write(_ data: UnsafeRawBufferPointer, at offset: UInt64) throws { try image.write(data, at: offset) }
    func writeZeroes(at offset: UInt64, length: UInt64) throws { try image.writeZeroes(at: offset, length: length) }
    func finish() throws {
        try image.flush()
        try image.close()
    }
    func abort() {
        try? image.close()
        try? ImageName.removeUnfinished(path)
    }
}
