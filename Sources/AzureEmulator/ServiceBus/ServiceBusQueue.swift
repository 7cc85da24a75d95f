import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore

/// A message as a queue keeps it.
struct QueuedMessage: Sendable {
    enum State: Equatable, Sendable {
        case available
        case locked(token: UUID, until: Int64, deferred: Bool)
        case deferred
        case scheduled(at: Int64)
    }

    let sequenceNumber: Int64
    var enqueuedTime: Int64
    var message: AMQPMessage
    var deliveryCount: UInt32 = 0
    var state: State
    /// Encoded size, counted against the queue's byte budget.
    var size = 0
}

/// What a settlement did, for the caller's error mapping.
enum SettleResult: Equatable {
    case done
    case lockLost
}

/// A Service Bus queue (or its dead-letter sub-queue): sequence numbers, peek-lock with lock tokens and expiry,
/// delivery counts and dead-lettering, deferral and scheduled messages.
final class ServiceBusQueue: @unchecked Sendable {
    // @unchecked Sendable: `messages`, `order`, `tokens`, `nextSequence`, `subscribers`, `wakeSlots` and
    // `scanStart` are guarded by `lock`, held only while the state changes (never across I/O or callbacks); the
    // rest is immutable.

    let name: String
    let lockDuration: Double
    let maxDeliveryCount: UInt32
    let maxMessages: Int
    let maxBytes: Int
    /// `<queue>/$DeadLetterQueue`; nil for the dead-letter queue itself.
    let deadLetter: ServiceBusQueue?
    private let lock = Lock()
    private var messages: [Int64: QueuedMessage] = [:]
    /// Bytes of `messages` (their `size`), under `lock`.
    private var storedBytes = 0
    private var order: [Int64] = []
    private var orderHead = 0
    /// Index in `order` before which no message can be taken without a lock lapsing or a schedule falling due
    /// first (both wake the receivers through `wake(after:)`, which resets it), so `takeNext` starts there
    /// rather than stepping over every message locked ahead of it — with 8 receivers holding 80 locks that
    /// walk was a third of the emulator's CPU (performance-history.md, "Issue 20").
    private var scanStart = 0
    private var tokens: [UUID: Int64] = [:]
    private var nextSequence: Int64 = 1
    private var subscribers: [WeakSender] = []
    /// The wake-up slots (`wake(after:)`) a timer is already set for, under `lock`.
    private var wakeSlots: Set<Int64> = []
    private static let wakeSlotMilliseconds: Int64 = 50
    private static let timerQueue = LibraryQueues.makeQueue(label: "AzureEmulator.servicebus.timers")

    init(name: String, lockDuration: Double, maxDeliveryCount: UInt32, maxMessages: Int, maxBytes: Int = .max,
         isDeadLetter: Bool = false) {
        self.name = name
        self.lockDuration = lockDuration
        self.maxDeliveryCount = maxDeliveryCount
        self.maxMessages = max(1, maxMessages)
        self.maxBytes = max(1, maxBytes)
        self.deadLetter = isDeadLetter ? nil : ServiceBusQueue(name: name + "/$DeadLetterQueue", lockDuration: lockDuration,
                                                               maxDeliveryCount: .max, maxMessages: maxMessages,
                                                               maxBytes: maxBytes, isDeadLetter: true)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    var count: Int { lock.withLock { messages.count } }

    /// Removes a message and its bytes from the budget; under `lock`.
    private func removeMessage(_ sequence: Int64) {
        if let removed = messages.removeValue(forKey: sequence) { storedBytes -= removed.size }
    }

    // MARK: - Sending

    /// Enqueues (or schedules, when `x-opt-scheduled-enqueue-time` lies ahead) a message; returns its sequence number.
    func enqueue(_ message: AMQPMessage, scheduledAt: Int64? = nil) -> Result<Int64, Refusal> {
        let now = ServiceBusQueue.now()
        var scheduled = scheduledAt
        if scheduled == nil, case .timestamp(let at)? = message.messageAnnotations?[.symbol("x-opt-scheduled-enqueue-time")] {
            scheduled = at
        }
        let size = message.encode().count
        let result: Result<Int64, Refusal> = lock.withLock {
            guard messages.count < maxMessages else {
                return .failure(Refusal(condition: AMQPRemoteError.resourceLimitExceeded,
                                                description: "queue '\(name)' holds its limit of \(maxMessages) messages; receive some first"))
            }
            guard storedBytes.saturatingAdd(size) <= maxBytes else {
                return .failure(Refusal(condition: AMQPRemoteError.resourceLimitExceeded,
                                        description: "queue '\(name)' holds \(storedBytes) bytes; a message of \(size) "
                                            + "bytes would pass its limit of \(maxBytes); receive some first"))
            }
            storedBytes += size
            let sequence = nextSequence
            nextSequence += 1
            let state: QueuedMessage.State = (scheduled ?? 0) > now ? .scheduled(at: scheduled ?? 0) : .available
            messages[sequence] = QueuedMessage(sequenceNumber: sequence, enqueuedTime: scheduled.map { max($0, now) } ?? now,
                                               message: message, state: state, size: size)
            order.append(sequence)
            return .success(sequence)
        }
        if let scheduled, scheduled > now { wake(after: scheduled) } else { wakeAll() }
        return result
    }

    /// Cancels scheduled messages; unknown or already-enqueued numbers are ignored, as on Azure.
    func cancelScheduled(_ sequences: [Int64]) {
        lock.withLock {
            for sequence in sequences {
                if case .scheduled? = messages[sequence]?.state { removeMessage(sequence) }
            }
        }
    }

    // MARK: - Receiving

    /// A message handed to a receiver: its encoded form and, in peek-lock, its lock token.
    struct Delivery {
        let payload: [UInt8]
        let token: UUID?
        let sequenceNumber: Int64
    }

    /// What `takeNext` found under the lock; it is encoded after the lock is released, so the queue's other
    /// receivers and senders do not wait for the encode (up to ~11 % of the emulator's samples on the receive path).
    private struct Taken {
        let entry: QueuedMessage
        let lockedUntil: Int64?
        let token: UUID?
    }

    /// Locks (or, for receive-and-delete, removes) the first available message.
    func takeNext(peekLock: Bool) -> Delivery? {
        let now = ServiceBusQueue.now()
        var expired: [QueuedMessage] = []
        let taken: Taken? = lock.withLock {
            var index = max(orderHead, scanStart)
            var found: Taken?
            while index < order.count, found == nil {
                let sequence = order[index]
                index += 1
                guard var entry = messages[sequence] else {
                    if index - 1 == orderHead { orderHead += 1 }
                    continue
                }
                switch entry.state {
                case .locked(let token, let until, let deferred) where until <= now:
                    // The lock expired: the delivery failed, as an abandon would.
                    tokens[token] = nil
                    entry.deliveryCount += 1
                    entry.state = deferred ? .deferred : .available
                    if !deferred, entry.deliveryCount >= maxDeliveryCount, deadLetter != nil {
                        removeMessage(sequence)
                        expired.append(entry)
                        continue
                    }
                    messages[sequence] = entry
                case .scheduled(let at) where at <= now:
                    entry.state = .available
                    entry.enqueuedTime = at
                    messages[sequence] = entry
                default: break
                }
                guard entry.state == .available else { continue }
                if peekLock {
                    let token = RandomUUID.make()
                    let until = now.saturatingAdd(Int64(clampingMilliseconds: lockDuration))
                    entry.state = .locked(token: token, until: until, deferred: false)
                    tokens[token] = sequence
                    messages[sequence] = entry
                    found = Taken(entry: entry, lockedUntil: until, token: token)
                } else {
                    removeMessage(sequence)
                    found = Taken(entry: entry, lockedUntil: nil, token: nil)
                }
            }
            scanStart = index
            compactOrder()
            return found
        }
        for entry in expired { moveToDeadLetter(entry, reason: "MaxDeliveryCountExceeded",
                                                description: "Message could not be consumed after \(maxDeliveryCount) delivery attempts.") }
        guard let taken else { return nil }
        if taken.token != nil { wake(after: now.saturatingAdd(Int64(clampingMilliseconds: lockDuration)).saturatingAdd(1)) }
        return Delivery(payload: encode(taken.entry, lockedUntil: taken.lockedUntil), token: taken.token,
                        sequenceNumber: taken.entry.sequenceNumber)
    }

    private func compactOrder() {
        while orderHead < order.count, messages[order[orderHead]] == nil { orderHead += 1 }
        if orderHead > 1024, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            scanStart = max(0, scanStart - orderHead)
            orderHead = 0
        }
    }

    /// The message as a receiver gets it: header delivery-count and the broker's `x-opt-*` annotations.
    private func encode(_ entry: QueuedMessage, lockedUntil: Int64?) -> [UInt8] {
        var message = entry.message
        var header = message.header ?? AMQPHeader()
        header.deliveryCount = entry.deliveryCount
        message.header = header
        var annotations = message.messageAnnotations ?? AMQPMap()
        annotations[.symbol("x-opt-sequence-number")] = .long(entry.sequenceNumber)
        annotations[.symbol("x-opt-enqueued-time")] = .timestamp(entry.enqueuedTime)
        if let lockedUntil { annotations[.symbol("x-opt-locked-until")] = .timestamp(lockedUntil) }
        if case .scheduled(let at) = entry.state { annotations[.symbol("x-opt-scheduled-enqueue-time")] = .timestamp(at) }
        message.messageAnnotations = annotations
        return message.encode()
    }

    // MARK: - Settling

    /// Applies a receiver's outcome to the message locked with `token`.
    @discardableResult
    func settle(token: UUID, outcome: AMQPDeliveryState) -> SettleResult {
        switch outcome {
        case .accepted: return complete(token)
        case .released: return unlock(token, countDelivery: false, deferring: false)
        case .modified(_, let undeliverableHere, _): return unlock(token, countDelivery: undeliverableHere != true,
                                                                   deferring: undeliverableHere == true)
        case .rejected(let error):
            let reason = error?.info?[.symbol("DeadLetterReason")].flatMap(ServiceBusQueue.text)
                ?? error?.info?[.string("DeadLetterReason")].flatMap(ServiceBusQueue.text)
            let description = error?.info?[.symbol("DeadLetterErrorDescription")].flatMap(ServiceBusQueue.text)
                ?? error?.info?[.string("DeadLetterErrorDescription")].flatMap(ServiceBusQueue.text) ?? error?.errorDescription
            return deadLetter(token, reason: reason, description: description)
        default: return .done
        }
    }

    /// What a settlement of a lapsed lock is answered with on the link.
    static let lockLostOutcome = AMQPDeliveryState.rejected(AMQPRemoteError(
        condition: "com.microsoft:message-lock-lost",
        description: "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue."))

    static func text(_ value: AMQPValue) -> String? {
        switch value {
        case .string(let s): return s
        case .symbol(let s): return s.rawValue
        default: return nil
        }
    }

    /// The sequence number of a message still locked with `token`, or nil if the lock was lost.
    private func lockedSequence(_ token: UUID, now: Int64) -> Int64? {
        guard let sequence = tokens[token], let entry = messages[sequence],
            case .locked(let held, let until, _) = entry.state, held == token, until > now
        else { return nil }
        return sequence
    }

    func complete(_ token: UUID) -> SettleResult {
        lock.withLock {
            guard let sequence = lockedSequence(token, now: ServiceBusQueue.now()) else { return .lockLost }
            tokens[token] = nil
            removeMessage(sequence)
            return .done
        }
    }

    func unlock(_ token: UUID, countDelivery: Bool, deferring: Bool) -> SettleResult {
        var toDeadLetter: QueuedMessage?
        let result: SettleResult = lock.withLock {
            guard let sequence = lockedSequence(token, now: ServiceBusQueue.now()), var entry = messages[sequence],
                case .locked(_, _, let wasDeferred) = entry.state
            else { return .lockLost }
            tokens[token] = nil
            scanStart = 0
            if countDelivery { entry.deliveryCount += 1 }
            entry.state = deferring || wasDeferred ? .deferred : .available
            if countDelivery, entry.state == .available, entry.deliveryCount >= maxDeliveryCount, deadLetter != nil {
                removeMessage(sequence)
                toDeadLetter = entry
            } else {
                messages[sequence] = entry
            }
            return .done
        }
        if let entry = toDeadLetter {
            moveToDeadLetter(entry, reason: "MaxDeliveryCountExceeded",
                             description: "Message could not be consumed after \(maxDeliveryCount) delivery attempts.")
        }
        wakeAll()
        return result
    }

    func deadLetter(_ token: UUID, reason: String?, description: String?) -> SettleResult {
        let entry: QueuedMessage? = lock.withLock {
            guard let sequence = lockedSequence(token, now: ServiceBusQueue.now()) else { return nil }
            tokens[token] = nil
            defer { removeMessage(sequence) }
            return messages[sequence]
        }
        guard let entry else { return .lockLost }
        moveToDeadLetter(entry, reason: reason, description: description)
        return .done
    }

    private func moveToDeadLetter(_ entry: QueuedMessage, reason: String?, description: String?) {
        guard let deadLetter else { return }
        var message = entry.message
        var properties = message.applicationProperties ?? AMQPMap()
        if let reason { properties["DeadLetterReason"] = .string(reason) }
        if let description { properties["DeadLetterErrorDescription"] = .string(description) }
        message.applicationProperties = properties
        var annotations = message.messageAnnotations ?? AMQPMap()
        annotations[.symbol("x-opt-deadletter-source")] = .string(name)
        message.messageAnnotations = annotations
        var header = message.header ?? AMQPHeader()
        header.deliveryCount = entry.deliveryCount
        message.header = header
        _ = deadLetter.enqueue(message)
    }

    /// `com.microsoft:renew-lock`: new locked-until per token, or nil when a lock was lost.
    func renew(_ requested: [UUID]) -> [Int64]? {
        let now = ServiceBusQueue.now()
        let until = now.saturatingAdd(Int64(clampingMilliseconds: lockDuration))
        let renewed: [Int64]? = lock.withLock {
            var result: [Int64] = []
            for token in requested {
                guard let sequence = lockedSequence(token, now: now), var entry = messages[sequence],
                    case .locked(_, _, let deferred) = entry.state
                else { return nil }
                entry.state = .locked(token: token, until: until, deferred: deferred)
                messages[sequence] = entry
                result.append(until)
            }
            return result
        }
        if renewed != nil { wake(after: until + 1) }
        return renewed
    }

    // MARK: - Management reads

    /// `com.microsoft:receive-by-sequence-number`: locks deferred messages; nil if one is not deferred.
    func receiveDeferred(_ sequences: [Int64], peekLock: Bool) -> [Delivery]? {
        let now = ServiceBusQueue.now()
        let until = now.saturatingAdd(Int64(clampingMilliseconds: lockDuration))
        let deliveries: [Delivery]? = lock.withLock {
            for sequence in sequences {
                guard let entry = messages[sequence], entry.state == .deferred else { return nil }
            }
            return sequences.compactMap { sequence in
                guard var entry = messages[sequence] else { return nil }
                if peekLock {
                    let token = RandomUUID.make()
                    entry.state = .locked(token: token, until: until, deferred: true)
                    tokens[token] = sequence
                    messages[sequence] = entry
                    return Delivery(payload: encode(entry, lockedUntil: until), token: token, sequenceNumber: sequence)
                }
                removeMessage(sequence)
                return Delivery(payload: encode(entry, lockedUntil: nil), token: nil, sequenceNumber: sequence)
            }
        }
        if deliveries?.isEmpty == false, peekLock { wake(after: until + 1) }
        return deliveries
    }

    /// `com.microsoft:peek-message`: up to `count` messages from `from` on, without locking.
    func peek(from: Int64, count: Int) -> [[UInt8]] {
        lock.withLock {
            var result: [[UInt8]] = []
            for sequence in order[orderHead...] where sequence >= from {
                guard result.count < count else { break }
                if let entry = messages[sequence] {
                    var lockedUntil: Int64?
                    if case .locked(_, let until, _) = entry.state { lockedUntil = until }
                    result.append(encode(entry, lockedUntil: lockedUntil))
                }
            }
            return result
        }
    }

    // MARK: - Receivers

    func subscribe(_ sender: AMQPSender) {
        lock.withLock {
            subscribers.removeAll { $0.sender == nil }
            subscribers.append(WeakSender(sender: sender))
        }
    }

    func wakeAll() {
        let senders: [AMQPSender] = lock.withLock {
            subscribers.removeAll { $0.sender == nil }
            return subscribers.compactMap(\.sender)
        }
        for sender in senders { sender.wake() }
    }

    /// Wakes receivers once `time` (ms since the epoch) has passed: a lock expired or a scheduled message is due.
    /// Times are rounded up to `wakeSlotMilliseconds` and one timer serves each slot: a timer per peek-locked
    /// message cost the emulator a Dispatch timer per delivery (performance-history.md, "Issue 20"),
    /// while a lapsed lock surfacing up to one slot late changes nothing a client can rely on.
    private func wake(after time: Int64) {
        let slotSize = ServiceBusQueue.wakeSlotMilliseconds
        let slot = time > Int64.max - slotSize ? Int64.max : (time + slotSize - 1) / slotSize * slotSize
        guard lock.withLock({ wakeSlots.insert(slot).inserted }) else { return }
        let now = ServiceBusQueue.now()
        let delay = Double(slot > now ? slot - now : 0) / 1000 + 0.005
        ServiceBusQueue.timerQueue.asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            self.lock.withLock {
                self.wakeSlots.remove(slot)
                self.scanStart = 0  // a lock may have lapsed, or a scheduled message fallen due, behind it
            }
            self.wakeAll()
        }
    }
}
