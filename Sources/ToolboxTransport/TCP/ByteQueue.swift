/// A FIFO of bytes: appended at the end, consumed from the front without shifting on every read.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if head == storage.count, head > 0 {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            head = 0
        }
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(contentsOf: bytes.bindMemory(to: UInt8.self))
    }

    /// Removes and returns up to `maxCount` bytes from the front.
    mutating func take(upTo maxCount: Int) -> [UInt8] {
        let n = min(maxCount, count)
        let bytes = Array(storage[head..<(head + n)])
        head += n
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            head = 0
        } else if head > 1 << 16, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return bytes
    }
}
