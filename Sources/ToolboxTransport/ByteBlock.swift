#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of bytes in memory pages of its own, for large request bodies that are filled and sent over and over
/// (a Blob upload's 8 MiB blocks): `HTTPRequestBody.block` sends it without copying it.
///
/// Why not a `[UInt8]`: an array's storage comes from `malloc`, and once one such block has been freed glibc
/// raises its mmap threshold and serves the next ones from its arenas, which keep the memory after they are freed;
/// and an array still referenced by a finishing request is copied when it is written again. A `ByteBlock` is
/// mapped and unmapped on its own (the memory goes back to the system when it is released), and its owner can
/// tell with `isKnownUniquelyReferenced` whether a request still holds it before filling it again.
///
/// ```swift
/// var block = ByteBlock(capacity: 8 << 20)!
/// if isKnownUniquelyReferenced(&block) { block.fill(count: n) { buffer in read(into: buffer) } }
/// request.body = .block(block)
/// ```
public final class ByteBlock: @unchecked Sendable {
    // @unchecked Sendable: the bytes and `count` change only in `fill`, which the owner calls only while it holds
    // the sole reference (checked with `isKnownUniquelyReferenced`, as arrays check before writing in place); a
    // block handed to a request is only read, and it is handed over through a queue (happens-before).
    /// The most bytes the block holds.
    public let capacity: Int
    /// How many bytes, from the start, are the block's content.
    public private(set) var count: Int = 0
    private let base: UnsafeMutableRawPointer
    private let mapped: Bool

    /// A block of `capacity` bytes (at least 1), mapped anonymously; nil when the system has no memory for it.
    public init?(capacity: Int) {
        let size = max(1, capacity)
        if let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           address != MAP_FAILED {
            base = address
            mapped = true
        } else if let address = malloc(size) {
            base = address
            mapped = false
        } else {
            return nil
        }
        self.capacity = size
    }

    deinit {
        if mapped { munmap(base, capacity) } else { free(base) }
    }

    /// Lets `body` write the first `count` bytes (clamped to `0...capacity`), which become the content whatever
    /// `body` does; call it only while you hold the sole reference.
    public func fill<R, E: Error>(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let count = min(max(0, count), capacity)
        self.count = count
        return try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Reads the content.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy of the content, as an array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Bytes to send from memory: an array, or a block's content (sent from where it is). A connection stages either
/// in pieces; a Blob upload reads a file's blocks into `ByteBlock`s and a byte or stream source into arrays.
package enum OutgoingBytes: Sendable {
    case bytes([UInt8])
    case block(ByteBlock)

    package var count: Int {
        switch self {
        case .bytes(let bytes): bytes.count
        case .block(let block): block.count
        }
    }

    package var isEmpty: Bool { count == 0 }

    /// The request body that sends them with `Content-Length`.
    package var body: HTTPRequestBody {
        switch self {
        case .bytes(let bytes): .bytes(bytes)
        case .block(let block): .block(block)
        }
    }

    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .bytes(let bytes): bytes.withUnsafeBytes(body)
        case .block(let block): block.withUnsafeBytes(body)
        }
    }
}
