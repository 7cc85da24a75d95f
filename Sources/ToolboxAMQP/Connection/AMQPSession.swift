import Dispatch
import ToolboxCore

/// Settings of one session.
public struct AMQPSessionConfiguration: Sendable {
    /// How many incoming transfer frames we allow before the peer must wait for a flow.
    public var incomingWindow: UInt32
    /// How many transfer frames we announce we may send (informational for the peer).
    public var outgoingWindow: UInt32
    /// Highest link handle we accept.
    public var handleMax: UInt32

    public init(incomingWindow: UInt32 = 2048, outgoingWindow: UInt32 = 2048, handleMax: UInt32 = 1023) {
        self.incomingWindow = max(1, incomingWindow)
        self.outgoingWindow = outgoingWindow
        self.handleMax = handleMax
    }
}

/// An AMQP session: a channel with transfer windows, holding sender and receiver links.
///
/// Create it with `AMQPConnection.beginSession`; attach links with `attachSender` / `attachReceiver`.
public final class AMQPSession: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is confined to `connection.queue`; the connection- and link-facing
    // entry points assert it in debug builds, public methods hop onto it.

    let connection: AMQPConnection
    /// Our channel number.
    public let channel: UInt16
    let configuration: AMQPSessionConfiguration
    private(set) var remoteChannel: UInt16?
    private var beginCallback: Callback<AMQPSession>?
    private var endCallbacks: [Callback<Void>] = []
    private(set) var ended = false
    private var endSent = false

    // Session flow control (AMQP 1.0 part 2, 2.5.6). Transfer ids count frames, delivery ids deliveries.
    private(set) var nextOutgoingID: UInt32 = 0
    private var nextIncomingID: UInt32 = 0
    private var incomingWindow: UInt32
    /// The transfer-id up to which the windows we announced let the peer send (serial arithmetic; it only grows:
    /// a transfer sent before the peer saw a later flow of ours was within the earlier limit).
    private var incomingLimit: UInt32 = 0
    private(set) var remoteIncomingWindow: UInt32 = 0
    private var remoteOutgoingWindow: UInt32 = 0
    private var nextDeliveryID: UInt32 = 0
    /// Our window ran low while received frames were processed; the connection calls `reopenWindow` when the
    /// bytes it has read are done, so transfers the peer sent before seeing that flow are judged against the
    /// window it had (AMQP 1.0 2.5.6).
    private var windowReopenPending = false
    /// The peer's handle-max: our handles must not exceed it.
    private var remoteHandleMax: UInt32 = .max

    private var links: [UInt32: any LinkEndpoint] = [:]
    private var linksByRemoteHandle: [UInt32: any LinkEndpoint] = [:]
    /// Unsettled deliveries we sent, by delivery id, for routing the receiver's dispositions.
    var outgoingUnsettled: [UInt32: AMQPSender] = [:]
    /// Unsettled deliveries we received, by delivery id, for routing the sender's dispositions.
    var incomingUnsettled: [UInt32: AMQPReceiver] = [:]

    init(connection: AMQPConnection, channel: UInt16, configuration: AMQPSessionConfiguration) {
        self.connection = connection
        self.channel = channel
        self.configuration = configuration
        self.incomingWindow = configuration.incomingWindow
    }

    var queue: DispatchQueue { connection.queue }

    // MARK: - Public API

    /// Ends the session (detaching its links implicitly) and waits for the peer's end (until `deadline`).
    public func end(error: AMQPRemoteError? = nil, deadline: Deadline = .never,
                    queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                    completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        startClosingHandshake("end", on: queue, deadline: deadline, callbackQueue: callbackQueue,
                              completion: completion) { callback in
            if self.ended { callback(.success(())); return }
            self.endCallbacks.append(callback)
            if !self.endSent {
                self.endSent = true
                self.connection.send(.amqp(self.channel, .end(error)))
            }
        }
    }

    /// Blocking form of `end`, waiting at most `timeout`.
    public func end(error: AMQPRemoteError? = nil, timeout: Duration = .seconds(60)) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            end(error: error, deadline: .after(timeout), queue: queue) { done($0.mapError { $0 }) }
        }
    }

    // MARK: - Connection-facing (connection queue only)

    func begin(_ callback: Callback<AMQPSession>) {
        debugAssertOnQueue(queue)
        beginCallback = callback
        var begin = AMQPBegin(remoteChannel: nil, nextOutgoingID: nextOutgoingID,
                              incomingWindow: incomingWindow, outgoingWindow: configuration.outgoingWindow)
        begin.handleMax = configuration.handleMax
        connection.send(.amqp(channel, .begin(begin)))
    }

    /// Broker role: answers a client's begin.
    func accept(_ begin: AMQPBegin, remoteChannel: UInt16) {
        debugAssertOnQueue(queue)
        var reply = AMQPBegin(remoteChannel: remoteChannel, nextOutgoingID: nextOutgoingID,
                              incomingWindow: incomingWindow, outgoingWindow: configuration.outgoingWindow)
        reply.handleMax = configuration.handleMax
        connection.send(.amqp(channel, .begin(reply)))
        receivedBegin(begin, remoteChannel: remoteChannel)
    }

    func receivedBegin(_ begin: AMQPBegin, remoteChannel: UInt16) {
        debugAssertOnQueue(queue)
        self.remoteChannel = remoteChannel
        connection.sessionMapped(self, remoteChannel: remoteChannel)
        nextIncomingID = begin.nextOutgoingID
        incomingLimit = nextIncomingID &+ incomingWindow
        remoteIncomingWindow = begin.incomingWindow
        remoteOutgoingWindow = begin.outgoingWindow
        remoteHandleMax = begin.handleMax
        beginCallback?(.success(self))
        beginCallback = nil
    }

    func received(_ performative: AMQPPerformative, payload: [UInt8]) throws {
        debugAssertOnQueue(queue)
        switch performative {
        case .attach(let attach):
            guard let link = links.values.first(where: { $0.name == attach.name && !$0.isRemotelyAttached }) else {
                if let server = connection.server {
                    acceptLink(attach, decision: server.linkAttached(self, attach))
                    return
                }
                // A link we did not ask for: refuse by detaching it.
                var refusal = attach
                refusal.role = attach.role == .sender ? .receiver : .sender
                refusal.source = nil
                refusal.target = nil
                connection.send(.amqp(channel, .attach(refusal)))
                connection.send(.amqp(channel, .detach(AMQPDetach(handle: attach.handle, closed: true, error:
                    AMQPRemoteError(condition: AMQPRemoteError.notImplemented, description: "no such link requested")))))
                return
            }
            linksByRemoteHandle[attach.handle] = link
            link.receivedAttach(attach)
        case .flow(let flow):
            // Frames still in flight count against the window the peer just announced (serial arithmetic).
            let inFlight = nextOutgoingID &- (flow.nextIncomingID ?? 0)
            remoteIncomingWindow = flow.incomingWindow > inFlight ? flow.incomingWindow - inFlight : 0
            remoteOutgoingWindow = flow.outgoingWindow
            if let handle = flow.handle {
                guard let link = linksByRemoteHandle[handle] else {
                    throw AMQPError(.protocolViolation, "flow for unattached handle \(handle)")
                }
                link.receivedFlow(flow)
            } else if flow.echo {
                sendSessionFlow()
            }
            resumeSenders()
        case .transfer(let transfer):
            // After we ended the session for a violation, what the peer still sends is dropped.
            guard !endSent else { return }
            guard let link = linksByRemoteHandle[transfer.handle] as? AMQPReceiver else {
                throw AMQPError(.protocolViolation, "transfer for unattached handle \(transfer.handle)")
            }
            guard Int32(bitPattern: incomingLimit &- nextIncomingID) > 0 else {
                // Past every window we announced (AMQP 1.0 2.5.6): end the session rather than buffer what comes.
                endWithError(AMQPRemoteError(condition: AMQPRemoteError.windowViolation,
                                             description: "transfer beyond the incoming window"),
                             AMQPError(.limitExceeded, "the peer sent a transfer beyond the session's incoming window"))
                return
            }
            nextIncomingID &+= 1
            remoteOutgoingWindow &-= 1
            if incomingWindow > 0 { incomingWindow -= 1 }
            try link.receivedTransfer(transfer, payload: payload)
            // Reopen our window before it runs out so a steady stream never stalls, but only once the bytes read so
            // far are processed (`reopenWindow`): reopening here, frame by frame, let a flood authorise itself, as
            // every transfer past half the window moved the limit the next one was judged against.
            if incomingWindow <= configuration.incomingWindow / 2, !windowReopenPending {
                windowReopenPending = true
                connection.sessionsAwaitingWindow.append(self)
            }
        case .disposition(let disposition):
            receivedDisposition(disposition)
        case .detach(let detach):
            guard let link = linksByRemoteHandle[detach.handle] else { return }
            linksByRemoteHandle[detach.handle] = nil
            link.receivedDetach(detach)
        case .end(let error):
            if !endSent {
                endSent = true
                connection.send(.amqp(channel, .end(nil)))
            }
            let failure = AMQPError(.sessionEnded, error == nil ? "session ended" : "peer ended the session", remote: error)
            finishEnd(error == nil ? nil : failure)
        default:
            throw AMQPError(.protocolViolation, "\(performative.name) on a session channel")
        }
    }

    /// Broker role: creates our end of a link the client attached, or refuses it.
    private func acceptLink(_ attach: AMQPAttach, decision: AMQPLinkDecision) {
        guard linksByRemoteHandle[attach.handle] == nil else {
            connection.protocolFailure(AMQPError(.protocolViolation, "client reused handle \(attach.handle)"))
            return
        }
        switch (decision, attach.role) {
        case (.send(var options, let ready), .receiver):
            options.name = attach.name
            // Pre-settle exactly when the client asked for it.
            options.settleMode = attach.senderSettleMode == .settled ? .settled : .unsettled
            options.receiverSettleMode = attach.receiverSettleMode
            let sender = AMQPSender(session: self, address: attach.source?.address, options: options)
            if sender.accept(attach) {
                linksByRemoteHandle[attach.handle] = sender
                ready(sender)
            }
        case (.receive(var options, let messageQueue, let onMessage, let ready), .sender):
            options.name = attach.name
            options.settleMode = attach.senderSettleMode
            options.receiverSettleMode = attach.receiverSettleMode
            let receiver = AMQPReceiver(session: self, address: attach.target?.address, options: options,
                                        handlerQueue: messageQueue, handler: onMessage)
            linksByRemoteHandle[attach.handle] = receiver
            if receiver.accept(attach) {
                ready(receiver)
            } else {
                linksByRemoteHandle[attach.handle] = nil
            }
        case (.refuse(let error), _):
            refuse(attach, error)
        default:
            refuse(attach, AMQPRemoteError(condition: AMQPRemoteError.notAllowed,
                                           description: "the broker cannot take that role for link '\(attach.name)'"))
        }
    }

    private func refuse(_ attach: AMQPAttach, _ error: AMQPRemoteError) {
        var refusal = attach
        refusal.role = attach.role == .sender ? .receiver : .sender
        refusal.source = attach.role == .sender ? attach.source : nil
        refusal.target = attach.role == .receiver ? attach.target : nil
        refusal.handle = (0...configuration.handleMax).first(where: { links[$0] == nil }) ?? configuration.handleMax
        connection.send(.amqp(channel, .attach(refusal)))
        connection.send(.amqp(channel, .detach(AMQPDetach(handle: refusal.handle, closed: true, error: error))))
    }

    /// Ends the session because of a local decision (a window violation), telling the peer why; its links fail
    /// with `error` at once, and the peer's answering end completes it.
    func endWithError(_ remote: AMQPRemoteError, _ error: AMQPError) {
        debugAssertOnQueue(queue)
        guard !ended, !endSent else { return }
        endSent = true
        connection.send(.amqp(channel, .end(remote)))
        for link in links.values { link.terminated(error) }
        links = [:]
        linksByRemoteHandle = [:]
        beginCallback?(.failure(error))
        beginCallback = nil
    }

    func connectionEnded(_ error: AMQPError) {
        debugAssertOnQueue(queue)
        guard !ended else { return }
        ended = true
        beginCallback?(.failure(error))
        beginCallback = nil
        for link in links.values { link.terminated(error) }
        links = [:]
        linksByRemoteHandle = [:]
        for callback in endCallbacks { callback(.failure(error)) }
        endCallbacks = []
    }

    private func finishEnd(_ error: AMQPError?) {
        guard !ended else { return }
        ended = true
        connection.sessionEnded(self)
        let failure = error ?? AMQPError(.sessionEnded, "session ended")
        beginCallback?(.failure(failure))
        beginCallback = nil
        for link in links.values { link.terminated(failure) }
        links = [:]
        linksByRemoteHandle = [:]
        for callback in endCallbacks { callback(error.map { .failure($0) } ?? .success(())) }
        endCallbacks = []
    }

    // MARK: - Link-facing (connection queue only)

    /// Registers a link on the lowest free handle, or fails if the session cannot take another.
    /// Whether links may still be registered: the session has not ended and its connection is open.
    var acceptsLinks: Bool { !ended && connection.isOpen }

    func register(_ link: any LinkEndpoint) -> UInt32? {
        debugAssertOnQueue(queue)
        guard acceptsLinks else { return nil }
        let limit = min(configuration.handleMax, remoteHandleMax)
        guard links.count <= Int(limit), let handle = (0...limit).first(where: { links[$0] == nil }) else { return nil }
        links[handle] = link
        return handle
    }

    func unregister(handle: UInt32, remoteHandle: UInt32?) {
        debugAssertOnQueue(queue)
        if let remoteHandle, let link = links[handle], linksByRemoteHandle[remoteHandle] === link {
            linksByRemoteHandle[remoteHandle] = nil
        }
        links[handle] = nil
    }

    func allocateDeliveryID() -> UInt32 {
        debugAssertOnQueue(queue)
        defer { nextDeliveryID &+= 1 }
        return nextDeliveryID
    }

    /// Whether the peer's incoming window allows another transfer frame.
    var canSendTransfer: Bool { remoteIncomingWindow > 0 && !ended && connection.isOpen }

    /// Sends one transfer frame, consuming a slot of the peer's window.
    func sendTransfer(_ transfer: AMQPTransfer, payload: [UInt8]) {
        debugAssertOnQueue(queue)
        connection.send(.amqp(channel: channel, performative: .transfer(transfer), payload: payload))
        nextOutgoingID &+= 1
        if remoteIncomingWindow > 0 { remoteIncomingWindow -= 1 }
    }

    /// The session part of a flow frame, completed by links with their own fields.
    /// A flow with the session's fields; every flow made here is sent, so the window it announces counts.
    func makeFlow() -> AMQPFlow {
        debugAssertOnQueue(queue)
        let limit = nextIncomingID &+ incomingWindow
        if Int32(bitPattern: limit &- incomingLimit) > 0 { incomingLimit = limit }
        return AMQPFlow(nextIncomingID: nextIncomingID, incomingWindow: incomingWindow, nextOutgoingID: nextOutgoingID,
                        outgoingWindow: configuration.outgoingWindow)
    }

    /// Announces the full incoming window again (see `windowReopenPending`); connection queue only.
    func reopenWindow() {
        debugAssertOnQueue(queue)
        windowReopenPending = false
        guard !ended, !endSent, connection.isOpen else { return }
        incomingWindow = configuration.incomingWindow
        sendSessionFlow()
    }

    func sendSessionFlow() {
        debugAssertOnQueue(queue)
        connection.send(.amqp(channel, .flow(makeFlow())))
    }

    func send(_ performative: AMQPPerformative) {
        debugAssertOnQueue(queue)
        connection.send(.amqp(channel, performative))
    }

    private func resumeSenders() {
        guard remoteIncomingWindow > 0 else { return }
        for link in links.values { if let sender = link as? AMQPSender { sender.pump() } }
    }

    private func receivedDisposition(_ disposition: AMQPDisposition) {
        let last = disposition.last ?? disposition.first
        guard last >= disposition.first else { return }
        apply(disposition, last: last, to: disposition.role == .receiver ? .outgoing : .incoming)
    }

    /// Which deliveries a disposition is about: ours (the peer is the receiver) or the peer's.
    private enum UnsettledSide { case outgoing, incoming }

    /// Hands a disposition for `first...last` to the links of the deliveries on `side` it names, in id order,
    /// forgetting the ones it settles. Each look-up is its own access to the dictionary: a link's
    /// `receivedDisposition` may change it (a receiver that ends drops its deliveries). (A switch on the side, not a
    /// key path: reading and writing through `ReferenceWritableKeyPath` was ~1.5 % of a scheduled send's
    /// instructions.)
    private func apply(_ disposition: AMQPDisposition, last: UInt32, to side: UnsettledSide) {
        let span = UInt64(last - disposition.first) + 1
        // Iterate whichever is smaller: the range, or what is actually unsettled (a hostile range is huge).
        let unsettledCount = side == .outgoing ? outgoingUnsettled.count : incomingUnsettled.count
        let inRange = { (id: UInt32) in id >= disposition.first && id <= last }
        let ids: [UInt32] = span <= UInt64(unsettledCount) ? Array(disposition.first...last)
            : side == .outgoing ? outgoingUnsettled.keys.filter(inRange) : incomingUnsettled.keys.filter(inRange)
        for id in ids.sorted() {
            let link: (any DispositionReceiving)?
            switch side {
            case .outgoing:
                link = disposition.settled ? outgoingUnsettled.removeValue(forKey: id) : outgoingUnsettled[id]
            case .incoming:
                link = disposition.settled ? incomingUnsettled.removeValue(forKey: id) : incomingUnsettled[id]
            }
            link?.receivedDisposition(deliveryID: id, settled: disposition.settled, state: disposition.state)
        }
    }
}

/// A link the peer's dispositions reach: a sender (for its outgoing deliveries) or a receiver.
protocol DispositionReceiving: AnyObject {
    func receivedDisposition(deliveryID: UInt32, settled: Bool, state: AMQPDeliveryState?)
}

extension AMQPSender: DispositionReceiving {}
extension AMQPReceiver: DispositionReceiving {}

/// What a session needs from its links.
protocol LinkEndpoint: AnyObject {
    var name: String { get }
    var isRemotelyAttached: Bool { get }
    func receivedAttach(_ attach: AMQPAttach)
    func receivedFlow(_ flow: AMQPFlow)
    func receivedDetach(_ detach: AMQPDetach)
    /// The session or connection ended under the link.
    func terminated(_ error: AMQPError)
}
