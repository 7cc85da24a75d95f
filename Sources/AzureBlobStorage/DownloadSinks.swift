import Dispatch
import ToolboxCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a download in place into a file (`pwrite` at each range's offset), so ranges land in any order; into a
/// pipe, FIFO or terminal (which cannot seek) in order, with `write`, from a download of one range at a time.
///
/// An existing file is left as it was until the first answer has come and the file is sized to the blob: a
/// download that fails before (404, a wrong key, a bad argument) does not touch it. One that fails after removes
/// the file, which no longer holds what it held nor the whole blob.
final class FileSink: DownloadSink, @unchecked Sendable {
    // @unchecked Sendable: `fd`, `writers`, `closing`, `sized` and `nextOffset` are guarded by `lock`. A write
    // holds the lock only to count itself in and out; the descriptor is closed by whoever leaves it unused last
    // (`finish`, or the last write after it), so no write can hit a closed descriptor.
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
    /// False for a pipe, FIFO, socket or terminal: bytes go out with `write`, in order (`nextOffset`).
    let isSeekable: Bool
    /// This download made the file (it did not exist): removed after any failure.
    private let created: Bool
    /// The file has been sized to the blob (`prepare`): from then on a failure leaves it half-written.
    private var sized = false
    /// Where the next in-order write must start (a target that cannot seek).
    private var nextOffset: Int64?

    /// Opens `path` for writing, creating it if needed; an existing file is not truncated here (`prepare` sizes it).
    init(path: String) throws(ToolboxError) {
        var created = true
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0, errno == EEXIST {
            created = false
            fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd < 0, errno == ENOENT {
                // A symbolic link to a file that does not exist yet (O_EXCL does not follow links): create its target.
                created = true
                fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            }
        }
        guard fd >= 0 else {
            throw ToolboxError(.invalidArgument, "cannot open '\(path)' for writing: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        self.isRegularFile = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        self.fileID = isRegularFile ? (info.st_dev, info.st_ino) : nil
        // A terminal can seek on some systems but takes no pwrite (ENXIO on macOS): it is written in order too.
        self.isSeekable = isRegularFile || (lseek(fd, 0, SEEK_CUR) >= 0 && isatty(fd) == 0)
        self.created = created
        self.fd = fd
        self.path = path
    }

    /// The opened regular file's device and inode: only a path that still names this very file (not a symbolic
    /// link to it, not a file put there since) is unlinked after a failure.
    private let fileID: (device: dev_t, inode: ino_t)?

    /// Whether `path` itself (not followed) is the regular file this sink writes.
    private func pathIsTheFile() -> Bool {
        guard let fileID else { return false }
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            && info.st_dev == fileID.device && info.st_ino == fileID.inode
    }

    deinit { if fd >= 0 { close(fd) } }

    func prepare(length: Int64) -> ToolboxError? {
        lock.withLock {
            guard fd >= 0, !closing else { return ToolboxError(.cancelled, "the download to '\(path)' was stopped") }
            if !isSeekable { nextOffset = nextOffset ?? 0 }
            guard isRegularFile else { return nil }
            guard ftruncate(fd, off_t(length)) == 0 else {
                return ToolboxError(.invalidArgument, "cannot size '\(path)' to \(length) bytes: "
                    + String(cString: strerror(errno)))
            }
            sized = true
            return nil
        }
    }

    func write(_ bytes: [UInt8], at offset: Int64) -> ToolboxError? {
        let (fd, expected): (Int32?, Int64?) = lock.withLock {
            guard self.fd >= 0, !closing else { return (nil, nil) }
            writers += 1
            return (self.fd, nextOffset)
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
        if let expected {
            // One range at a time, each written from its first byte on (a retried range resumes where it stopped).
            guard offset == expected else {
                return ToolboxError(.invalidArgument, "'\(path)' cannot seek (a pipe or terminal): bytes at \(offset) "
                    + "came where \(expected) was next")
            }
            lock.withLock { nextOffset = expected + Int64(bytes.count) }
        }
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                if expected != nil { return writeToDescriptor(fd, base + done, bytes.count - done) }
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
    /// regular file this download made or already sized (a failed download leaves nothing half-written behind, and
    /// a file it never wrote to as it was); devices and pipes are never unlinked. A file reached through a
    /// symbolic link is emptied instead: the link is the user's (`--file /dev/stdout` redirected to a file must
    /// not unlink `/dev/stdout`).
    func finish(remove: Bool) {
        let closeNow: Int32? = lock.withLock {
            guard !closing else { return nil }
            closing = true
            // Unlinking an open file is safe: a write still running lands in the unlinked file.
            if remove, isRegularFile, created || sized {
                if pathIsTheFile() { unlink(path) } else if fd >= 0 { _ = ftruncate(fd, 0) }
            }
            guard writers == 0, fd >= 0 else { return nil }
            defer { fd = -1 }
            return fd
        }
        if let closeNow { close(closeNow) }
    }
}

/// `write(2)`, named apart from `DownloadSink.write`. A pipe whose reader has gone raises SIGPIPE, which ends the
/// process by default: on Linux the signal is blocked on this thread around the write and the one it raised is
/// taken back, so the write fails with EPIPE instead (sockets use MSG_NOSIGNAL for the same reason).
private func writeToDescriptor(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int {
    #if os(Linux)
    var pipeSignal = sigset_t()
    sigemptyset(&pipeSignal)
    sigaddset(&pipeSignal, SIGPIPE)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let written = write(fd, base, count)
    let code = errno
    if written < 0, code == EPIPE {
        var pending = sigset_t()
        if sigpending(&pending) == 0, sigismember(&pending, SIGPIPE) == 1 {
            var now = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&pipeSignal, nil, &now)
        }
    }
    errno = code
    return written
    #else
    return write(fd, base, count)
    #endif
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
