import Dispatch
import Foundation
import ToolboxCore

/// How a receiver grants link credit.
public enum AMQPCreditMode: Sendable, Hashable {
    /// Keep up to `prefetch` messages in flight, topping up when half is used.
    case auto(prefetch: UInt32)
    /// Grant credit only through `addCredit`.
    case manual
}

/// Options for attaching a receiver link.
public struct AMQPReceiverOptions: Sendable {
    public var name: String?
    public var credit: AMQPCreditMode
    /// `settled` asks the sender to pre-settle (at-most-once); `unsettled` lets us choose each outcome.
    public var settleMode: AMQPSenderSettleMode
    public var receiverSettleMode: AMQPReceiverSettleMode
    /// Largest message we accept; larger ones detach the link with `amqp:link:message-size-exceeded`.
    public var maxMessageSize: UInt64
    public var filter: AMQPMap?
    public var targetAddress: String?
    /// Link properties sent in attach (Event Hubs: `com.microsoft:epoch`).
    public var properties: AMQPMap?
    public var desiredCapabilities: [AMQPSymbol]?

    public init(name: String? = nil, credit: AMQPCreditMode = .auto(prefetch: 100),
                settleMode: AMQPSenderSettleMode = .unsettled, receiverSettleMode: AMQPReceiverSettleMode = .first,
                maxMessageSize: UInt64 = 64 * 1024 * 1024, filter: AMQPMap? = nil, targetAddress: String? = nil,
                properties: AMQPMap? = nil, desiredCapabilities: [AMQPSymbol]? = nil) {
        self.name = name
        self.credit = credit
        self.settleMode = settleMode
        self.receiverSettleMode = receiverSettleMode
        self.maxMessageSize = maxMessageSize
        self.filter = filter
        self.targetAddress = targetAddress
        self.properties = properties
        self.desiredCapabilities = desiredCapabilities
    }
}

/// A message received on a receiver link, with the means to settle it.
public struct AMQPDelivery: Sendable {
    public let message: AMQPMessage
    public let deliveryID: UInt32
    public let deliveryTag: [UInt8]
    public let messageFormat: UInt32
    /// True if the sender pre-settled it: nothing to accept.
    public let isSettled: Bool
    /// Size of the encoded message.
    public let size: Int
    /// The message as it arrived (its transfers' payloads joined): a broker that stores or forwards it can keep
    /// these bytes instead of encoding `message` again (the emulator's event hubs do).
    package var encodedMessage: [UInt8] = []
    let receiver: AMQPReceiver

    /// Settles with `accepted`.
    public func accept(queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: (@Sendable (Result<Void, AMQPError>) -> Void)? = nil) {
        settle(.accepted, queue: queue, completion: completion)
    }

    /// Settles with `rejected`, optionally telling the sender why.
    public func reject(_ error: AMQPRemoteError? = nil, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: (@Sendable (Result<Void, AMQPError>) -> Void)? = nil) {
        settle(.rejected(error), queue: queue, completion: completion)
    }

    /// Settles with `released`: the message may be delivered again.
    public func release(queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                        completion: (@Sendable (Result<Void, AMQPError>) -> Void)? = nil) {
        settle(.released, queue: queue, completion: completion)
    }

    /// Settles with `modified` (Service Bus abandon/defer).
    public func modify(deliveryFailed: Bool, undeliverableHere: Bool, annotations: AMQPMap? = nil,
                       queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: (@Sendable (Result<Void, AMQPError>) -> Void)? = nil) {
        settle(.modified(deliveryFailed: deliveryFailed, undeliverableHere: undeliverableHere, messageAnnotations: annotations),
               queue: queue, completion: completion)
    }

    /// Settles with any outcome. A delivery the sender pre-settled needs nothing: the completion succeeds at once.
    public func settle(_ outcome: AMQPDeliveryState, queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                       completion: (@Sendable (Result<Void, AMQPError>) -> Void)? = nil) {
        if isSettled {
            if let completion { queue.async { completion(.success(())) } }
            return
        }
        // Nobody waits for most settlements (brokers, auto-accepting receivers): then no hop is worth making.
        let callback = completion.map { Callback(queue, $0) } ?? Callback<Void>.inline { _ in }
        receiver.settle(deliveryID: deliveryID, outcome: outcome, callback: callback)
    }
}

/// A receiving link: grants credit, reassembles multi-frame transfers, delivers messages to a handler and
/// sends the outcomes the application chooses.
///
/// ```swift
/// let receiver = try session.attachReceiver(address: "/queue/q1") { delivery in
///     print(delivery.message.dataBody ?? [])
///     delivery.accept()
/// }
/// ```
public final class AMQPReceiver: AMQPLink, LinkEndpoint, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to the connection's queue (asserted in debug builds at
    // the session-facing entry points), except `settlesToSend`, which is a `LockedValue`.

    let options: AMQPReceiverOptions
    /// The node address this link is attached to (target for senders, source for receivers).
    public let address: String?
    /// Where the handler runs; nil runs it inline on the connection's queue (broker role, see `AMQPLinkDecision`).
    private let handlerQueue: DispatchQueue?
    private let handler: @Sendable (AMQPDelivery) -> Void
    private(set) var linkCredit: UInt32 = 0
    private(set) var deliveryCount: UInt32 = 0
    /// The delivery-count our flows allowed the sender to reach, at most (serial arithmetic; see `sendFlow`).
    private var creditLimit: UInt32 = 0
    /// The most credit one of our flows granted (twice it is the overshoot tolerated past `creditLimit`).
    private var largestGrant: UInt32 = 0
    private var autoPrefetch: UInt32?
    /// Deliveries handed to the handler that it has not returned from yet. With `.auto` credit they count
    /// against the prefetch, so a slow handler slows the sender instead of queueing without bound.
    private var outstanding: UInt32 = 0
    private var draining = false
    private var drainCallbacks: [Callback<Void>] = []
    /// Settlements sent unsettled (rcv-settle-mode second), waiting for the sender's: each with the outcome asked for.
    private var pendingSettles: [UInt32: (callback: Callback<Void>, asked: AMQPDeliveryState)] = [:]
    /// Settlements asked for off the connection queue, in order, waiting for the hop that sends them all
    /// (`settle`); guarded by its own lock, since other threads append to it.
    private let settlesToSend = LockedValue<[(UInt32, AMQPDeliveryState, Callback<Void>)]>([])
    private var partial: (id: UInt32, tag: [UInt8], format: UInt32, settled: Bool, bytes: [UInt8])?

    init(session: AMQPSession, address: String?, options: AMQPReceiverOptions, handlerQueue: DispatchQueue?,
         handler: @escaping @Sendable (AMQPDelivery) -> Void) {
        self.options = options
        self.address = address
        // A handler that asks for the connection's own queue runs inline: the same queue, without two queued
        // blocks per message (one to the handler, one back to count it handled).
        self.handlerQueue = handlerQueue === session.queue ? nil : handlerQueue
        self.handler = handler
        if case .auto(let prefetch) = options.credit { autoPrefetch = max(1, prefetch) }
        super.init(session: session, name: options.name ?? "receiver-\(RandomUUID.string())")
    }

    func attach(_ callback: Callback<AMQPReceiver>) {
        debugAssertOnQueue(queue)
        start({ handle in
            var source = AMQPSource(address: self.address)
            source.filter = self.options.filter
            var attach = AMQPAttach(name: self.name, handle: handle, role: .receiver, source: source,
                                    target: AMQPTarget(address: self.options.targetAddress ?? self.name))
            attach.senderSettleMode = self.options.settleMode
            attach.receiverSettleMode = self.options.receiverSettleMode
            attach.maxMessageSize = self.options.maxMessageSize
            attach.properties = self.options.properties
            attach.desiredCapabilities = self.options.desiredCapabilities
            return attach
        }, onAttached: { callback(.success(self)) }, onFailed: { callback(.failure($0)) })
    }

    // MARK: - Public API

    /// The most credit a receiver grants: a sender computes what it may send with serial-number arithmetic on
    /// delivery counts (AMQP 1.0 §2.6.7), where credit of 2³¹ or more reads as negative — nothing at all.
    public static let maxLinkCredit = UInt32(Int32.max)

    /// Grants `count` more messages of credit, up to `maxLinkCredit` outstanding.
    public func addCredit(_ count: UInt32) {
        queue.async {
            guard self.state == .attached else { return }
            let sum = self.linkCredit.addingReportingOverflow(count)
            self.linkCredit = sum.overflow ? Self.maxLinkCredit : min(sum.partialValue, Self.maxLinkCredit)
            self.sendFlow()
        }
    }

    /// Withdraws the credit the sender has not used yet (a flow with link-credit 0, AMQP 1.0 §2.6.7) and stops
    /// `.auto` top-ups: the sender sends nothing more once it has read the flow, though what it sent before still
    /// arrives. A receiver about to give back what it holds calls this first, so nothing new comes in behind it.
    public func withdrawCredit() {
        queue.async {
            guard self.state == .attached else { return }
            self.autoPrefetch = nil
            self.linkCredit = 0
            self.sendFlow()
        }
    }

    /// Asks the sender to use up or cancel all outstanding credit; completes when it reported credit 0.
    ///
    /// After a drain an `.auto` receiver stops topping up credit; call `addCredit` to receive again.
    public func drain(deadline: Deadline = .never, queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        deadline.schedule(on: queue) { callback(.failure(AMQPError(.timedOut, "the sender did not finish the drain before the deadline"))) }
        queue.async {
            guard self.state == .attached else {
                callback(.failure(self.terminalError ?? AMQPError(.linkDetached, "link is not attached")))
                return
            }
            self.autoPrefetch = nil
            self.draining = true
            self.drainCallbacks.append(callback)
            self.sendFlow()
        }
    }

    /// Blocking form of `drain`, waiting at most `timeout`.
    public func drain(timeout: Duration = .seconds(60)) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            drain(deadline: .after(timeout), queue: queue) { done($0.mapError { $0 }) }
        }
    }

    // MARK: - Connection queue only

    override func didAttach(_ attach: AMQPAttach) {
        deliveryCount = attach.initialDeliveryCount ?? 0
        creditLimit = deliveryCount
        if let prefetch = autoPrefetch {
            linkCredit = prefetch
            sendFlow()
        }
    }

    override func customize(_ reply: inout AMQPAttach) {
        reply.maxMessageSize = options.maxMessageSize
        reply.properties = options.properties
    }

    private func sendFlow() {
        // The delivery-count up to which any flow of ours ever let the sender send. Only what exceeds it is a
        // violation: a sender's flow may echo a credit that our later grant has already overtaken.
        let limit = deliveryCount &+ linkCredit
        if Int32(bitPattern: limit &- creditLimit) > 0 { creditLimit = limit }
        largestGrant = max(largestGrant, linkCredit)
        var flow = session.makeFlow()
        flow.handle = handle
        flow.deliveryCount = deliveryCount
        flow.linkCredit = linkCredit
        flow.drain = draining
        session.send(.flow(flow))
    }

    func receivedFlow(_ flow: AMQPFlow) {
        debugAssertOnQueue(queue)
        // Only the receiver sets link-credit (AMQP 1.0 §2.6.7): a sender's flow echoes the last value it saw, which
        // may be stale (pyamqp's senders send their configured credit), so adopting it stopped `.auto` top-ups
        // after one prefetch's worth of deliveries. What the sender's delivery-count says is authoritative: credit
        // it consumed without transfers (drain) is gone.
        if let count = flow.deliveryCount {
            let consumed = Int32(bitPattern: count &- deliveryCount)
            if consumed > 0 {
                linkCredit = linkCredit > UInt32(consumed) ? linkCredit - UInt32(consumed) : 0
                deliveryCount = count
            }
        }
        if let credit = flow.linkCredit, credit < linkCredit { linkCredit = credit }
        if draining, linkCredit == 0 {
            draining = false
            let callbacks = drainCallbacks
            drainCallbacks = []
            for callback in callbacks { callback(.success(())) }
        }
        if flow.echo { sendFlow() }
    }

    func receivedTransfer(_ transfer: AMQPTransfer, payload: [UInt8]) throws {
        debugAssertOnQueue(queue)
        guard state == .attached else { return }
        if partial == nil {
            guard let id = transfer.deliveryID, let tag = transfer.deliveryTag else {
                throw AMQPError(.protocolViolation, "first transfer of a delivery lacks delivery-id or delivery-tag")
            }
            // A delivery-id names one delivery of the session until it is settled: the same id again while it is
            // unsettled is the same transfer sent twice (`toolbox amqp receive` handed one message out twice).
            guard session.incomingUnsettled[id] == nil else {
                throw AMQPError(.protocolViolation, "the peer sent delivery-id \(id) again while that delivery is unsettled")
            }
            guard Int64(Int32(bitPattern: deliveryCount &- creditLimit)) < 2 * Int64(largestGrant) else {
                // Deliveries far beyond any credit we granted (AMQP 1.0 2.6.7): refuse them rather than let a
                // peer flood us. Two grants' worth of overshoot is tolerated: RabbitMQ 3.10 applies a flow's
                // link-credit without subtracting the transfers it already has in flight (seen: a full grant of
                // 500 past the limit in RabbitMQInteropTests).
                detachWithError(
                    AMQPRemoteError(condition: AMQPRemoteError.transferLimitExceeded,
                                    description: "delivery \(id) arrived without link credit"),
                    AMQPError(.limitExceeded, "the peer sent delivery \(id) without link credit"))
                return
            }
            // A delivery takes its credit with its first transfer (2.6.7), as the sender counts it: a flow
            // the sender sends between the frames of a long delivery then agrees with ours.
            deliveryCount &+= 1
            if linkCredit > 0 { linkCredit -= 1 }
            partial = (id, tag, transfer.messageFormat ?? 0, transfer.settled ?? false, [])
        }
        guard var current = partial else { return }
        if transfer.settled == true { current.settled = true }
        if transfer.aborted {
            partial = nil
            replenish()
            return
        }
        if UInt64(current.bytes.count + payload.count) > options.maxMessageSize {
            partial = nil
            detachWithError(
                AMQPRemoteError(condition: AMQPRemoteError.messageSizeExceeded,
                                description: "message exceeds max-message-size \(options.maxMessageSize)"),
                AMQPError(.limitExceeded, "incoming message exceeds max-message-size \(options.maxMessageSize)"))
            return
        }
        current.bytes.append(contentsOf: payload)
        if transfer.more {
            partial = current
            return
        }
        partial = nil
        replenish()
        let message: AMQPMessage
        do {
            message = try AMQPMessage.decode(current.bytes, limits: session.connection.configuration.decodingLimits)
        } catch {
            detachWithError(AMQPRemoteError(condition: AMQPRemoteError.decodeError, description: "\(error)"),
                            AMQPError(.decoding, "could not decode delivery \(current.id): \(error)"))
            return
        }
        if !current.settled { session.incomingUnsettled[current.id] = self }
        let delivery = AMQPDelivery(message: message, deliveryID: current.id, deliveryTag: current.tag,
                                    messageFormat: current.format, isSettled: current.settled,
                                    size: current.bytes.count, encodedMessage: current.bytes, receiver: self)
        let handler = self.handler
        outstanding += 1
        guard let handlerQueue else {
            // Inline: the handler may settle at once (`settle` sees it is on the connection queue), so the
            // disposition leaves in this same turn, coalesced with its neighbours (`AMQPConnection.send`).
            handler(delivery)
            handlerReturned()
            return
        }
        handlerQueue.async {
            handler(delivery)
            self.queue.async { self.handlerReturned() }
        }
    }


    private func handlerReturned() {
        if outstanding > 0 { outstanding -= 1 }
        replenish()
    }

    /// `.auto` credit: once credit plus unprocessed deliveries fall to half the prefetch, top credit back up
    /// to the prefetch minus what the handler still has to process.
    private func replenish() {
        guard let prefetch = autoPrefetch, !draining, state == .attached else { return }
        let inUse = UInt64(linkCredit) + UInt64(outstanding)
        guard inUse <= UInt64(prefetch / 2), outstanding < prefetch else { return }
        linkCredit = prefetch - outstanding
        sendFlow()
    }

    func settle(deliveryID: UInt32, outcome: AMQPDeliveryState, callback: Callback<Void>) {
        if session.connection.isOnQueue {
            return settleOnQueue(deliveryID: deliveryID, outcome: outcome, callback: callback)
        }
        // Settlements asked for from other threads share one hop to the connection queue: a caller completing
        // ten messages in a row costs one queued block instead of ten, and their dispositions leave in one
        // turn, so `AMQPConnection.send` merges consecutive ones into a single first..last frame.
        let first = settlesToSend.withLockedValue { pending in
            pending.append((deliveryID, outcome, callback))
            return pending.count == 1
        }
        if first { queue.async { self.sendQueuedSettles() } }
    }

    private func sendQueuedSettles() {
        debugAssertOnQueue(queue)
        let pending = settlesToSend.withLockedValue { pending in
            defer { pending = [] }
            return pending
        }
        for (deliveryID, outcome, callback) in pending {
            settleOnQueue(deliveryID: deliveryID, outcome: outcome, callback: callback)
        }
    }

    private func settleOnQueue(deliveryID: UInt32, outcome: AMQPDeliveryState, callback: Callback<Void>) {
        debugAssertOnQueue(queue)
        guard state == .attached, session.incomingUnsettled[deliveryID] === self else {
            callback(.failure(terminalError ?? AMQPError(.invalidArgument, "delivery \(deliveryID) is not unsettled on this link")))
            return
        }
        let settled = options.receiverSettleMode == .first
        session.send(.disposition(AMQPDisposition(role: .receiver, first: deliveryID, settled: settled, state: outcome)))
        if settled {
            session.incomingUnsettled[deliveryID] = nil
            callback(.success(()))
        } else {
            pendingSettles[deliveryID] = (callback, outcome)
        }
    }

    func receivedDisposition(deliveryID: UInt32, settled: Bool, state: AMQPDeliveryState?) {
        debugAssertOnQueue(queue)
        guard settled, let (callback, asked) = pendingSettles.removeValue(forKey: deliveryID) else { return }
        // The sender settles with the outcome it applied: `rejected` where we asked for something else means our
        // outcome was refused (Service Bus: the lock had lapsed, `com.microsoft:message-lock-lost`). Where we asked
        // for `rejected` (dead-letter), Azure confirms with a bare `rejected()`; one carrying an error other than
        // ours (message-lock-lost) is a refusal too. `released`/`modified` answers count as applied, as in the Go
        // and .NET SDKs, which fail a settlement only on `rejected`.
        if case .rejected(let remote)? = state {
            let refused: Bool
            if case .rejected(let ours) = asked {
                refused = remote != nil && remote?.condition != ours?.condition
            } else {
                refused = true
            }
            if refused {
                let condition = remote?.condition.rawValue ?? "no condition"
                return callback(.failure(AMQPError(.requestFailed, "the sender refused the settlement (\(condition))",
                                                   remote: remote)))
            }
        }
        callback(.success(()))
    }

    override func didTerminate(_ error: AMQPError) {
        for callback in drainCallbacks { callback(.failure(error)) }
        drainCallbacks = []
        for (id, pending) in pendingSettles {
            session.incomingUnsettled[id] = nil
            pending.callback(.failure(error))
        }
        pendingSettles = [:]
        session.incomingUnsettled = session.incomingUnsettled.filter { $0.value !== self }
    }
}

extension AMQPSession {
    /// Attaches a receiver link to `address` (the source); `onMessage` runs on `messageQueue` for each message.
    ///
    /// Past `deadline` (or after `cancel()` on the returned handle) the completion fails and the link is detached.
    @discardableResult
    public func attachReceiver(address: String?, options: AMQPReceiverOptions = .init(),
                               messageQueue: DispatchQueue = LibraryQueues.makeQueue(label: "ToolboxAMQP.receiver"),
                               deadline: Deadline = .never,
                               queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                               onMessage: @escaping @Sendable (AMQPDelivery) -> Void,
                               completion: @escaping @Sendable (Result<AMQPReceiver, AMQPError>) -> Void) -> any Cancellable {
        let callback = Callback(callbackQueue, completion)
        let receiver = AMQPReceiver(session: self, address: address, options: options, handlerQueue: messageQueue,
                                    handler: onMessage)
        queue.async { receiver.attach(callback) }
        return receiver.bound(callback, deadline: deadline)
    }

    /// Blocking form of `attachReceiver`, waiting at most `timeout`.
    public func attachReceiver(address: String?, options: AMQPReceiverOptions = .init(),
                               messageQueue: DispatchQueue = LibraryQueues.makeQueue(label: "ToolboxAMQP.receiver"),
                               timeout: Duration = .seconds(60),
                               onMessage: @escaping @Sendable (AMQPDelivery) -> Void) throws -> AMQPReceiver {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPReceiver, any Error>) -> Void) in
            attachReceiver(address: address, options: options, messageQueue: messageQueue, deadline: .after(timeout),
                           queue: queue, onMessage: onMessage) { done($0.mapError { $0 }) }
        }
    }
}
