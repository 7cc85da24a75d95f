import ToolboxCore

/// The hand-off between a receive link and the callers of `receive`: elements received and not yet handed out, and
/// the calls waiting for them, served first come, first served. `PartitionReceiver` (Event Hubs) and
/// `ServiceBusReceiver` each keep one inside their locked state; it does no locking of its own.
public struct ReceiveInbox<Element: Sendable>: Sendable {
    public typealias Completion = CompletionOnce<Result<[Element], AzureMessagingError>>

    /// One `receive` call: up to `maxCount` elements, delivered through `once`.
    public struct Waiter: Sendable {
        public let maxCount: Int
        public let once: Completion

        public init(maxCount: Int, once: Completion) {
            self.maxCount = max(1, maxCount)
            self.once = once
        }
    }

    public private(set) var buffer: [Element] = []
    public private(set) var waiters: [Waiter] = []

    public init() {}

    /// What the waiting calls asked for, together.
    public var demand: Int { waiters.reduce(0) { $0 + $1.maxCount } }

    public mutating func append(_ element: Element) { buffer.append(element) }

    public mutating func enqueue(_ waiter: Waiter) { waiters.append(waiter) }

    /// Removes, front first, the waiters whose whole request is buffered, each with its elements.
    public mutating func takeReady() -> [(waiter: Waiter, elements: [Element])] {
        var ready: [(waiter: Waiter, elements: [Element])] = []
        while let first = waiters.first, buffer.count >= first.maxCount {
            waiters.removeFirst()
            ready.append((first, Array(buffer.prefix(first.maxCount))))
            buffer.removeFirst(first.maxCount)
        }
        return ready
    }

    /// Removes the waiter of `once`; nil when it was already served or removed. With `takingBuffered` (its time
    /// is up) it takes what is buffered, up to its count; otherwise (cancelled, failed) it takes nothing.
    public mutating func remove(_ once: Completion, takingBuffered: Bool) -> [Element]? {
        guard let index = waiters.firstIndex(where: { $0.once === once }) else { return nil }
        let waiter = waiters.remove(at: index)
        guard takingBuffered else { return [] }
        let count = min(waiter.maxCount, buffer.count)
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// Removes every waiter (on close or a failure); the buffer stays.
    public mutating func removeAllWaiters() -> [Waiter] {
        defer { waiters = [] }
        return waiters
    }
}
