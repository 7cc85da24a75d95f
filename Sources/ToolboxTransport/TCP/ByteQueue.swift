/// A FIFO of bytes, kept as the arrays they arrived in: appended at the end, consumed from the front.
///
/// A read that takes a whole array gets that array, not a copy of it. That is the common case on a busy
/// connection: TLS decrypts a round of records straight into one array (`TCPConnection.decryptAvailable`), a plain
/// socket's receive becomes one array, and the reader takes it as it is — where one contiguous buffer cost two
/// copies of every byte (into the buffer, and out of it into the array handed to the reader).
///
/// No bytes are kept once the queue is empty: an idle connection holds no receive buffer.
struct ByteQueue {
    private var chunks: [[UInt8]] = []
    /// Bytes of `chunks[0]` already taken.
    private var offset = 0
    private(set) var count = 0

    /// A first array shorter than this is joined with what follows it when a read asks for more (a reader should
    /// not get a run of tiny pieces, one turn of its loop each); one at least this long is handed over alone.
    static let joinBelow = 16 * 1024

    var isEmpty: Bool { count == 0 }

    /// Spare capacity of the last array: bytes that fit there are copied in rather than kept as an array of their own.
    private var roomInLast: Int { chunks.last.map { $0.capacity - $0.count } ?? 0 }

    /// Appends `bytes`, keeping the array itself (no copy) when it cannot go into the last array's spare room.
    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if roomInLast >= bytes.count {
            chunks[chunks.count - 1].append(contentsOf: bytes)
        } else {
            chunks.append(bytes)
        }
        count += bytes.count
    }

    /// Appends a copy of `bytes`.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if roomInLast >= bytes.count {
            chunks[chunks.count - 1].append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
            count += bytes.count
        } else {
            append([UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                initialized = bytes.count
            })
        }
    }

    /// Removes and returns up to `maxCount` bytes from the front (an empty array only when the queue is empty).
    mutating func take(upTo maxCount: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        let wanted = min(max(1, maxCount), count)
        let first = chunks[0].count
        // The first array whole, when it is all that is wanted or long enough to be worth a read of its own.
        if offset == 0, first <= wanted, first == wanted || first >= ByteQueue.joinBelow {
            count -= first
            return removeFirstChunk()
        }
        var result: [UInt8] = []
        result.reserveCapacity(wanted)
        while result.count < wanted {
            let chunk = chunks[0]
            let n = min(wanted - result.count, chunk.count - offset)
            result.append(contentsOf: chunk[offset..<(offset + n)])
            offset += n
            if offset == chunk.count { _ = removeFirstChunk() }
        }
        count -= wanted
        return result
    }

    private mutating func removeFirstChunk() -> [UInt8] {
        offset = 0
        if chunks.count == 1 {
            defer { chunks.removeAll(keepingCapacity: true) }
            return chunks[0]
        }
        return chunks.removeFirst()
    }
}
