import AzureAuth
import AzureMessagingCore
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// Where a `PartitionReceiver` starts reading.
public enum EventPosition: Sendable, Hashable {
    /// The first event still retained.
    case earliest
    /// Only events enqueued after the receiver attached.
    case latest
    case offset(String, inclusive: Bool = false)
    case sequenceNumber(Int64, inclusive: Bool = false)
    case enqueuedTime(Date, inclusive: Bool = false)

    /// The selector-filter expression the SDKs send (eventhubs.md).
    var selector: String {
        func op(_ inclusive: Bool) -> String { inclusive ? ">=" : ">" }
        switch self {
        case .earliest: return "amqp.annotation.x-opt-offset > '-1'"
        case .latest: return "amqp.annotation.x-opt-offset > '@latest'"
        case .offset(let offset, let inclusive): return "amqp.annotation.x-opt-offset \(op(inclusive)) '\(offset)'"
        case .sequenceNumber(let number, let inclusive):
            return "amqp.annotation.x-opt-sequence-number \(op(inclusive)) '\(number)'"
        case .enqueuedTime(let date, let inclusive):
            return "amqp.annotation.x-opt-enqueued-time \(op(inclusive)) '\(Int64(clampingMilliseconds: date.timeIntervalSince1970))'"
        }
    }
}

/// Reads one partition of an Event Hub from a starting position, over its own connection.
///
/// ```swift
/// let receiver = try PartitionReceiver(connectionString: cs, eventHubName: "eh1", partitionID: "0",
///                                      startingPosition: .earliest)
/// let events = try receiver.receive(maxEvents: 100, timeout: .seconds(5))
/// ```
///
/// Events are prefetched into a bounded buffer (300, or what pending calls asked for; credit is topped up as the
/// caller takes them); `receive` returns as soon as `maxEvents` are there,
/// or what arrived when `timeout` passes. If the connection drops, the receiver reconnects from the last
/// sequence number it delivered into the buffer, so nothing is skipped and nothing repeats.
public final class PartitionReceiver: EventHubPartitionReceiving {

    private typealias Waiter = ReceiveInbox<ReceivedEventData>.Waiter

    private struct State: ReceiverState {
        var inbox = ReceiveInbox<ReceivedEventData>()
        var lastSequence: Int64?
        var connection: MessagingConnection?
        /// The receive link on `connection`, and the credit it still has outstanding.
        var link: AMQPReceiver?
        var outstandingCredit = 0
        var connecting = false
        var closed = false
        var lastError: EventHubsError?
        /// Delays between reconnects: 0.2 s doubling to 30 s (±20 %), reset by an event or a long-lived connection.
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
        var connectedAt: MonotonicInstant?
        /// Counts connects, so events from a link that is no longer the current one are told apart.
        var generation = 0
        /// Cancels the connect in progress (`close` does: it ran on to its deadline).
        var connectAttempt: CancellationToken?
    }

    public let eventHubName: String
    public let consumerGroup: String
    public let partitionID: String
    public let startingPosition: EventPosition
    private let endpoint: MessagingEndpoint
    private let logger: Logger
    private let clock: any ToolboxClock
    /// The `receive` calls' time-outs, on `clock`.
    private let timeouts: TimeoutScheduler
    /// How long one connect (transport, CBS, attach) may take before it counts as failed.
    private let connectTimeout: Duration
    private let state = LockedValue(State())

    public convenience init(endpoint: MessagingEndpoint, eventHubName: String, consumerGroup: String = "$Default",
                            partitionID: String, startingPosition: EventPosition = .latest,
                            logger: Logger = Logger(label: "AzureEventHubs", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.init(endpoint: endpoint, eventHubName: eventHubName, consumerGroup: consumerGroup, partitionID: partitionID,
                  startingPosition: startingPosition, logger: logger, clock: SystemClock())
    }

    /// With `clock` driving the reconnect backoff (tests pass a `ManualClock`) and a `connectTimeout` for each
    /// connect (transport, CBS, attach).
    package init(endpoint: MessagingEndpoint, eventHubName: String, consumerGroup: String = "$Default",
                 partitionID: String, startingPosition: EventPosition = .latest, logger: Logger,
                 clock: any ToolboxClock, connectTimeout: Duration = .seconds(60)) {
        self.clock = clock
        self.timeouts = .on(clock)
        self.connectTimeout = connectTimeout
        self.endpoint = endpoint
        self.eventHubName = eventHubName
        self.consumerGroup = consumerGroup
        self.partitionID = partitionID
        self.startingPosition = startingPosition
        self.logger = logger
    }

    public convenience init(connectionString: String, eventHubName: String? = nil, consumerGroup: String = "$Default",
                            partitionID: String, startingPosition: EventPosition = .latest,
                            options: EventHubProducerOptions = EventHubProducerOptions()) throws(EventHubsError) {
        let target = try EventHubProducerCore.endpoint(connectionString: connectionString, eventHubName: eventHubName,
                                                       options: options)
        self.init(endpoint: options.applied(to: target.endpoint), eventHubName: target.entityPath,
                  consumerGroup: consumerGroup, partitionID: partitionID, startingPosition: startingPosition,
                  logger: options.logger, clock: options.clock)
    }

    /// Delivers up to `maxEvents` events: as soon as that many are buffered, else what arrived within `timeout`
    /// (possibly none), measured on the receiver's clock. Fails only if the receiver is closed or cannot connect.
    @discardableResult
    public func receive(maxEvents: Int, timeout: Duration, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<[ReceivedEventData], EventHubsError>) -> Void)
        -> any Cancellable
    {
        let (token, once) = ReceiveInbox.startReceive(
            in: state, maxCount: maxEvents, timeout: timeout, timeouts: timeouts, queue: queue, completion: completion,
            timedOut: { [weak self] in self?.topUpCredit() })
        guard once != nil else { return token }
        ensureConnected()
        deliverReady()
        topUpCredit()
        return token
    }

    /// Closes the connection; pending receives complete with what is buffered.
    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        let attempt = LockedValue<CancellationToken?>(nil)
        ReceiveInbox.close(in: state, detach: { state in
            defer { state.connection = nil; state.connectAttempt = nil }
            attempt.withLockedValue { $0 = state.connectAttempt }
            return state.connection
        }, queue: queue, completion: completion)
        // A connect in progress ends now, not at its deadline (the socket of an open a silent peer accepted stayed
        // open until then).
        attempt.load()?.cancel()
    }

    // MARK: - Internals

    /// Keeps `prefetch` events (or what waiting callers asked for, if more) buffered or in flight, so an idle
    /// caller never makes the buffer grow without bound.
    private func topUpCredit() {
        let grant: (AMQPReceiver, Int)? = state.withLockedValue { state in
            guard let link = state.link else { return nil }
            // A caller may ask for `Int.max` events; the credit in flight stays bounded all the same.
            let demand = min(max(Self.prefetch, state.inbox.demand), Self.maxCreditInFlight)
            let wanted = demand - state.inbox.buffer.count - state.outstandingCredit
            guard wanted >= Self.prefetch / 2 || (wanted > 0 && !state.inbox.waiters.isEmpty) else { return nil }
            state.outstandingCredit += wanted
            return (link, wanted)
        }
        if let (link, count) = grant { link.addCredit(UInt32(clamping: count)) }
    }

    /// Events waiting in the buffer (for tests and diagnostics).
    var bufferedCount: Int { state.load().inbox.buffer.count }

    /// The last failure seen while connecting or receiving (for tests and diagnostics).
    var lastError: EventHubsError? { state.load().lastError }

    /// Events buffered or in flight at most (what the SDKs prefetch).
    static let prefetch = 300
    /// Credit in flight at most however many events waiting callers asked for.
    static let maxCreditInFlight = 10_000

    private func deliverReady() {
        let ready = state.withLockedValue { $0.inbox.takeReady() }
        for (waiter, events) in ready { waiter.once.complete(.success(events)) }
        if !ready.isEmpty { topUpCredit() }
    }

    private func ensureConnected() {
        let started: (position: EventPosition, generation: Int, attempt: CancellationToken)? = state.withLockedValue { state in
            guard !state.closed, !state.connecting, state.connection.map({ $0.isClosed }) ?? true else { return nil }
            state.connecting = true
            state.connection = nil
            state.generation += 1
            let attempt = CancellationToken()
            state.connectAttempt = attempt
            return (state.lastSequence.map { .sequenceNumber($0, inclusive: false) } ?? startingPosition, state.generation,
                    attempt)
        }
        guard let (position, generation, attempt) = started else { return }
        let path = "\(eventHubName)/ConsumerGroups/\(consumerGroup)/Partitions/\(partitionID)"
        let filterKey = AMQPValue.symbol("apache.org:selector-filter:string")
        let options = AMQPReceiverOptions(
            credit: .manual, settleMode: .unsettled, receiverSettleMode: .first, maxMessageSize: 1_048_576 * 2,
            filter: [filterKey: .described(descriptor: filterKey, value: .string(position.selector))],
            targetAddress: "receiver-link-\(RandomUUID.string())")
        MessagingConnection.openReceiver(
            endpoint: endpoint, containerIDPrefix: "EHReceiver", product: "azsdk-swift-eventhubs",
            audienceEntity: eventHubName, path: path, deadline: .after(connectTimeout), logger: logger, clock: clock,
            receiverOptions: { _ in options },
            onMessage: { [weak self] _, delivery in self?.received(delivery, generation: generation) },
            cancellation: attempt
        ) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.connectFailed(error)
            case .success(let (connection, receiver)):
                let keep = self.state.withLockedValue { state -> Bool in
                    state.connecting = false
                    state.connectAttempt = nil
                    guard !state.closed else { return false }
                    state.connection = connection
                    state.link = receiver
                    state.outstandingCredit = 0
                    state.connectedAt = self.clock.now()
                    return true
                }
                guard keep else { return connection.close {} }
                self.topUpCredit()
                connection.amqp.onClose(queue: connection.queue) { [weak self] _ in self?.connectionEnded() }
                receiver.onEnd(queue: connection.queue) { [weak self] error in
                    self?.linkEnded(receiver, EventHubsError(error, context: "the receive link on \(path) ended"))
                }
            }
        }
    }

    private func connectFailed(_ error: EventHubsError) {
        logger.debug("partition receiver \(partitionID): \(error)")
        let (waiters, delay): ([Waiter], Double?) = state.withLockedValue { state in
            state.connecting = false
            state.connectAttempt = nil
            if state.closed { return ([], nil) }  // closed meanwhile (its connect cancelled): nothing to retry
            state.lastError = error
            // A connect that timed out is retried like any transient failure (DESIGN §6: time-outs retry).
            guard error.isTransient || error.code == .timedOut else { return (state.inbox.removeAllWaiters(), nil) }
            return ([], state.backoff.next().toolboxSeconds)
        }
        for waiter in waiters { waiter.once.complete(.failure(error)) }
        if let delay { reconnect(after: delay) }
    }

    /// The connection ended: reconnect (if calls wait) after the backoff delay, which starts over when the
    /// connection had lived a while — a peer that drops every connection at once is not hammered.
    private func connectionEnded() {
        let delay: Double = state.withLockedValue { state in
            if let since = state.connectedAt, clock.now().seconds(since: since) > connectTimeout.toolboxSeconds {
                state.backoff.reset()
            }
            state.connectedAt = nil
            return state.backoff.next().toolboxSeconds
        }
        reconnect(after: delay)
    }

    /// The receive link ended while its connection may live on (the peer detached it): drop that connection and
    /// go on as after a lost connection. When the cause will not heal by itself (the token lapsed unrenewed, the
    /// partition went away) the calls waiting now fail with it, so a caller sees `.unauthorized` rather than empty
    /// receives; the next call connects again.
    private func linkEnded(_ receiver: AMQPReceiver, _ error: EventHubsError) {
        let (connection, waiters): (MessagingConnection?, [Waiter]) = state.withLockedValue { state in
            guard state.link === receiver, let connection = state.connection else { return (nil, []) }
            state.link = nil
            state.connection = nil
            state.lastError = error
            return (connection, error.isTransient ? [] : state.inbox.removeAllWaiters())
        }
        guard let connection else { return }
        logger.debug("partition receiver \(partitionID): \(error)")
        for waiter in waiters { waiter.once.complete(.failure(error)) }
        connection.close {}  // its onClose handler schedules the reconnect
    }

    private func reconnect(after delay: Double) {
        logger.debug("partition receiver \(partitionID): reconnecting in \(String(format: "%.3f", delay)) s")
        clock.schedule(at: clock.now().advanced(bySeconds: delay), on: LibraryQueues.makeWorkQueue(label: "AzureEventHubs.reconnect")) { [weak self] in
            self?.reconnectIfWaiting()
        }
    }

    private func reconnectIfWaiting() {
        let waiting = state.withLockedValue { !$0.inbox.waiters.isEmpty && !$0.closed }
        if waiting { ensureConnected() }
    }

    private func received(_ delivery: AMQPDelivery, generation: Int) {
        if !delivery.isSettled { delivery.accept(queue: LibraryQueues.ignoredCompletions) }
        let event = ReceivedEventData(message: delivery.message)
        enum Step { case buffered, ignored, overrun(AMQPReceiver?, MessagingConnection?) }
        let step: Step = state.withLockedValue { state in
            // An event from a link that is no longer current is read again from `lastSequence` on the new one.
            guard state.generation == generation, state.link != nil else { return .ignored }
            // More events than the credit granted: a peer ignoring flow control would grow the buffer without
            // bound. The event is dropped (it is read again after the reconnect) and the link abandoned.
            guard state.outstandingCredit > 0 else {
                state.lastError = EventHubsError(
                    .serviceError, "partition \(partitionID): the service sent more events than the credit granted",
                    condition: AMQPRemoteError.transferLimitExceeded.rawValue, recovery: .rebuildConnection)
                defer { state.link = nil; state.connection = nil }
                return .overrun(state.link, state.connection)
            }
            state.outstandingCredit -= 1
            if let last = state.lastSequence, event.sequenceNumber <= last { return .ignored }
            state.inbox.append(event)
            state.lastSequence = event.sequenceNumber
            state.backoff.reset()
            return .buffered
        }
        switch step {
        case .ignored:
            return
        case .overrun(let link, let connection):
            logger.debug("partition receiver \(partitionID): the service ignored link credit; reconnecting")
            link?.close(error: AMQPRemoteError(condition: AMQPRemoteError.transferLimitExceeded,
                                               description: "more transfers than the link credit allowed"),
                        queue: LibraryQueues.ignoredCompletions) { _ in }
            connection?.close {}  // its onClose handler schedules the reconnect
        case .buffered:
            deliverReady()
            topUpCredit()
        }
    }
}
