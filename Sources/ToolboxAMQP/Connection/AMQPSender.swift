import Dispatch
import Foundation
import ToolboxCore

/// Options for attaching a sender link.
public struct AMQPSenderOptions: Sendable {
    /// Link name; defaults to a fresh UUID (RabbitMQ refuses two links with one name on a connection).
    public var name: String?
    /// `settled` sends pre-settled (fire and forget); `unsettled` waits for the receiver's outcome.
    public var settleMode: AMQPSenderSettleMode
    /// `second` asks the receiver to wait for our settlement after its outcome.
    public var receiverSettleMode: AMQPReceiverSettleMode
    /// The source address we announce (informational).
    public var sourceAddress: String?
    public var properties: AMQPMap?
    public var desiredCapabilities: [AMQPSymbol]?
    /// Bytes of messages that may wait for credit or window at once: a send beyond it fails at once with
    /// `.limitExceeded` (back-pressure) instead of queueing without bound while the peer grants nothing.
    /// A single message is always accepted onto an empty queue, whatever its size.
    public var maxPendingBytes: Int = 64 << 20

    public init(name: String? = nil, settleMode: AMQPSenderSettleMode = .unsettled,
                receiverSettleMode: AMQPReceiverSettleMode = .first, sourceAddress: String? = nil,
                properties: AMQPMap? = nil, desiredCapabilities: [AMQPSymbol]? = nil) {
        self.name = name
        self.settleMode = settleMode
        self.receiverSettleMode = receiverSettleMode
        self.sourceAddress = sourceAddress
        self.properties = properties
        self.desiredCapabilities = desiredCapabilities
    }
}

/// A sending link: queues messages, sends them as link credit and the session window allow, splits each
/// into frames no larger than the peer's max-frame-size, and reports the receiver's outcome.
///
/// ```swift
/// sender.send(AMQPMessage(data: bytes)) { result in
///     // .success(.accepted), .success(.rejected(error)), .success(nil) when sent pre-settled
/// }
/// ```
public final class AMQPSender: AMQPLink, LinkEndpoint, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to the connection's queue (asserted in debug builds at
    // the session-facing entry points).

    struct Pending {
        let payload: [UInt8]
        let messageFormat: UInt32
        let settled: Bool
        let callback: Callback<AMQPDeliveryState?>
        var resolve: (@Sendable (AMQPDeliveryState) -> AMQPDeliveryState)? = nil
        var deliveryID: UInt32?
        var tag: [UInt8] = []
        var offset = 0
    }

    let options: AMQPSenderOptions
    /// The node address this link is attached to (target for senders, source for receivers).
    public let address: String?
    private var pending: [Pending] = []
    private var pendingHead = 0
    /// Payload bytes in `pending` not yet fully sent (bounded by `options.maxPendingBytes`).
    private var pendingBytes = 0
    private var unsettled: [UInt32: Callback<AMQPDeliveryState?>] = [:]
    /// Broker role: for unsettled deliveries that came with `AMQPOutgoingDelivery.resolve`, what decides the
    /// outcome we settle with.
    private var resolvers: [UInt32: @Sendable (AMQPDeliveryState) -> AMQPDeliveryState] = [:]
    /// Link flow state (part 2, 2.6.7): credit the receiver granted and deliveries sent so far.
    private(set) var linkCredit: UInt32 = 0
    private(set) var deliveryCount: UInt32 = 0
    private var drainRequested = false
    /// A drain flow not yet answered: answered once even when no credit was left to use up.
    private var drainReplyOwed = false
    private var nextTag: UInt32 = 0
    /// Broker role: where `pump` takes the next message when nothing is queued (see `pull(queue:from:)`).
    private var pullSource: (@Sendable () -> AMQPOutgoingDelivery?)?
    private var pullCallbackQueue: DispatchQueue?

    init(session: AMQPSession, address: String?, options: AMQPSenderOptions) {
        self.options = options
        self.address = address
        super.init(session: session, name: options.name ?? "sender-\(RandomUUID.string())")
    }

    /// The peer's largest accepted message, if it declared one.
    var peerMaxMessageSize: UInt64? {
        guard let size = remoteMaxMessageSize, size > 0 else { return nil }
        return size
    }

    func attach(_ callback: Callback<AMQPSender>) {
        debugAssertOnQueue(queue)
        start({ handle in
            var attach = AMQPAttach(name: self.name, handle: handle, role: .sender,
                                    source: AMQPSource(address: self.options.sourceAddress ?? self.name),
                                    target: AMQPTarget(address: self.address))
            attach.senderSettleMode = self.options.settleMode
            attach.receiverSettleMode = self.options.receiverSettleMode
            attach.initialDeliveryCount = 0
            attach.properties = self.options.properties
            attach.desiredCapabilities = self.options.desiredCapabilities
            return attach
        }, onAttached: { callback(.success(self)) }, onFailed: { callback(.failure($0)) })
    }

    // MARK: - Public API

    /// Sends a message; `completion` gets the receiver's outcome, or nil for a pre-settled send.
    ///
    /// If the outcome has not arrived by `deadline` (or the returned handle is cancelled) the completion gets
    /// `.timedOut` (`.cancelled`); a message still waiting for credit is then not sent at all, one already on
    /// the wire may still arrive at the receiver.
    @discardableResult
    public func send(_ message: AMQPMessage, messageFormat: UInt32 = 0, deadline: Deadline = .never,
                     queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     completion: @escaping @Sendable (Result<AMQPDeliveryState?, AMQPError>) -> Void) -> any Cancellable {
        send(encodedMessage: message.encode(), messageFormat: messageFormat, deadline: deadline, queue: callbackQueue,
             completion: completion)
    }

    /// Sends already-encoded message sections (an Event Hubs batch, a forwarded message).
    ///
    /// `discardAfter` is checked, without a timer, when the link takes the message: past it, the message is not
    /// transferred and the completion gets `.timedOut`. For callers that time the send out themselves (one shared
    /// timer for many sends) and cancel it, so a message they gave up on can never leave later.
    @discardableResult
    public func send(encodedMessage payload: [UInt8], messageFormat: UInt32 = 0, deadline: Deadline = .never,
                     discardAfter: Deadline = .never,
                     queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     completion: @escaping @Sendable (Result<AMQPDeliveryState?, AMQPError>) -> Void) -> any Cancellable {
        let callback = Callback(callbackQueue, completion)
        let latest = min(deadline, discardAfter)
        queue.async { self.enqueue(payload, messageFormat: messageFormat, deadline: latest, callback: callback) }
        deadline.schedule(on: queue) { [weak self] in
            self?.abandon(callback, AMQPError(.timedOut, "no outcome for the message before its deadline"))
        }
        return AMQPCancellation { [weak self] in
            guard let self else { return }
            self.queue.async { self.abandon(callback, AMQPError(.cancelled, "send cancelled")) }
        }
    }

    /// Takes an encoded message from a caller already on the connection's queue (a request/response link): no
    /// hop, no timer, no cancellation handle. `callback` may be `.inline`; it is completed on this queue.
    func enqueueOnQueue(_ payload: [UInt8], messageFormat: UInt32, callback: Callback<AMQPDeliveryState?>) {
        debugAssertOnQueue(queue)
        enqueue(payload, messageFormat: messageFormat, deadline: .never, callback: callback)
    }

    private func enqueue(_ payload: [UInt8], messageFormat: UInt32, deadline: Deadline,
                         callback: Callback<AMQPDeliveryState?>) {
        guard !callback.isDone else { return }
        // Whoever gave the deadline may already have given up (and retried elsewhere): sending now could duplicate.
        if deadline != .never, deadline.hasPassed {
            callback(.failure(AMQPError(.timedOut, "the message's deadline passed before it could be sent")))
            return
        }
        if let error = terminalError ?? (state == .attached ? nil : AMQPError(.linkDetached, "link is not attached")) {
            callback(.failure(error))
            return
        }
        if let limit = peerMaxMessageSize, UInt64(payload.count) > limit {
            callback(.failure(AMQPError(.limitExceeded, "message of \(payload.count) bytes exceeds the peer's max-message-size \(limit)",
                                        remote: AMQPRemoteError(condition: AMQPRemoteError.messageSizeExceeded))))
            return
        }
        if pendingHead < pending.count, pendingBytes + payload.count > options.maxPendingBytes {
            callback(.failure(AMQPError(.limitExceeded, "\(pending.count - pendingHead) messages (\(pendingBytes) bytes) "
                + "already wait for link credit or session window from the peer (limit \(options.maxPendingBytes) "
                + "bytes); it is not taking messages as fast as they are sent")))
            return
        }
        pendingBytes += payload.count
        pending.append(Pending(payload: payload, messageFormat: messageFormat, settled: options.settleMode == .settled,
                               callback: callback))
        pump()
    }

    /// Fails a send that timed out or was cancelled; one still waiting for credit is dropped from the queue.
    private func abandon(_ callback: Callback<AMQPDeliveryState?>, _ error: AMQPError) {
        guard !callback.isDone else { return }
        if let index = pending.indices.dropFirst(pendingHead).first(where: { pending[$0].callback.once === callback.once }),
           pending[index].deliveryID == nil {
            pendingBytes -= pending[index].payload.count
            pending.remove(at: index)
        }
        callback(.failure(error))
    }

    /// Blocking form of `send`, waiting at most `timeout` for the outcome.
    @discardableResult
    public func send(_ message: AMQPMessage, messageFormat: UInt32 = 0, timeout: Duration = .seconds(60)) throws -> AMQPDeliveryState? {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPDeliveryState?, any Error>) -> Void) in
            send(message, messageFormat: messageFormat, deadline: .after(timeout), queue: queue) { done($0.mapError { $0 }) }
        }
    }

    // MARK: - Flow (connection queue only)

    override func didAttach(_ attach: AMQPAttach) {
        // The receiver's attach may carry delivery-count semantics only for receivers; ours starts at 0.
        deliveryCount = 0
    }

    override func customize(_ reply: inout AMQPAttach) {
        reply.initialDeliveryCount = 0
        reply.properties = options.properties
    }

    func receivedFlow(_ flow: AMQPFlow) {
        debugAssertOnQueue(queue)
        if let receiverCount = flow.deliveryCount, let credit = flow.linkCredit {
            // credit = receiver's delivery-count + link-credit - our delivery-count: the link-credit less what we
            // sent that the receiver had not counted yet (a serial-number difference, small). The credit itself is a
            // plain uint: taking the whole sum as a signed serial number turned a credit of 2^31 or more into
            // none, and every send stalled silently.
            let unaccounted = Int64(max(0, Int32(bitPattern: deliveryCount &- receiverCount)))
            let available = Int64(credit) - unaccounted
            linkCredit = available <= 0 ? 0 : UInt32(available)
        } else if let credit = flow.linkCredit {
            linkCredit = credit
        }
        drainRequested = flow.drain
        drainReplyOwed = flow.drain
        pump()
        if flow.echo { sendFlow() }
    }

    /// Sends as much as credit and the session window allow.
    func pump() {
        debugAssertOnQueue(queue)
        guard state == .attached else { return }
        while pendingHead < pending.count || pullNext() {
            var head = pending[pendingHead]
            if head.deliveryID == nil {
                guard linkCredit > 0, session.canSendTransfer else { break }
                head.deliveryID = session.allocateDeliveryID()
                if head.tag.isEmpty {
                    head.tag = withUnsafeBytes(of: nextTag.bigEndian) { Array($0) }
                    nextTag &+= 1
                }
                linkCredit -= 1
                deliveryCount &+= 1
            }
            var finished = false
            while session.canSendTransfer {
                var transfer = AMQPTransfer(handle: handle)
                transfer.deliveryID = head.deliveryID
                transfer.deliveryTag = head.tag
                transfer.messageFormat = head.messageFormat
                transfer.settled = head.settled
                transfer.more = true
                let connection = session.connection
                let room = max(1, connection.peerMaxFrameSize - connection.frameGrowth
                    - AMQPFrame.overhead(of: .transfer(transfer)))
                let end = min(head.payload.count, head.offset + room)
                transfer.more = end < head.payload.count
                session.sendTransfer(transfer, payload: Array(head.payload[head.offset..<end]))
                head.offset = end
                if !transfer.more { finished = true; break }
            }
            pending[pendingHead] = head
            guard finished, let id = head.deliveryID else { break }
            pendingHead += 1
            pendingBytes -= head.payload.count
            if head.settled {
                head.callback(.success(nil))
            } else {
                unsettled[id] = head.callback
                if let resolve = head.resolve { resolvers[id] = resolve }
                session.outgoingUnsettled[id] = self
            }
        }
        if pendingHead > 64, pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        if drainRequested, pendingHead == pending.count, linkCredit > 0 || drainReplyOwed {
            // Drain: use up the remaining credit by advancing delivery-count, and tell the receiver (also when
            // the credit was already used up: Azure SDKs wait for this answer before they detach).
            deliveryCount &+= linkCredit
            linkCredit = 0
            drainReplyOwed = false
            sendFlow()
        }
    }

    /// Broker role: takes one message from the pull source when credit allows; true if one was queued.
    private func pullNext() -> Bool {
        guard linkCredit > 0, session.canSendTransfer, let source = pullSource, let queue = pullCallbackQueue,
            let next = source()
        else { return false }
        pendingBytes += next.payload.count
        pending.append(Pending(payload: next.payload, messageFormat: next.messageFormat,
                               settled: next.settled ?? (options.settleMode == .settled),
                               callback: Callback(queue, next.completion), resolve: next.resolve,
                               tag: next.deliveryTag ?? []))
        return true
    }

    private func sendFlow() {
        var flow = session.makeFlow()
        flow.handle = handle
        flow.deliveryCount = deliveryCount
        flow.linkCredit = linkCredit
        flow.available = UInt32(clamping: pending.count - pendingHead)
        flow.drain = drainRequested
        session.send(.flow(flow))
    }

    func receivedDisposition(deliveryID: UInt32, settled: Bool, state: AMQPDeliveryState?) {
        debugAssertOnQueue(queue)
        guard let callback = unsettled[deliveryID] else { return }
        var state = state
        if !settled {
            // Only a terminal outcome matters; with rcv-settle-mode second we settle it ourselves, with the outcome
            // the broker decides (Service Bus: `rejected` with message-lock-lost when the lock has lapsed).
            guard let asked = state, asked.isOutcome else { return }
            let final = resolvers.removeValue(forKey: deliveryID)?(asked) ?? asked
            state = final
            session.send(.disposition(AMQPDisposition(role: .sender, first: deliveryID, settled: true, state: final)))
            session.outgoingUnsettled[deliveryID] = nil
        } else if let resolve = resolvers.removeValue(forKey: deliveryID), let asked = state, asked.isOutcome {
            // The receiver settled it itself: its outcome stands, but the broker still applies it.
            _ = resolve(asked)
        }
        unsettled[deliveryID] = nil
        callback(.success(state))
    }

    override func didTerminate(_ error: AMQPError) {
        pullSource = nil
        for index in pendingHead..<pending.count { pending[index].callback(.failure(error)) }
        pending = []
        pendingHead = 0
        pendingBytes = 0
        for (id, callback) in unsettled {
            session.outgoingUnsettled[id] = nil
            callback(.failure(error))
        }
        unsettled = [:]
        resolvers = [:]
    }
}

/// Broker role: a message a pull source hands to a sender link when the receiver has granted credit.
public struct AMQPOutgoingDelivery: Sendable {
    /// The encoded message sections.
    public var payload: [UInt8]
    public var messageFormat: UInt32
    /// The delivery tag (Service Bus: the 16-byte lock token); nil lets the link number its deliveries.
    public var deliveryTag: [UInt8]?
    /// Pre-settled or not; nil follows the link's settle mode.
    public var settled: Bool?
    /// Gets the receiver's outcome (nil for a pre-settled delivery) or the link's failure.
    public var completion: @Sendable (Result<AMQPDeliveryState?, AMQPError>) -> Void
    /// Broker role: runs on the connection's queue with the receiver's outcome as soon as it arrives (before
    /// `completion`). When the receiver leaves settling to us (rcv-settle-mode second), what it returns is the
    /// outcome we settle with and report to `completion`; when the receiver settled itself, its own outcome
    /// stands. nil settles with the receiver's outcome.
    public var resolve: (@Sendable (AMQPDeliveryState) -> AMQPDeliveryState)?

    public init(payload: [UInt8], messageFormat: UInt32 = 0, deliveryTag: [UInt8]? = nil, settled: Bool? = nil,
                resolve: (@Sendable (AMQPDeliveryState) -> AMQPDeliveryState)? = nil,
                completion: @escaping @Sendable (Result<AMQPDeliveryState?, AMQPError>) -> Void) {
        self.resolve = resolve
        self.payload = payload
        self.messageFormat = messageFormat
        self.deliveryTag = deliveryTag
        self.settled = settled
        self.completion = completion
    }
}

extension AMQPSender {
    /// Broker role: takes messages from `source` only while the receiver has credit and nothing else is queued,
    /// so a message is taken (and, for Service Bus, locked) only when it can be sent at once.
    ///
    /// `source` runs on the connection's queue and must not block (taking a lock briefly is fine); it returns
    /// nil when it has nothing. Call `wake()` when it may have something again. Completions run on `queue`.
    public func pull(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     from source: @escaping @Sendable () -> AMQPOutgoingDelivery?) {
        queue.async {
            guard self.state == .attached else { return }
            self.pullCallbackQueue = callbackQueue
            self.pullSource = source
            self.pump()
        }
    }

    /// Broker role: asks the link to try its pull source again (new messages arrived).
    public func wake() {
        queue.async { self.pump() }
    }
}

extension AMQPSession {
    /// Attaches a sender link to `address` (the target) and calls `completion` when the peer attached.
    ///
    /// Past `deadline` (or after `cancel()` on the returned handle) the completion fails and the link is detached.
    @discardableResult
    public func attachSender(address: String?, options: AMQPSenderOptions = .init(), deadline: Deadline = .never,
                             queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                             completion: @escaping @Sendable (Result<AMQPSender, AMQPError>) -> Void) -> any Cancellable {
        let callback = Callback(callbackQueue, completion)
        let sender = AMQPSender(session: self, address: address, options: options)
        queue.async { sender.attach(callback) }
        return sender.bound(callback, deadline: deadline)
    }

    /// Blocking form of `attachSender`, waiting at most `timeout`.
    public func attachSender(address: String?, options: AMQPSenderOptions = .init(), timeout: Duration = .seconds(60)) throws -> AMQPSender {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPSender, any Error>) -> Void) in
            attachSender(address: address, options: options, deadline: .after(timeout), queue: queue) {
                done($0.mapError { $0 })
            }
        }
    }
}
