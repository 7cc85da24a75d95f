import Dispatch
import ToolboxCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a download in place into a file (`pwrite` at each range's offset), so ranges land in any order.
final class FileSink: DownloadSink, @unchecked Sendable {
    // @unchecked Sendable: `fd`, `writers` and `closing` are guarded by `lock`. A write holds the lock only to
    // count itself in and out; the descriptor is closed by whoever leaves it unused last (`finish`, or the last
    // write after it), so no write can hit a closed descriptor.
    private let lock = Lock()
    /// One `pwrite` at a time: a buffered write holds the file's inode lock in the kernel, and concurrent writers
    /// to the same file spin on it (`rwsem_spin_on_owner`, 15 % of a download's CPU while the disk was busy writing
    /// back). Waiting here sleeps instead: 256 MiB downloads, alternating, 1.10-1.17 -> 1.00-1.13 ms of client CPU
    /// per MB; with the page cache being written back, 2.98 -> 2.01 ms (performance-history.md, 2026-12-06, night).
    private let writeGate = DispatchSemaphore(value: 1)
    private var fd: Int32
    private var writers = 0
    private var closing = false
    let path: String
    /// Only a regular file is sized, and removed after a failure: `/dev/null`, a FIFO or a terminal named as the
    /// target is written to and left alone (running as root, unlinking `/dev/null` would break the whole machine).
    private let isRegularFile: Bool

    /// Creates or truncates `path`.
    init(path: String) throws(ToolboxError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ToolboxError(.invalidArgument, "cannot open '\(path)' for writing: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        self.isRegularFile = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { close(fd) } }

    func prepare(length: Int64) -> ToolboxError? {
        lock.withLock {
            guard fd >= 0, !closing else { return ToolboxError(.cancelled, "the download to '\(path)' was stopped") }
            guard isRegularFile else { return nil }
            guard ftruncate(fd, off_t(length)) == 0 else {
                return ToolboxError(.invalidArgument, "cannot size '\(path)' to \(length) bytes: "
                    + String(cString: strerror(errno)))
            }
            return nil
        }
    }

    func write(_ bytes: [UInt8], at offset: Int64) -> ToolboxError? {
        let fd: Int32? = lock.withLock {
            guard self.fd >= 0, !closing else { return nil }
            writers += 1
            return self.fd
        }
        guard let fd else { return ToolboxError(.cancelled, "the download to '\(path)' was stopped") }
        defer {
            let closeNow: Int32? = lock.withLock {
                writers -= 1
                guard closing, writers == 0, self.fd >= 0 else { return nil }
                defer { self.fd = -1 }
                return self.fd
            }
            if let closeNow { close(closeNow) }
        }
        writeGate.wait()
        defer { writeGate.signal() }
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                return ToolboxError(.invalidArgument, "writing '\(path)' at \(offset) failed: "
                    + String(cString: strerror(errno)))
            }
            done += count
        }
        return nil
    }

    /// Closes the file (at once, or after the writes still running); with `remove`, deletes it too when it is a
    /// regular file (a failed download leaves nothing half-written behind); devices and pipes are never unlinked.
    func finish(remove: Bool) {
        let closeNow: Int32? = lock.withLock {
            guard !closing else { return nil }
            closing = true
            // Unlinking an open file is safe: a write still running lands in the unlinked file.
            if remove, isRegularFile { unlink(path) }
            guard writers == 0, fd >= 0 else { return nil }
            defer { fd = -1 }
            return fd
        }
        if let closeNow { close(closeNow) }
    }
}

/// Collects a download in one buffer allocated at its final size (ranges land at their offsets).
final class MemorySink: DownloadSink, @unchecked Sendable {
    // @unchecked Sendable: `buffer` is only touched under `lock`.
    private let lock = Lock()
    private var buffer: [UInt8] = []
    private let limit: Int64

    init(limit: Int64) { self.limit = limit }

    func prepare(length: Int64) -> ToolboxError? {
        guard length <= limit, let count = Int(exactly: length) else {
            return ToolboxError(.invalidArgument, "the blob is \(length) bytes, more than the \(limit) an in-memory "
                + "download may hold (BlobDownloadOptions.maxInMemoryBytes); download it to a file instead")
        }
        lock.withLock { buffer = [UInt8](repeating: 0, count: count) }
        return nil
    }

    func write(_ bytes: [UInt8], at offset: Int64) -> ToolboxError? {
        lock.withLock {
            guard let start = Int(exactly: offset), start >= 0, start <= buffer.count - bytes.count else {
                return ToolboxError(.invalidResponse, "the service sent bytes beyond the announced size")
            }
            buffer.replaceSubrange(start..<(start + bytes.count), with: bytes)
            return nil
        }
    }

    func take() -> [UInt8] {
        lock.withLock {
            defer { buffer = [] }
            return buffer
        }
    }
}

/// Holds one range at a time for chunked delivery: bytes are appended as they come and taken per range.
final class ChunkSink: DownloadSink, @unchecked Sendable {
    // @unchecked Sendable: `piece` is only touched under `lock`.
    private let lock = Lock()
    private var piece: [UInt8] = []

    func prepare(length: Int64) -> ToolboxError? { nil }

    func write(_ bytes: [UInt8], at offset: Int64) -> ToolboxError? {
        lock.withLock { piece += bytes }
        return nil
    }

    func take() -> [UInt8] {
        lock.withLock {
            defer { piece = [] }
            return piece
        }
    }
}
