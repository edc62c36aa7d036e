import Dispatch

/// A buffer handed to another thread for the duration of a read (the caller
/// keeps it alive and does not touch it until the read completes).
package struct ReadBuffer: @unchecked Sendable {
    package let bytes: UnsafeMutableRawBufferPointer
    package init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
}

/// A read started by `StorageFile.startRead(into:at:)`, to wait for.
package final class PendingRead: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private var result: Result<Int, LogImageError>?  // written before `finished` is signalled
    fileprivate var waited = false

    fileprivate init() {}

    fileprivate func complete(_ r: Result<Int, LogImageError>) {
        result = r
        finished.signal()
    }

    /// Waits for the read; returns the bytes read (fewer only at the end of the
    /// file). Call it once: until then the read may still be writing into the buffer.
    package func wait() throws -> Int {
        finished.wait()
        waited = true
        return try result!.get()
    }

    /// Never lets the buffer go while the read may still write into it.
    deinit { if !waited { finished.wait() } }
}

extension StorageFile {
    /// Starts a read to wait for later (`PendingRead.wait()`), on a file with
    /// `.callbackReads`. `buffer` must stay valid until then.
    package func startRead(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> PendingRead {
        let pending = PendingRead()
        do { try startRead(into: ReadBuffer(buffer), at: offset) { pending.complete($0) } } catch {
            pending.waited = true  // nothing was started: `deinit` must not wait for a completion that never comes
            throw error
        }
        return pending
    }
}
