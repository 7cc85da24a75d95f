import Dispatch
import ToolboxCore

/// The hand-off between a receive link and the callers of `receive`: elements received and not yet handed out, and
/// the calls waiting for them, served first come, first served. `PartitionReceiver` (Event Hubs) and
/// `ServiceBusReceiver` each keep one inside their locked state; it does no locking of its own.
package struct ReceiveInbox<Element: Sendable>: Sendable {
    package typealias Completion = CompletionOnce<Result<[Element], AzureMessagingError>>

    /// One `receive` call: up to `maxCount` elements, delivered through `once`.
    package struct Waiter: Sendable {
        package let maxCount: Int
        package let once: Completion
        /// When its batch window ends, once it has started (`startBatchWindow`).
        package var windowEnd: MonotonicInstant?

        package init(maxCount: Int, once: Completion) {
            self.maxCount = max(1, maxCount)
            self.once = once
        }
    }

    package private(set) var buffer: [Element] = []
    package private(set) var waiters: [Waiter] = []

    package init() {}

    /// What the waiting calls asked for, together (saturating: callers may ask for `Int.max`).
    package var demand: Int { waiters.reduce(0) { $0.saturatingAdd(max(0, $1.maxCount)) } }

    package mutating func append(_ element: Element) { buffer.append(element) }

    package mutating func enqueue(_ waiter: Waiter) { waiters.append(waiter) }

    /// Removes, front first, the waiters whose whole request is buffered, each with its elements.
    package mutating func takeReady() -> [(waiter: Waiter, elements: [Element])] {
        var ready: [(waiter: Waiter, elements: [Element])] = []
        while let first = waiters.first, buffer.count >= first.maxCount {
            waiters.removeFirst()
            ready.append((first, Array(buffer.prefix(first.maxCount))))
            buffer.removeFirst(first.maxCount)
        }
        return ready
    }

    /// Starts the front waiter's batch window, ending at `end`, when elements are buffered for it (fewer than it
    /// asked for) and its window has not started: a receiver that returns a partial batch a short while after the
    /// first element (Service Bus, as the Azure SDKs do) then ends it with `endBatchWindow(now:)`.
    package mutating func startBatchWindow(endingAt end: MonotonicInstant) {
        guard !buffer.isEmpty, !waiters.isEmpty, waiters[0].windowEnd == nil else { return }
        waiters[0].windowEnd = end
    }

    /// When the front waiter's batch window ends (nil: none is open).
    package var batchWindowEnd: MonotonicInstant? { waiters.first?.windowEnd }

    /// Ends the front waiter's batch window if it has passed by `now`: removes the waiter with its buffered
    /// elements. When nothing is buffered any more (the elements went to an earlier waiter's time-out, or with a
    /// dead link) the window closes without serving it, to open again with the next element.
    package mutating func endBatchWindow(now: MonotonicInstant) -> (waiter: Waiter, elements: [Element])? {
        guard let first = waiters.first, let end = first.windowEnd, end <= now else { return nil }
        guard !buffer.isEmpty else {
            waiters[0].windowEnd = nil
            return nil
        }
        return remove(first.once, takingBuffered: true).map { (first, $0) }
    }

    /// Removes the waiter of `once`; nil when it was already served or removed. With `takingBuffered` (its time
    /// is up) it takes what is buffered, up to its count; otherwise (cancelled, failed) it takes nothing.
    package mutating func remove(_ once: Completion, takingBuffered: Bool) -> [Element]? {
        guard let index = waiters.firstIndex(where: { $0.once === once }) else { return nil }
        let waiter = waiters.remove(at: index)
        guard takingBuffered else { return [] }
        let count = min(waiter.maxCount, buffer.count)
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// The start of a `receive` call that both receivers share: wraps `completion` for `queue`, registers the call
    /// through `enqueue` and arranges its end. `enqueue` adds the waiter to the receiver's inbox under the
    /// receiver's lock, or returns false when the receiver is closed (the call then fails with `.clientClosed`).
    /// When `timeout` passes on `timeouts`' clock, the call gets what is buffered (possibly nothing) and `timedOut` runs; when the
    /// returned token is cancelled, it fails with `.cancelled`. `remove` takes the waiter out of the inbox under the
    /// receiver's lock (`ReceiveInbox.remove`); a call already served is left alone.
    ///
    /// - returns: the cancellation token for the caller, and the waiter's completion (nil when the receiver was
    ///   closed), with which the receiver can fail just this call later.
    package static func startReceive(
        maxCount: Int, timeout: Duration, timeouts: TimeoutScheduler, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<[Element], AzureMessagingError>) -> Void,
        enqueue: (Waiter) -> Bool,
        remove: @escaping @Sendable (_ once: Completion, _ takingBuffered: Bool) -> [Element]?,
        timedOut: @escaping @Sendable () -> Void = {}
    ) -> (token: CancellationToken, once: Completion?) {
        let once = Completion { result in queue.async { completion(result) } }
        let token = CancellationToken()
        guard enqueue(Waiter(maxCount: maxCount, once: once)) else {
            once.complete(.failure(AzureMessagingError(.clientClosed, "the receiver is closed")))
            return (token, nil)
        }
        token.onCancel {
            if remove(once, false) != nil { once.complete(.failure(AzureMessagingError(.cancelled, "receive was cancelled"))) }
        }
        // An entry in the scheduler's heap, not a Dispatch timer source (and a work queue) per call: arming and
        // cancelling one cost more than the receive itself at 8 receivers × 10 messages per call. A call served or
        // cancelled first leaves its entry finished, dropped without firing.
        timeouts.schedule(after: max(.zero, timeout), ReceiveTimeout(once) {
            guard let elements = remove(once, true) else { return }
            once.complete(.success(elements))
            timedOut()
        })
        return (token, once)
    }

    /// Removes and returns everything buffered (on close, to give back what was received ahead).
    package mutating func removeAllBuffered() -> [Element] {
        defer { buffer = [] }
        return buffer
    }

    /// Removes every waiter (on close or a failure); the buffer stays.
    package mutating func removeAllWaiters() -> [Waiter] {
        defer { waiters = [] }
        return waiters
    }
}

/// A receiver's locked state, as far as `receive` calls are concerned: its inbox and whether it is closed.
package protocol ReceiverState: SendableMetatype {
    associatedtype Element: Sendable
    var inbox: ReceiveInbox<Element> { get set }
    var closed: Bool { get set }
}

extension ReceiveInbox {
    /// `startReceive` for a receiver whose state (`ReceiverState`) sits in `state`: the call is refused once the
    /// receiver is closed, and enqueued and removed under `state`'s lock.
    package static func startReceive<State: ReceiverState>(
        in state: LockedValue<State>, maxCount: Int, timeout: Duration, timeouts: TimeoutScheduler, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<[Element], AzureMessagingError>) -> Void,
        timedOut: @escaping @Sendable () -> Void = {}
    ) -> (token: CancellationToken, once: Completion?) where State.Element == Element {
        startReceive(
            maxCount: maxCount, timeout: timeout, timeouts: timeouts, queue: queue, completion: completion,
            enqueue: { waiter in
                state.withLockedValue { state in
                    guard !state.closed else { return false }
                    state.inbox.enqueue(waiter)
                    return true
                }
            },
            remove: { once, takingBuffered in
                state.withLockedValue { $0.inbox.remove(once, takingBuffered: takingBuffered) }
            },
            timedOut: timedOut)
    }

    /// Closes a receiver whose state sits in `state`: marks it closed and takes its connection out (`detach`)
    /// under the lock, completes the receives waiting with what they already have (nothing more arrives), then
    /// closes the connection, if there was one, and calls `completion` on `queue`.
    package static func close<State: ReceiverState>(
        in state: LockedValue<State>, detach: @Sendable (inout State) -> MessagingConnection?, queue: DispatchQueue,
        completion: @escaping @Sendable () -> Void
    ) where State.Element == Element {
        let (connection, waiters) = state.withLockedValue { state in
            state.closed = true
            return (detach(&state), state.inbox.removeAllWaiters())
        }
        for waiter in waiters { waiter.once.complete(.success([])) }
        guard let connection else { return queue.async(execute: completion) }
        connection.close { queue.async(execute: completion) }
    }
}

/// A `receive` call's time-out in a `TimeoutScheduler`: runs `expire` (hand the call what is buffered) unless the
/// call was served or cancelled first.
private final class ReceiveTimeout<Value: Sendable>: TimeoutTarget {
    let once: CompletionOnce<Value>
    let expire: @Sendable () -> Void

    init(_ once: CompletionOnce<Value>, expire: @escaping @Sendable () -> Void) {
        self.once = once
        self.expire = expire
    }

    var isFinished: Bool { once.isCompleted }

    func timeOut() { expire() }
}
