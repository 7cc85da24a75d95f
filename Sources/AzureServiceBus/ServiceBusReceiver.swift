import AzureAuth
import AzureMessagingCore
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// How a `ServiceBusReceiver` takes messages.
public enum ServiceBusReceiveMode: Sendable, Hashable {
    /// Messages stay locked until completed, abandoned, dead-lettered or deferred (at-least-once).
    case peekLock
    /// Messages are deleted as they are delivered (at-most-once).
    case receiveAndDelete
}

/// Reads a queue (or its dead-letter queue) over its own connection, in peek-lock or receive-and-delete mode.
///
/// ```swift
/// let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
/// for message in try receiver.receive(maxMessages: 10, timeout: .seconds(5)) {
///     try receiver.complete(message)
/// }
/// ```
///
/// By default credit is granted per `receive` call (no standing prefetch); credit a timed-out call left unused stays
/// granted, so later messages wait, locked, for the next call — close the receiver when you stop receiving. With a
/// `prefetchCount` (the Azure SDKs' `prefetch_count`) the link keeps that many messages of credit ahead of what the
/// calls ask for, and later calls are served from what already arrived; see `prefetchCount` for the trade-off. Settling
/// waits for the service to confirm, as azure-servicebus does. If the connection drops, the next call
/// reconnects; messages received on the old connection can then no longer be settled (their locks lapse
/// and the service redelivers them).
public final class ServiceBusReceiver: ServiceBusReceiving {

    struct Link {
        let connection: MessagingConnection
        let receiver: AMQPReceiver
        let management: LinkCache<AMQPRequestResponseLink>
    }

    private struct State: ReceiverState {
        var inbox = ReceiveInbox<ServiceBusReceivedMessage>()
        var link: Link?
        var connecting: [@Sendable (Result<Link, ServiceBusError>) -> Void] = []
        var outstandingCredit = 0
        var closed = false
        var lastPeekedSequence: Int64 = 0
        var connectionsOpened = 0
        /// Why the last connection ended or could not be opened.
        var lastError: ServiceBusError?
        /// The batch window timer is scheduled (`scheduleBatchWindow`).
        var windowTimerPending = false
        /// Cancels the connect in progress (`close` does: the open ended at its deadline, the try time-out later).
        var connectAttempt: CancellationToken?
    }

    /// Where the batch window timer runs.
    private let windowQueue = LibraryQueues.makeWorkQueue(label: "AzureServiceBus.receive-window")

    /// The entity read: a queue or `<topic>/Subscriptions/<subscription>`, followed by `/$DeadLetterQueue` when
    /// reading its dead-letter queue.
    public let entityPath: String
    /// The queue or subscription, without the dead-letter suffix.
    private let baseEntityPath: String
    public let receiveMode: ServiceBusReceiveMode
    /// True when reading `<queue>/$DeadLetterQueue`.
    public let deadLetterQueue: Bool
    public let options: ServiceBusClientOptions
    /// Messages the link receives ahead of the `receive` calls (the Azure SDKs' `prefetch_count`); 0 grants credit
    /// only for what each call asks for.
    ///
    /// Prefetched messages are handed out, in order, by later `receive` calls, without a round trip to the service.
    /// The trade-off:
    /// - in peek-lock mode a prefetched message is locked from the moment it arrives, so its lock ticks while it
    ///   waits in the buffer: prefetch no more than you settle within the lock duration, or settlements fail with
    ///   `.messageLockLost` (the message then comes back with its delivery count raised);
    /// - the messages one receiver holds ahead are not available to other receivers of the entity;
    /// - `close()` releases prefetched, never-handed-out peek-locked messages back to the entity (AMQP `released`:
    ///   their delivery count is not raised) before it closes the connection; in receive-and-delete mode the
    ///   service has already deleted them, so prefetched messages not handed out by then are lost.
    public let prefetchCount: Int
    private let endpoint: MessagingEndpoint
    private let state = LockedValue(State())
    /// The time-outs of `receive` calls and of settlements' waits for the service's confirmation
    /// (`retry.tryTimeout`): one heap entry each in the scheduler every client on the system clock shares, not a
    /// Dispatch timer source each (~10 µs of client CPU per message at 8 receivers × 10, `bench servicebus --receive`).
    let timeouts: TimeoutScheduler

    /// A receiver for an explicit endpoint.
    ///
    /// - Parameters:
    ///   - endpoint: the namespace and how to authenticate.
    ///   - entityPath: a queue, or `<topic>/Subscriptions/<subscription>`.
    ///   - receiveMode: peek-lock (settle each message) or receive-and-delete.
    ///   - deadLetterQueue: read the entity's dead-letter queue instead.
    ///   - prefetchCount: messages to receive ahead of the calls (0, the default: none); clamped to 0...10,000.
    ///   - options: retries (the try time-out bounds each connect and management request), clock, logging.
    public init(endpoint: MessagingEndpoint, entityPath: String, receiveMode: ServiceBusReceiveMode = .peekLock,
                deadLetterQueue: Bool = false, prefetchCount: Int = 0,
                options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.prefetchCount = min(max(0, prefetchCount), Self.maxPrefetchCount)
        self.endpoint = options.applied(to: endpoint)
        self.baseEntityPath = entityPath
        self.entityPath = deadLetterQueue ? "\(entityPath)/$DeadLetterQueue" : entityPath
        self.receiveMode = receiveMode
        self.deadLetterQueue = deadLetterQueue
        self.options = options
        self.timeouts = .on(options.clock)
    }

    public convenience init(connectionString: String, queueName: String? = nil, receiveMode: ServiceBusReceiveMode = .peekLock,
                            deadLetterQueue: Bool = false, prefetchCount: Int = 0,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        let target = try options.serviceBusEndpoint(connectionString: connectionString, queueName: queueName)
        self.init(endpoint: target.endpoint, entityPath: target.entityPath,
                  receiveMode: receiveMode, deadLetterQueue: deadLetterQueue, prefetchCount: prefetchCount, options: options)
    }

    /// A receiver on a topic subscription (entity `<topic>/Subscriptions/<subscription>`), or its dead-letter queue.
    public convenience init(connectionString: String, topicName: String, subscriptionName: String,
                            receiveMode: ServiceBusReceiveMode = .peekLock, deadLetterQueue: Bool = false,
                            prefetchCount: Int = 0,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) throws(ServiceBusError) {
        try self.init(connectionString: connectionString, queueName: "\(topicName)/Subscriptions/\(subscriptionName)",
                      receiveMode: receiveMode, deadLetterQueue: deadLetterQueue, prefetchCount: prefetchCount,
                      options: options)
    }

    public convenience init(fullyQualifiedNamespace: String, queueName: String, credential: any TokenCredential,
                            receiveMode: ServiceBusReceiveMode = .peekLock, prefetchCount: Int = 0,
                            options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: options.serviceBusEndpoint(fullyQualifiedNamespace: fullyQualifiedNamespace, credential: credential),
                  entityPath: queueName, receiveMode: receiveMode, prefetchCount: prefetchCount, options: options)
    }

    /// The old name of `init(endpoint:entityPath:receiveMode:deadLetterQueue:options:)`.
    @available(*, deprecated, renamed: "init(endpoint:entityPath:receiveMode:deadLetterQueue:options:)")
    public convenience init(endpoint: MessagingEndpoint, queueName: String, receiveMode: ServiceBusReceiveMode = .peekLock,
                            deadLetterQueue: Bool = false, options: ServiceBusClientOptions = ServiceBusClientOptions()) {
        self.init(endpoint: endpoint, entityPath: queueName, receiveMode: receiveMode, deadLetterQueue: deadLetterQueue,
                  options: options)
    }

    /// The old name of the queue or subscription read (without the dead-letter suffix `entityPath` carries).
    @available(*, deprecated, message: "use entityPath (which ends in /$DeadLetterQueue when reading one)")
    public var queueName: String { baseEntityPath }

    // MARK: Receive

    /// Delivers up to `maxMessages` messages: as soon as that many arrived; else, once the first has arrived, what
    /// arrived within `receiveBatchWindow` more; else nothing when `timeout` passes (both measured on
    /// `options.clock`). The time-out bounds the wait for the first message, as `max_wait_time` does in
    /// azure-servicebus and `maxWaitTime` in .NET: messages already locked are not held while the call waits to fill.
    @discardableResult
    public func receive(maxMessages: Int, timeout: Duration, queue: DispatchQueue,
                        completion: @escaping @Sendable (Result<[ServiceBusReceivedMessage], ServiceBusError>) -> Void)
        -> any Cancellable
    {
        let (token, started) = ReceiveInbox.startReceive(
            in: state, maxCount: maxMessages, timeout: timeout, timeouts: timeouts, queue: queue, completion: completion)
        guard let once = started else { return token }
        // A call cancelled at the front of the line leaves the next one with the buffered messages: its window
        // starts now, not when another message comes.
        token.onCancel { [weak self] in self?.deliverReady() }
        deliverReady()
        withLink { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                if self.state.withLockedValue({ $0.inbox.remove(once, takingBuffered: false) }) != nil {
                    once.complete(.failure(error))
                }
                self.deliverReady()
            case .success(let link): self.grantCredit(link)
            }
        }
        return token
    }

    /// How long a `receive` call that has its first message waits for more (up to `maxMessages`) before returning
    /// what it has: 200 ms, azure-servicebus's `_further_pull_receive_timeout`. A call waiting to fill its batch
    /// until its time-out held the locks of the messages it already had — past the lock duration (30 s on the
    /// emulator, 60 s by default on Azure) they lapsed and every settlement failed with `.messageLockLost`.
    public static let receiveBatchWindow: Duration = .milliseconds(200)

    /// Starts the front call's batch window if it now has messages, and the receiver's one window timer if none
    /// is pending (under the lock). One timer per receiver, not one per call: starting a timer for every call that
    /// did not fill at once cost ~3 µs of client CPU per message at 8 receivers × 10 (bench servicebus --receive).
    private func startBatchWindowLocked(_ state: inout State) -> MonotonicInstant? {
        let clock = options.clock
        state.inbox.startBatchWindow(endingAt: clock.now().advanced(by: Self.receiveBatchWindow))
        guard !state.windowTimerPending, let end = state.inbox.batchWindowEnd else { return nil }
        state.windowTimerPending = true
        return end
    }

    /// Schedules the window timer for `end` (from `startBatchWindowLocked`); when it fires it ends the front call's
    /// window if that has passed, and schedules itself again for a window still open.
    private func scheduleBatchWindow(_ end: MonotonicInstant?) {
        guard let end else { return }
        let clock = options.clock
        _ = clock.schedule(at: end, on: windowQueue) { [weak self] in
            guard let self else { return }
            let (served, next) = state.withLockedValue { state in
                state.windowTimerPending = false
                let served = state.inbox.endBatchWindow(now: clock.now())
                var next: MonotonicInstant?
                if let end = state.inbox.batchWindowEnd {
                    state.windowTimerPending = true
                    next = end
                }
                return (served, next)
            }
            if let served { served.waiter.once.complete(.success(served.elements)) }
            scheduleBatchWindow(next)
        }
    }

    /// The most credit kept in flight for what the calls ask for, and the largest `prefetchCount`.
    static let maxPrefetchCount = 10_000

    private func grantCredit(_ link: Link) {
        let credit = state.withLockedValue { state in Self.creditToGrant(&state, link: link, prefetch: prefetchCount) }
        if credit > 0 { link.receiver.addCredit(UInt32(clamping: credit)) }
    }

    /// The credit to grant now on `link`, counted as outstanding: enough for what the waiting calls ask for, plus
    /// `prefetch` ahead of them. What the calls wait for is granted at once; the prefetch is topped up only once
    /// half of it is used, so a stream of messages costs one flow frame per half prefetch, not one per message.
    private static func creditToGrant(_ state: inout State, link: Link, prefetch: Int) -> Int {
        guard let current = state.link, current.receiver === link.receiver else { return 0 }
        // A caller may ask for `Int.max` messages; the credit in flight stays bounded all the same.
        let held = state.inbox.buffer.count + state.outstandingCredit
        let owed = min(state.inbox.demand, maxPrefetchCount) - held
        let needed = owed + prefetch
        guard needed > 0, owed > 0 || needed * 2 >= max(1, prefetch) else { return 0 }
        state.outstandingCredit += needed
        return needed
    }

    private func deliverReady() {
        let (ready, window) = state.withLockedValue { state in
            // A link that ended and is not yet noticed (`linkEnded` runs on the connection's queue) hands out nothing.
            if let link = state.link, link.connection.isClosed || link.receiver.hasEnded { dropLockedOnDeadLink(&state, link) }
            return (state.inbox.takeReady(), startBatchWindowLocked(&state))
        }
        for (waiter, messages) in ready { waiter.once.complete(.success(messages)) }
        scheduleBatchWindow(window)
    }

    private func received(_ delivery: AMQPDelivery, connectionID: Int) {
        let token = receiveMode == .peekLock ? ServiceBusReceivedMessage.lockToken(fromDeliveryTag: delivery.deliveryTag) : nil
        let message = ServiceBusReceivedMessage(amqp: delivery.message, delivery: receiveMode == .peekLock ? delivery : nil,
                                                lockToken: token, connectionID: connectionID)
        let peekLock = receiveMode == .peekLock
        typealias Ready = [(waiter: ReceiveInbox<ServiceBusReceivedMessage>.Waiter, elements: [ServiceBusReceivedMessage])]
        enum Step { case buffered(Ready, window: MonotonicInstant?, credit: Int, link: Link), stale, overrun(Link) }
        let prefetch = prefetchCount
        let step: Step = state.withLockedValue { state in
            guard let link = state.link, link.connection.id == connectionID else {
                // From a link already abandoned: a peek-locked message goes back to the queue; one received and
                // deleted is kept, since the service no longer has it.
                if !peekLock { state.inbox.append(message) }
                return .stale
            }
            // More messages than the credit granted: a peer ignoring flow control would grow the buffer without
            // bound, so the link is abandoned (and this message treated as stale).
            guard state.outstandingCredit > 0 else {
                if !peekLock { state.inbox.append(message) }
                state.link = nil
                return .overrun(link)
            }
            state.inbox.append(message)
            state.outstandingCredit -= 1
            // Hand out first, then top the prefetch up from what is left: one lock for the whole step.
            let ready = state.inbox.takeReady()
            return .buffered(ready, window: startBatchWindowLocked(&state),
                             credit: prefetch > 0 ? Self.creditToGrant(&state, link: link, prefetch: prefetch) : 0, link: link)
        }
        switch step {
        case .buffered(let ready, let window, let credit, let link):
            for (waiter, messages) in ready { waiter.once.complete(.success(messages)) }
            scheduleBatchWindow(window)
            if credit > 0 { link.receiver.addCredit(UInt32(clamping: credit)) }
            return
        case .stale:
            if peekLock { delivery.release(queue: LibraryQueues.ignoredCompletions) { _ in } }
        case .overrun(let link):
            options.logger.debug("service bus receiver on \(entityPath): the service ignored link credit; reconnecting")
            if peekLock { delivery.release(queue: LibraryQueues.ignoredCompletions) { _ in } }
            link.receiver.close(error: AMQPRemoteError(condition: AMQPRemoteError.transferLimitExceeded,
                                                       description: "more transfers than the link credit allowed"),
                                        queue: LibraryQueues.ignoredCompletions) { _ in }
            link.connection.close {}
        }
        deliverReady()
    }

    /// Peek-lock: drops the buffered messages that came on `dead` (its link or connection ended). Their locks died
    /// with the link, so every settlement would fail with `.messageLockLost`; the service delivers them again.
    /// Received-and-deleted messages are kept: the service no longer has them.
    private func dropLockedOnDeadLink(_ state: inout State, _ dead: Link) {
        guard receiveMode == .peekLock, !state.inbox.buffer.isEmpty else { return }
        let deadID = dead.connection.id
        let buffered = state.inbox.removeAllBuffered()
        for message in buffered where message.connectionID != deadID { state.inbox.append(message) }
        let dropped = buffered.count - state.inbox.buffer.count
        if dropped > 0 {
            options.logger.debug("service bus receiver on \(entityPath): dropped \(dropped) buffered message(s) whose link ended; the service redelivers them")
        }
    }

    // MARK: Connection

    /// The current link, connecting (once for all callers) when there is none or it ended.
    func withLink(_ completion: @escaping @Sendable (Result<Link, ServiceBusError>) -> Void) {
        enum Step { case ready(Link), wait, connect(replacing: Link?, CancellationToken), closed }
        let step: Step = state.withLockedValue { state in
            if state.closed { return .closed }
            if let link = state.link, !link.connection.isClosed, !link.receiver.hasEnded { return .ready(link) }
            if let ended = state.link?.connection.closedError { state.lastError = ended }
            let dead = state.link
            if let dead { dropLockedOnDeadLink(&state, dead) }
            state.link = nil
            state.outstandingCredit = 0
            state.connecting.append(completion)
            guard state.connecting.count == 1 else { return .wait }
            let attempt = CancellationToken()
            state.connectAttempt = attempt
            return .connect(replacing: dead, attempt)
        }
        switch step {
        case .closed: completion(.failure(ServiceBusError(.clientClosed, "the receiver is closed")))
        case .ready(let link): completion(.success(link))
        case .wait: break
        case .connect(let dead, let attempt):
            // A link that ended while its connection stayed open: `linkEnded` no longer finds it in the state
            // (cleared above), so its connection is closed here or it would stay open, unowned, until the peer
            // dropped it.
            dead?.connection.close {}
            connect(attempt)
        }
    }

    private func connect(_ attempt: CancellationToken) {
        let entity = entityPath
        let mode = receiveMode
        // One deadline for the whole connect: a peer that stops answering fails the waiting calls.
        MessagingConnection.openReceiver(
            endpoint: endpoint, containerIDPrefix: "SBReceiver", product: "azsdk-swift-servicebus", audienceEntity: entity,
            path: entity, deadline: .after(options.retry.tryTimeout), logger: options.logger, clock: options.clock,
            receiverOptions: { id in
                AMQPReceiverOptions(
                    credit: .manual, settleMode: mode == .peekLock ? .unsettled : .settled,
                    receiverSettleMode: mode == .peekLock ? .second : .first, maxMessageSize: 1_048_576 * 2,
                    targetAddress: "receiver-link-\(RandomUUID.string())",
                    properties: [.symbol("com.microsoft:receiver-name"): .string("SBReceiver-\(id)")])
            },
            onMessage: { [weak self] id, delivery in self?.received(delivery, connectionID: id) },
            cancellation: attempt
        ) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.finishConnect(.failure(error))
            case .success(let (connection, receiver)):
                self.finishConnect(.success(Link(connection: connection, receiver: receiver, management: LinkCache(
                    hasEnded: { $0.hasEnded }, discard: { $0.close(queue: LibraryQueues.ignoredCompletions) { _ in } }))))
                receiver.onEnd(queue: connection.queue) { [weak self] error in
                    self?.linkEnded(receiver, ServiceBusError(error, context: "the receive link on \(entity) ended"))
                }
            }
        }
    }

    private func finishConnect(_ result: Result<Link, ServiceBusError>) {
        typealias Waiters = [@Sendable (Result<Link, ServiceBusError>) -> Void]
        let (waiters, closed) = state.withLockedValue { state -> (Waiters, Bool) in
            defer { state.connecting = [] }
            state.connectAttempt = nil
            if state.closed { return (state.connecting, true) }
            switch result {
            case .success(let link):
                state.link = link
                state.connectionsOpened += 1
            case .failure(let error):
                state.lastError = error
            }
            return (state.connecting, false)
        }
        guard closed else { return waiters.forEach { $0(result) } }
        // Closed meanwhile: a link that came too late is closed, and the callers of a connect that close
        // cancelled (or that failed) learn that the receiver closed.
        if case .success(let lateLink) = result { lateLink.connection.close {} }
        for waiter in waiters { waiter(.failure(ServiceBusError(.clientClosed, "the receiver is closed"))) }
    }

    /// The receive link ended. The next call re-attaches on a new connection (the old one is closed); when the
    /// cause will not heal by itself (the token lapsed unrenewed, the entity went away), the calls waiting now
    /// fail with it, so a caller sees `.unauthorized` rather than empty receives.
    private func linkEnded(_ receiver: AMQPReceiver, _ error: ServiceBusError) {
        let (link, waiters): (Link?, [ReceiveInbox<ServiceBusReceivedMessage>.Waiter]) = state.withLockedValue { state in
            guard let link = state.link, link.receiver === receiver else { return (nil, []) }
            state.lastError = error
            dropLockedOnDeadLink(&state, link)
            state.link = nil
            state.outstandingCredit = 0
            return (link, error.isTransient ? [] : state.inbox.removeAllWaiters())
        }
        guard let link else { return }
        options.logger.debug("service bus receiver on \(entityPath): \(error)")
        link.connection.close {}
        for waiter in waiters { waiter.once.complete(.failure(error)) }
    }

    /// Closes the connection; pending receives complete with nothing.
    ///
    /// The link's credit is withdrawn first (a flow with link-credit 0, in both modes). Peek-locked messages received
    /// ahead (`prefetchCount`) and never handed out are then released back to the entity (AMQP `released`: they are
    /// available again at once, their delivery count unchanged), and the close waits for the service to confirm
    /// that, at most the try time-out; messages still arriving meanwhile are released as they come. The close does
    /// not wait for the service to acknowledge the withdrawn credit: a transfer it sent before reading that flow and
    /// that arrives after the connection closed is not released; its lock lapses and it is delivered again (delivery
    /// count + 1). In receive-and-delete mode messages received ahead and not handed out are already deleted and are
    /// lost, which is why the `toolbox` CLI refuses `--prefetch` with `--receive-and-delete`.
    public func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        let (link, waiters, unhanded, attempt) = state.withLockedValue { state in
            state.closed = true
            // Without a link, anything still arriving counts as stale, and stale peek-locked messages are released.
            defer { state.link = nil; state.connectAttempt = nil }
            return (state.link, state.inbox.removeAllWaiters(), state.inbox.removeAllBuffered(), state.connectAttempt)
        }
        // A connect in progress ends now instead of at its deadline (against a peer that accepted and never
        // answered, the try time-out later, its socket open all that while).
        attempt?.cancel()
        for waiter in waiters { waiter.once.complete(.success([])) }
        guard let link else { return queue.async(execute: completion) }
        let connectionID = link.connection.id
        let releasing = receiveMode == .peekLock ? unhanded.compactMap { $0.connectionID == connectionID ? $0.delivery : nil } : []
        if receiveMode == .receiveAndDelete, !unhanded.isEmpty {
            options.logger.warning("service bus receiver on \(entityPath): closed with \(unhanded.count) prefetched message(s) never handed out; in receive-and-delete mode the service has already deleted them")
        }
        // The link's credit goes first, in both modes, so the service sends (and, receiving and deleting, deletes)
        // nothing more; what it sent before reading the flow arrives without a link: peek-locked it is released as
        // stale, received-and-deleted it is lost (see `close` above).
        link.receiver.withdrawCredit()
        let finish = CompletionOnce<Void> { _ in link.connection.close { queue.async(execute: completion) } }
        guard !releasing.isEmpty else {
            finish.complete(())
            return
        }
        let left = LockedValue(releasing.count)
        let timer = options.clock.schedule(at: options.clock.now().advanced(by: options.retry.tryTimeout),
                                           on: link.connection.queue) { finish.complete(()) }
        let logger = options.logger
        let entity = entityPath
        for delivery in releasing {
            delivery.release(queue: link.connection.queue) { result in
                if case .failure(let error) = result {
                    logger.debug("service bus receiver on \(entity): releasing a prefetched message failed (its lock lapses instead): \(error)")
                }
                guard left.withLockedValue({ $0 -= 1; return $0 == 0 }) else { return }
                timer.cancel()
                finish.complete(())
            }
        }
    }

    // MARK: Management (used by the settlement extension)

    func management(operation: String, body: AMQPMap,
                    completion: @escaping @Sendable (Result<(AMQPMap, Link), ServiceBusError>) -> Void) {
        let entity = entityPath
        let timeout = options.retry.tryTimeout
        withLink { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let link):
                ServiceBusConnection.management(messaging: link.connection, cache: link.management, entity: entity,
                                                operation: operation, body: body,
                                                associatedLinkName: link.receiver.name,
                                                deadline: .after(timeout)) { result in
                    completion(result.map { ($0, link) })
                }
            }
        }
    }

    /// Read in place: `state.load()` would copy (and retain) the whole state on every settlement.
    var currentConnectionID: Int? { state.withLockedValue { $0.link?.connection.id } }

    /// Why the receiver's connection last ended or could not be opened (nil while nothing went wrong): a receive
    /// that returns fewer messages than asked for may owe that to it.
    public var lastError: ServiceBusError? {
        state.withLockedValue { $0.link?.connection.closedError ?? $0.lastError }
    }

    /// Messages received and not yet handed to a caller: with a `prefetchCount`, those received ahead of the calls.
    public var prefetchedCount: Int { state.withLockedValue { $0.inbox.buffer.count } }

    /// Connections this receiver opened (1 unless it had to reconnect).
    public var connectionsOpened: Int { state.load().connectionsOpened }

    func nextPeekSequence(_ from: Int64?) -> Int64 { from ?? state.load().lastPeekedSequence + 1 }

    func notePeeked(_ last: Int64) { state.withLockedValue { $0.lastPeekedSequence = max($0.lastPeekedSequence, last) } }
}
