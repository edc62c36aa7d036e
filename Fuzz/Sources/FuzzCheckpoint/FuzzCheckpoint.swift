import LogImageTesting

/// libFuzzer entry point (libFuzzer provides `main`; build with --sanitize fuzzer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _FuzzEntryPoints.checkpoint(bytes)
    _FuzzEntryPoints.snapshotPayload(bytes)
    return 0
}
