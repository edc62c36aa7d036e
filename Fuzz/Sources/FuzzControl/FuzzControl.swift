import LogImageControl

/// libFuzzer entry point (libFuzzer provides `main`; build with --sanitize fuzzer):
/// the bytes as one control request line (Spec/control.md §4), parsed,
/// validated and answered with the reply or error line the server would send.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch ControlProtocol.parseAndValidate(bytes) {
    case .success(let r): _ = ControlProtocol.replyLine(.object(r.arguments), id: r.id)
    case .failure(let f): _ = ControlProtocol.errorLine(f)
    }
    return 0
}
