import Foundation
import ToolboxAMQP
import ToolboxCore

/// One event as a partition keeps it: its position and the encoded message a consumer receives (the
/// producer's sections plus the `x-opt-*` annotations stamped at enqueue).
struct StoredEvent: Sendable {
    let sequenceNumber: Int64
    let offset: Int64
    let enqueuedTime: Int64
    /// Emptied when retention drops the event (its slot stays until the log is compacted).
    var payload: [UInt8]
}

/// Where a consumer starts reading, from the selector filter the SDKs send.
enum StartingPosition: Equatable {
    case earliest
    case latest
    case offset(Int64, inclusive: Bool)
    case sequenceNumber(Int64, inclusive: Bool)
    case enqueuedTime(Int64, inclusive: Bool)
}

/// A weak reference to a consumer link, woken when its partition gets events.
struct WeakSender {
    weak var sender: AMQPSender?
}

/// An Event Hub: its partitions' event logs, partition-key stickiness and round robin.
final class EventHub: @unchecked Sendable {
    // @unchecked Sendable: `partitions`, `subscribers` and `nextRoundRobin` are guarded by `lock`, held only
    // while copying in or out (never across I/O); the rest is immutable.

    private struct PartitionLog {
        var events: [StoredEvent] = []
        var head = 0
        var nextSequence: Int64 = 0
        var nextOffset: Int64 = 0
        /// Payload bytes of the live events.
        var bytes = 0
        var live: ArraySlice<StoredEvent> { events[head...] }
    }

    let name: String
    let createdAt: Int64
    let partitionCount: Int
    let consumerGroups: Set<String>
    private let maxEvents: Int
    private let maxBytes: Int
    private let lock = Lock()
    private var partitions: [PartitionLog]
    private var subscribers: [[WeakSender]]
    private var nextRoundRobin = 0

    init(name: String, partitionCount: Int, consumerGroups: [String], maxEvents: Int, maxBytes: Int = .max) {
        self.maxBytes = max(1, maxBytes)
        self.name = name
        self.partitionCount = partitionCount
        self.consumerGroups = Set((consumerGroups + ["$Default"]).map { $0.lowercased() })
        self.maxEvents = max(1, maxEvents)
        self.createdAt = Int64(Date().timeIntervalSince1970 * 1000)
        self.partitions = Array(repeating: PartitionLog(), count: partitionCount)
        self.subscribers = Array(repeating: [], count: partitionCount)
    }

    var partitionIDs: [String] { (0..<partitionCount).map(String.init) }

    /// The partition index for an id like "2", or nil. Ids are compared as the names they are: "02", "+2" and
    /// " 2" name no partition (Event Hubs refuses them; `Int` would have read them as 2).
    func partitionIndex(_ id: String) -> Int? {
        guard let index = Int(id), index >= 0, index < partitionCount, String(index) == id else { return nil }
        return index
    }

    /// Sticky partition for a key (FNV-1a, stable across runs), or the next one round robin.
    func choosePartition(key: String?) -> Int {
        if let key {
            var hash: UInt32 = 2_166_136_261
            for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            return Int(hash % UInt32(partitionCount))
        }
        return lock.withLock {
            defer { nextRoundRobin = (nextRoundRobin + 1) % partitionCount }
            return nextRoundRobin
        }
    }

    /// Appends events to one partition, stamping each with its sequence number, offset, enqueued time and key.
    func append(_ messages: [AMQPMessage], partition: Int, partitionKey: String?) {
        append(messages.map { IncomingEvent.decoded($0) }, partition: partition, partitionKey: partitionKey)
    }

    /// Appends events to one partition, stamping each with its sequence number, offset, enqueued time and key.
    func append(_ messages: [IncomingEvent], partition: Int, partitionKey: String?) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let toWake: [AMQPSender] = lock.withLock {
            // Mutated in place (inout through the array's modify accessor): a local copy of the log would share
            // its events array, so the first append copied the whole partition — O(n) per event, which was 45% of
            // the emulator's CPU under `toolbox bench eventhubs --concurrency 64` (perf, docs/performance.md).
            Self.append(messages, to: &partitions[partition], now: now, partitionKey: partitionKey, maxEvents: maxEvents,
                        maxBytes: maxBytes)
            subscribers[partition].removeAll { $0.sender == nil }
            return subscribers[partition].compactMap(\.sender)
        }
        for sender in toWake { sender.wake() }
    }

    private static func append(_ messages: [IncomingEvent], to log: inout PartitionLog, now: Int64, partitionKey: String?,
                               maxEvents: Int, maxBytes: Int) {
        for message in messages {
            let payload = message.stamped(with: EventStamp(sequenceNumber: log.nextSequence, offset: log.nextOffset,
                                                           enqueuedTime: now, partitionKey: partitionKey))
            log.events.append(StoredEvent(sequenceNumber: log.nextSequence, offset: log.nextOffset,
                                          enqueuedTime: now, payload: payload))
            log.nextSequence += 1
            log.nextOffset += Int64(payload.count)
            log.bytes += payload.count
        }
        // Retention, by count and by bytes: the oldest events go first, as on Azure.
        // A dropped event's payload is released now, not when the log is next compacted (after at least as many
        // more events as are live): the partition keeps no more bytes than its retention, and what is freed is
        // reused for the events that come next instead of every one landing in fresh pages.
        while log.head < log.events.count, log.events.count - log.head > maxEvents || log.bytes > maxBytes {
            log.bytes -= log.events[log.head].payload.count
            log.events[log.head].payload = []
            log.head += 1
        }
        if log.head > 1024, log.head * 2 > log.events.count {
            log.events.removeFirst(log.head)
            log.head = 0
        }
    }

    /// Registers a consumer link to wake when `partition` gets events.
    func subscribe(_ sender: AMQPSender, partition: Int) {
        lock.withLock {
            subscribers[partition].removeAll { $0.sender == nil }
            subscribers[partition].append(WeakSender(sender: sender))
        }
    }

    /// The sequence number a consumer starting at `position` reads first.
    func firstSequence(partition: Int, position: StartingPosition) -> Int64 {
        lock.withLock {
            let log = partitions[partition]
            let live = log.live
            let begin = live.first?.sequenceNumber ?? log.nextSequence
            switch position {
            case .earliest: return begin
            case .latest: return log.nextSequence
            // A peer may send the largest sequence number there is (azure-eventhub with starting_position
            // 9223372036854775807, exclusive): nothing comes after it, and `n + 1` must not trap.
            case .sequenceNumber(let n, let inclusive): return max(begin, inclusive ? n : n.saturatingAdd(1))
            case .offset(let offset, let inclusive):
                return live.first(where: { inclusive ? $0.offset >= offset : $0.offset > offset })?.sequenceNumber
                    ?? log.nextSequence
            case .enqueuedTime(let time, let inclusive):
                return live.first(where: { inclusive ? $0.enqueuedTime >= time : $0.enqueuedTime > time })?.sequenceNumber
                    ?? log.nextSequence
            }
        }
    }

    /// The event with the smallest sequence number ≥ `sequence` (events dropped by retention are skipped).
    func event(partition: Int, atOrAfter sequence: Int64) -> StoredEvent? {
        lock.withLock {
            let log = partitions[partition]
            guard let first = log.live.first?.sequenceNumber, sequence < log.nextSequence else { return nil }
            // `sequence` < `nextSequence`, so `sequence - first` fits once `sequence` > `first`.
            let index = log.head + (sequence > first ? Int(sequence - first) : 0)
            return index < log.events.count ? log.events[index] : nil
        }
    }

    /// Payload bytes `partition` holds, dropped events included (tests: retention releases what it drops).
    func heldPayloadBytes(partition: Int) -> Int {
        lock.withLock { partitions[partition].events.reduce(0) { $0 + $1.payload.count } }
    }

    /// The newest event of `partition`, for the runtime metrics consumers may ask for.
    func lastEnqueued(partition: Int) -> StoredEvent? {
        lock.withLock { partitions[partition].live.last }
    }

    /// The body of a `com.microsoft:eventhub` READ.
    func properties() -> AMQPValue {
        let ids = (try? AMQPArray(elementType: .string, elements: partitionIDs.map { .string($0) }))
            ?? AMQPArray.symbols([])
        return .map([
            "name": .string(name), "type": "com.microsoft:eventhub", "created_at": .timestamp(createdAt),
            "partition_count": .int(Int32(partitionCount)), "partition_ids": .array(ids),
        ])
    }

    /// The body of a `com.microsoft:partition` READ.
    func partitionProperties(_ partition: Int) -> AMQPValue {
        let (begin, last) = lock.withLock { () -> (Int64, StoredEvent?) in
            let log = partitions[partition]
            return (log.live.first?.sequenceNumber ?? log.nextSequence, log.live.last)
        }
        return .map([
            "name": .string(name), "type": "com.microsoft:partition", "partition": .string(String(partition)),
            "begin_sequence_number": .long(begin),
            "last_enqueued_sequence_number": .long(last?.sequenceNumber ?? -1),
            "last_enqueued_offset": .string(last.map { String($0.offset) } ?? "-1"),
            "last_enqueued_time_utc": .timestamp(last?.enqueuedTime ?? 0),
            "is_partition_empty": .bool(last == nil),
        ])
    }
}
