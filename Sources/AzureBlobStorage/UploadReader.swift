import Dispatch
import ToolboxCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads an upload's source block by block, one read at a time, in order.
///
/// Reads run on the reader's own serial queue (file reads are short, page-cache-backed system calls; they never
/// run on the HTTP connections' queues). A read returns up to `max` bytes, fewer only at the end; an empty
/// array means the end.
final class UploadReader: @unchecked Sendable {
    // @unchecked Sendable: `fd`, `offset`, `leftover`, `ended` and `spares` are touched only on `queue`.
    private let queue = LibraryQueues.makeQueue(label: "AzureBlobStorage.upload-reader")
    private let source: BlobUploadSource
    private var fd: Int32 = -1
    private var offset: Int64 = 0
    private var leftover: [UInt8] = []
    private var ended = false
    private var delivered: Int64 = 0
    /// File blocks whose upload finished, read into again instead of allocating: a fresh 8 MiB array per block
    /// came from glibc's arenas once its dynamic mmap threshold rose, and the upload's RSS grew to 2–4× the
    /// blocks in flight; reusing them keeps it near `concurrency` blocks.
    private var spares: [[UInt8]] = []
    private static let maxSpares = 2
    /// The total size when known (bytes, file, stream with a length).
    let totalSize: Int64?
    let description: String

    init(_ source: BlobUploadSource) throws(ToolboxError) {
        self.source = source
        switch source {
        case .bytes(let bytes):
            totalSize = Int64(bytes.count)
            description = "\(bytes.count) bytes"
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                throw ToolboxError(.invalidArgument, "cannot open '\(path)' for reading: \(reason)")
            }
            var info = stat()
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw ToolboxError(.invalidArgument, "'\(path)' is not a regular file")
            }
            self.fd = fd
            totalSize = Int64(info.st_size)
            description = "file '\(path)'"
        case .stream(let length, _):
            if let length, length < 0 {
                throw ToolboxError(.invalidArgument, "a stream's length cannot be negative (\(length))")
            }
            totalSize = length
            description = "a stream"
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes the file (later reads fail); safe to call more than once.
    func finish() {
        queue.async { [self] in
            if fd >= 0 { close(fd) }
            fd = -1
            ended = true
            spares = []
        }
    }

    /// Gives back a block whose upload is done, for the next file read to fill (a copy is made then only if
    /// someone still shares it).
    func recycle(_ block: [UInt8]) {
        guard case .file = source, !block.isEmpty else { return }
        queue.async { [self] in
            if spares.count < Self.maxSpares, !ended { spares.append(block) }
        }
    }

    /// Delivers the next up to `max` bytes (on the reader's queue).
    func read(max: Int, completion: @escaping @Sendable (Result<[UInt8], ToolboxError>) -> Void) {
        queue.async { [self] in
            switch source {
            case .bytes(let bytes):
                let start = Int(offset)
                let end = min(bytes.count, start + max)
                offset = Int64(end)
                completion(.success(start < end ? Array(bytes[start..<end]) : []))
            case .file:
                completion(readFile(max: max))
            case .stream(_, let next):
                pull(next, max: max, completion: completion)
            }
        }
    }

    private func readFile(max: Int) -> Result<[UInt8], ToolboxError> {
        guard let total = totalSize, fd >= 0 else {
            return .failure(ToolboxError(.cancelled, "the upload's file was closed"))
        }
        let want = Int(min(Int64(max), total - offset))
        guard want > 0 else { return .success([]) }
        var buffer: [UInt8]
        if let spare = spares.popLast(), spare.count == want {
            buffer = spare
        } else {
            // Every byte is overwritten by the reads below before anyone sees the buffer (or it is dropped).
            buffer = [UInt8](unsafeUninitializedCapacity: want) { _, count in count = want }
        }
        var filled = 0
        while filled < want {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd, base + filled, want - filled, off_t(offset) + off_t(filled))
            }
            if count < 0, errno == EINTR { continue }
            if count < 0 {
                return .failure(ToolboxError(.invalidArgument, "reading \(description) at offset "
                    + "\(offset + Int64(filled)) failed: \(String(cString: strerror(errno)))"))
            }
            if count == 0 {
                return .failure(ToolboxError(.invalidArgument, "\(description) shrank while it was uploaded (ended "
                    + "at \(offset + Int64(filled)) of \(total) bytes)"))
            }
            filled += count
        }
        offset += Int64(want)
        return .success(buffer)
    }

    /// Pulls pieces until `max` bytes are buffered or the stream ends; keeps what is beyond `max` for next time.
    private func pull(_ next: @escaping @Sendable (@escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) -> Void,
                      max: Int, completion: @escaping @Sendable (Result<[UInt8], ToolboxError>) -> Void) {
        if leftover.count >= max || ended {
            let take = min(max, leftover.count)
            let block = Array(leftover.prefix(take))
            leftover.removeFirst(take)
            if ended, let total = totalSize, block.isEmpty, delivered != total {
                return completion(.failure(ToolboxError(.invalidArgument, "the stream ended after \(delivered) "
                    + "bytes but announced \(total)")))
            }
            delivered += Int64(block.count)
            if let total = totalSize, delivered > total {
                return completion(.failure(ToolboxError(.invalidArgument, "the stream delivered more than the "
                    + "\(total) bytes it announced")))
            }
            return completion(.success(block))
        }
        next { [self] result in
            queue.async { [self] in
                switch result {
                case .failure(let error):
                    completion(.failure(ToolboxError(.invalidArgument, "the upload stream failed: \(error)",
                                                     underlying: error)))
                case .success(nil):
                    ended = true
                    pull(next, max: max, completion: completion)
                case .success(let piece?):
                    leftover += piece
                    pull(next, max: max, completion: completion)
                }
            }
        }
    }
}
