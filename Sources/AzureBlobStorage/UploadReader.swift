import Dispatch
import ToolboxCore
import ToolboxTransport

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
/// run on the HTTP connections' queues). A read returns up to `max` bytes, fewer only at the end; nothing means
/// the end. A file is read into the reader's `ByteBlock`s, a byte or stream source into arrays.
final class UploadReader: @unchecked Sendable {
    // @unchecked Sendable: `fd`, `offset`, `leftover`, `ended` and `blocks` are touched only on `queue`.
    private let queue = LibraryQueues.makeQueue(label: "AzureBlobStorage.upload-reader")
    private let source: BlobUploadSource
    private var fd: Int32 = -1
    private var offset: Int64 = 0
    private var leftover: [UInt8] = []
    private var ended = false
    private var delivered: Int64 = 0
    /// The blocks a file is read into, each filled again once no request holds it any more
    /// (`isKnownUniquelyReferenced`), and a new one mapped only when all are in use: so the upload's memory stays
    /// near the blocks in flight, and none of it comes from (or stays in) malloc's arenas. 8 MiB arrays, recycled
    /// when their request completed, were still held by the finishing request's closures 13–22 times in 96 and
    /// copied into the arenas, which kept the memory (max RSS 134–208 MB for a 256 MiB upload with 8 × 8 MiB).
    private var blocks: [ByteBlock] = []
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

    /// Closes the file (later reads fail) and lets the blocks go (each is unmapped once its last request is over);
    /// safe to call more than once.
    func finish() {
        queue.async { [self] in
            if fd >= 0 { close(fd) }
            fd = -1
            ended = true
            blocks = []
        }
    }

    /// Delivers the next up to `max` bytes (on the reader's queue).
    func read(max: Int, completion: @escaping @Sendable (Result<OutgoingBytes, ToolboxError>) -> Void) {
        queue.async { [self] in
            switch source {
            case .bytes(let bytes):
                let start = Int(offset)
                let end = min(bytes.count, start + max)
                offset = Int64(end)
                completion(.success(.bytes(start < end ? Array(bytes[start..<end]) : [])))
            case .file:
                completion(readFile(max: max))
            case .stream(_, let next):
                pull(next, max: max) { completion($0.map(OutgoingBytes.bytes)) }
            }
        }
    }

    /// A block no request holds any more with room for `size` bytes, else a new one (kept for reuse).
    private func freeBlock(size: Int) -> ByteBlock? {
        for index in blocks.indices where isKnownUniquelyReferenced(&blocks[index]) && blocks[index].capacity >= size {
            return blocks[index]
        }
        guard let block = ByteBlock(capacity: size) else { return nil }
        blocks.append(block)
        return block
    }

    private func readFile(max: Int) -> Result<OutgoingBytes, ToolboxError> {
        guard let total = totalSize, fd >= 0 else {
            return .failure(ToolboxError(.cancelled, "the upload's file was closed"))
        }
        let want = Int(min(Int64(max), total - offset))
        guard want > 0 else { return .success(.bytes([])) }
        guard let block = freeBlock(size: want) else {
            return .failure(ToolboxError(.invalidConfiguration, "no memory for a block of \(want) bytes to upload "
                + "\(description); use a smaller block size or concurrency"))
        }
        let failure: ToolboxError? = block.fill(count: want) { buffer -> ToolboxError? in
            guard let base = buffer.baseAddress else { return nil }
            var filled = 0
            while filled < want {
                let count = pread(fd, base + filled, want - filled, off_t(offset) + off_t(filled))
                if count < 0, errno == EINTR { continue }
                if count < 0 {
                    return ToolboxError(.invalidArgument, "reading \(description) at offset "
                        + "\(offset + Int64(filled)) failed: \(String(cString: strerror(errno)))")
                }
                if count == 0 {
                    return ToolboxError(.invalidArgument, "\(description) shrank while it was uploaded (ended "
                        + "at \(offset + Int64(filled)) of \(total) bytes)")
                }
                filled += count
            }
            return nil
        }
        if let failure { return .failure(failure) }
        offset += Int64(want)
        return .success(.block(block))
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
