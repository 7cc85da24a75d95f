import AzureAuth
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
/// let events = try receiver.receive(maxEvents: 100, timeout: 5)
/// ```
///
/// Events are prefetched into a bounded buffer (300, or what pending calls asked for; credit is topped up as the
/// caller takes them); `receive` returns as soon as `maxEvents` are there,
/// or what arrived when `timeout` passes. If the connection drops, the receiver reconnects from the last
/// sequence number it delivered into the buffer, so nothing is skipped and nothing repeats.
public final class PartitionReceiver: Sendable {

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
    }

    public let eventHubName: String
    public let consumerGroup: String
    public let partitionID: String
    public let startingPosition: EventPosition
    private let endpoint: MessagingEndpoint
    private let logger: Logger
    private let state = LockedValue(State())

    public init(endpoint: MessagingEndpoint, eventHubName: String, consumerGroup: String = "$Default",
                partitionID: String, startingPosition: EventPosition = .latest,
                logger: Logger = Logger(label: "AzureEventHubs", factory: { _ in SwiftLogNoOpLogHandler() })) {
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
        let (endpoint, parsed) = try EventHubProducerClient.endpoint(connectionString: connectionString, options: options)
        self.init(endpoint: endpoint, eventHubName: try EventHubProducerClient.hubName(eventHubName, parsed),
                  consumerGroup: consumerGroup, partitionID: partitionID, startingPosition: startingPosition,
                  logger: options.logger)
    }

    /// Delivers up to `maxEvents` events: as soon as that many are buffered, else what arrived within `timeout`
    /// seconds (possibly none). Fails only if the receiver is closed or cannot connect at all.
    @discardableResult
    public func receive(maxEvents: Int, timeout: Double, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                        completion: @escaping @Sendable (Result<[ReceivedEventData], EventHubsError>) -> Void)
        -> any Cancellable
    {
        let (token, once) = ReceiveInbox.startReceive(
            in: state, maxCount: maxEvents, timeout: timeout, queue: queue, completion: completion,
            timedOut: { [weak self] in self?.topUpCredit() })
        guard once != nil else { return token }
        ensureConnected()
        deliverReady()
        topUpCredit()
        return token
    }

    /// Blocking form of `receive(maxEvents:timeout:queue:completion:)`.
    public func receive(maxEvents: Int, timeout: Double) throws(EventHubsError) -> [ReceivedEventData] {
        try blockingWait { queue, done in receive(maxEvents: maxEvents, timeout: timeout, queue: queue, completion: done) }
    }

    /// Closes the connection; pending receives complete with what is buffered.
    public func close(queue: DispatchQueue = LibraryQueues.defaultCallbackQueue, completion: @escaping @Sendable () -> Void = {}) {
        let (connection, waiters) = state.withLockedValue { state in
            state.closed = true
            defer { state.connection = nil }
            return (state.connection, state.inbox.removeAllWaiters())
        }
        for waiter in waiters { waiter.once.complete(.success([])) }
        guard let connection else { return queue.async(execute: completion) }
        connection.close { queue.async(execute: completion) }
    }

    /// Blocking form of `close(queue:completion:)`.
    public func close() throws(EventHubsError) {
        let _: Void = try blockingWait { queue, done in close(queue: queue) { done(.success(())) } }
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
        let position: EventPosition? = state.withLockedValue { state in
            guard !state.closed, !state.connecting, state.connection.map({ $0.isClosed }) ?? true else { return nil }
            state.connecting = true
            state.connection = nil
            return state.lastSequence.map { .sequenceNumber($0, inclusive: false) } ?? startingPosition
        }
        guard let position else { return }
        let path = "\(eventHubName)/ConsumerGroups/\(consumerGroup)/Partitions/\(partitionID)"
        let audience = endpoint.audience(eventHubName)
        let address = endpoint.address(path)
        MessagingConnection.open(endpoint: endpoint, containerIDPrefix: "EHReceiver", product: "azsdk-swift-eventhubs",
                                 deadline: .after(seconds: 60), logger: logger) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.connectFailed(error)
            case .success(let connection):
                connection.authorize(audience: audience, timeout: 60) { result in
                    if case .failure(let error) = result {
                        connection.close {}
                        return self.connectFailed(error)
                    }
                    let filterKey = AMQPValue.symbol("apache.org:selector-filter:string")
                    let options = AMQPReceiverOptions(
                        credit: .manual, settleMode: .unsettled, receiverSettleMode: .first,
                        maxMessageSize: 1_048_576 * 2,
                        filter: [filterKey: .described(descriptor: filterKey, value: .string(position.selector))],
                        targetAddress: "receiver-link-\(UUID().uuidString.lowercased())")
                    connection.session.attachReceiver(
                        address: address, options: options, messageQueue: connection.queue, queue: connection.queue,
                        onMessage: { [weak self] delivery in self?.received(delivery) }
                    ) { result in
                        switch result {
                        case .failure(let error):
                            connection.close {}
                            self.connectFailed(EventHubsError(error, context: "attaching a receiver to \(path)"))
                        case .success(let receiver):
                            let keep = self.state.withLockedValue { state -> Bool in
                                state.connecting = false
                                guard !state.closed else { return false }
                                state.connection = connection
                                state.link = receiver
                                state.outstandingCredit = 0
                                return true
                            }
                            guard keep else { return connection.close {} }
                            self.topUpCredit()
                            connection.amqp.onClose(queue: connection.queue) { [weak self] _ in self?.connectionEnded() }
                        }
                    }
                }
            }
        }
    }

    private func connectFailed(_ error: EventHubsError) {
        logger.debug("partition receiver \(partitionID): \(error)")
        let waiters: [Waiter] = state.withLockedValue { state in
            state.connecting = false
            state.lastError = error
            guard !error.isTransient else { return [] }
            return state.inbox.removeAllWaiters()
        }
        for waiter in waiters { waiter.once.complete(.failure(error)) }
        if error.isTransient {
            LibraryQueues.defaultCallbackQueue.asyncAfter(deadline: .now() + 0.2) { [weak self] in self?.reconnectIfWaiting() }
        }
    }

    private func connectionEnded() {
        reconnectIfWaiting()
    }

    private func reconnectIfWaiting() {
        let waiting = state.withLockedValue { !$0.inbox.waiters.isEmpty && !$0.closed }
        if waiting { ensureConnected() }
    }

    private func received(_ delivery: AMQPDelivery) {
        if !delivery.isSettled { delivery.accept() }
        let event = ReceivedEventData(message: delivery.message)
        state.withLockedValue { state in
            if let last = state.lastSequence, event.sequenceNumber <= last { return }
            state.inbox.append(event)
            state.lastSequence = event.sequenceNumber
            state.outstandingCredit = max(0, state.outstandingCredit - 1)
        }
        deliverReady()
        topUpCredit()
    }
}
