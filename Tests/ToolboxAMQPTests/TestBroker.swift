import Dispatch
import Foundation
import ToolboxCore

@testable import ToolboxAMQP

/// An in-memory transport: what the client writes goes to a `TestBroker`, what the broker writes comes back.
final class PipeTransport: AMQPTransport, @unchecked Sendable {
    // @unchecked Sendable: `clientQueue`/`handler` are set once in `start` on the client queue and then only read
    // on it; the broker side is only touched on the broker's queue.
    let broker: TestBroker
    private var clientQueue: DispatchQueue?
    private var handler: ((AMQPTransportEvent) -> Void)?
    private var closed = false

    init(broker: TestBroker) { self.broker = broker }

    func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void) {
        clientQueue = queue
        self.handler = handler
        broker.attach(self)
        handler(.connected)
    }

    func write(_ bytes: [UInt8]) {
        guard !closed else { return }
        broker.queue.async { self.broker.received(bytes) }
    }

    func close() {
        guard !closed else { return }
        closed = true
        broker.queue.async { self.broker.clientClosed() }
        let handler = self.handler
        self.handler = nil
        handler?(.closed(nil))
    }

    /// Called by the broker (on its queue) to send bytes to the client.
    func deliver(_ bytes: [UInt8]) {
        clientQueue?.async { if !self.closed { self.handler?(.received(bytes)) } }
    }

    /// Called by the broker to drop the connection.
    func drop() {
        clientQueue?.async {
            guard !self.closed else { return }
            self.closed = true
            let handler = self.handler
            self.handler = nil
            handler?(.closed(nil))
        }
    }
}

/// A small AMQP 1.0 broker for unit tests, built on ToolboxAMQP's own codec and frame parser: SASL, open,
/// sessions, links with credit and drain, queues per address, multi-frame transfers, dispositions, and a
/// `$cbs` node. Hooks let a test replace or add behaviour.
final class TestBroker: @unchecked Sendable {
    // @unchecked Sendable: every property is only touched on `queue`.

    struct Link {
        var name: String
        var clientHandle: UInt32
        var brokerHandle: UInt32
        var clientIsSender: Bool
        var address: String
        var credit: UInt32 = 0
        var deliveryCount: UInt32 = 0
        var partial: [UInt8] = []
        var partialID: UInt32?
        var partialSettled = false
    }

    let queue = DispatchQueue(label: "TestBroker")
    var mechanisms: [AMQPSymbol] = ["ANONYMOUS", "PLAIN"]
    var acceptedPassword = "secret"
    var maxFrameSize: UInt32 = 65536
    var idleTimeOut: UInt32?
    var sendHeartbeats = true
    var creditPerLink: UInt32 = 100
    var cbsStatus: Int32 = 202
    /// When set, the answers' `status-code` instead of `.int(cbsStatus)`; `.null` leaves the property out.
    var cbsStatusValue: AMQPValue?
    var answerClose = true
    /// Session incoming window the broker grants; it reopens it with a flow once it is used up.
    var sessionWindow: UInt32 = 100_000
    private var transfersInWindow: UInt32 = 0
    private var nextIncomingID: UInt32 = 0
    /// Set if the client sent a transfer beyond the window.
    private(set) var windowViolated = false
    /// Keep the dispositions of received deliveries back (in `heldDispositionIDs`) until the test sends them.
    var holdDispositions = false
    private(set) var heldDispositionIDs: [UInt32] = []
    /// Return true to swallow a performative (after recording it).
    var hook: ((AMQPPerformative, UInt16, TestBroker) -> Bool)?

    private(set) var received: [AMQPFrame] = []
    private(set) var saslInit: (AMQPSymbol, [UInt8]?)?
    private(set) var outcomes: [AMQPDeliveryState] = []
    var queues: [String: [[UInt8]]] = [:]
    private(set) var clientOpen: AMQPOpen?
    private(set) var heartbeatsReceived = 0
    private(set) var transport: PipeTransport?
    private var parser = AMQPFrameParser(maxFrameSize: 1 << 24)
    private var stage = 0  // 0: header, 1: SASL frames, 2: AMQP header, 3: AMQP frames
    private var links: [UInt32: Link] = [:]  // by client handle
    var nextDeliveryID: UInt32 = 0
    private var nextOutgoingID: UInt32 = 0
    private var clientChannel: UInt16 = 0
    private var heartbeatTimer: (any DispatchSourceTimer)?
    private(set) var closed = false

    func attach(_ transport: PipeTransport) { queue.async { self.transport = transport } }

    func sync<T>(_ body: (TestBroker) -> T) -> T { queue.sync { body(self) } }

    func send(_ frame: AMQPFrame) {
        if batch != nil { batch?.append(contentsOf: frame.encode()) } else { transport?.deliver(frame.encode()) }
    }
    func sendRaw(_ bytes: [UInt8]) { transport?.deliver(bytes) }
    /// Frames `send` collects while `inOneWrite` runs.
    private var batch: [UInt8]?

    /// Sends every frame `body` sends as one write, so the client reads them in one go (as one TCP segment).
    func inOneWrite(_ body: () -> Void) {
        batch = []
        body()
        let bytes = batch ?? []
        batch = nil
        sendRaw(bytes)
    }

    /// Settles the held deliveries `first...last` with one ranged disposition (AMQP 1.0 §2.7.6).
    func sendRangedDisposition(first: UInt32, last: UInt32, state: AMQPDeliveryState = .accepted) {
        heldDispositionIDs.removeAll { $0 >= first && $0 <= last }
        send(.amqp(clientChannel, .disposition(AMQPDisposition(role: .receiver, first: first, last: last, settled: true,
                                                               state: state))))
    }

    func clientClosed() {
        closed = true
        heartbeatTimer?.cancel()
    }

    func received(_ bytes: [UInt8]) {
        parser.append(bytes)
        do {
            while true {
                if stage == 0 || stage == 2 {
                    guard let header = try parser.nextProtocolHeader() else { return }
                    if header == .sasl, stage == 0 {
                        sendRaw(AMQPProtocolHeader.sasl.bytes)
                        send(.sasl(.mechanisms(mechanisms)))
                        stage = 1
                    } else {
                        sendRaw(AMQPProtocolHeader.amqp.bytes)
                        stage = 3
                    }
                } else {
                    guard let frame = try parser.nextFrame() else { return }
                    try handle(frame)
                }
            }
        } catch {
            send(.amqp(0, .close(AMQPRemoteError(condition: AMQPRemoteError.decodeError, description: "\(error)"))))
        }
    }

    private func handle(_ frame: AMQPFrame) throws {
        received.append(frame)
        switch frame {
        case .heartbeat:
            heartbeatsReceived += 1
        case .sasl(.initialize(let mechanism, let response, _)):
            saslInit = (mechanism, response)
            var ok = mechanisms.contains(mechanism)
            if mechanism == "PLAIN" {
                let parts = (response ?? []).split(separator: 0, omittingEmptySubsequences: false)
                ok = parts.count == 3 && String(decoding: parts[2], as: UTF8.self) == acceptedPassword
            }
            send(.sasl(.outcome(code: ok ? .ok : .auth, additionalData: nil)))
            stage = ok ? 2 : 1
        case .sasl:
            break
        case .amqp(let channel, let performative, let payload):
            if let hook, hook(performative, channel, self) { return }
            try handle(performative, channel: channel, payload: payload)
        }
    }

    private func handle(_ performative: AMQPPerformative, channel: UInt16, payload: [UInt8]) throws {
        switch performative {
        case .open(let open):
            clientOpen = open
            var reply = AMQPOpen(containerID: "test-broker")
            reply.maxFrameSize = maxFrameSize
            reply.channelMax = 7
            reply.idleTimeOut = idleTimeOut
            send(.amqp(0, .open(reply)))
            if sendHeartbeats, let idle = open.idleTimeOut, idle > 0 {
                let timer = DispatchSource.makeTimerSource(queue: queue)
                let interval = Double(idle) / 2000
                timer.schedule(deadline: .now() + interval, repeating: interval)
                timer.setEventHandler { [weak self] in self?.send(.heartbeat) }
                heartbeatTimer = timer
                timer.resume()
            }
        case .begin(let begin):
            clientChannel = channel
            var reply = AMQPBegin(remoteChannel: channel, nextOutgoingID: 0, incomingWindow: sessionWindow, outgoingWindow: 100_000)
            reply.handleMax = 63
            _ = begin
            send(.amqp(channel, .begin(reply)))
        case .attach(let attach):
            let clientIsSender = attach.role == .sender
            let address = (clientIsSender ? attach.target?.address : attach.source?.address) ?? ""
            let brokerHandle = attach.handle + 100
            links[attach.handle] = Link(name: attach.name, clientHandle: attach.handle, brokerHandle: brokerHandle,
                                        clientIsSender: clientIsSender, address: address)
            var reply = attach
            reply.handle = brokerHandle
            reply.role = clientIsSender ? .receiver : .sender
            reply.initialDeliveryCount = clientIsSender ? nil : 0
            send(.amqp(channel, .attach(reply)))
            if clientIsSender {
                links[attach.handle]?.credit = creditPerLink
                sendLinkFlow(clientHandle: attach.handle)
            }
        case .flow(let flow):
            guard let handle = flow.handle, var link = links[handle], !link.clientIsSender else { return }
            link.credit = (flow.deliveryCount ?? 0) &+ (flow.linkCredit ?? 0) &- link.deliveryCount
            links[handle] = link
            pump(clientHandle: handle)
            if flow.drain, let current = links[handle], current.credit > 0 {
                links[handle]?.deliveryCount &+= current.credit
                links[handle]?.credit = 0
                sendLinkFlow(clientHandle: handle, drain: true)
            } else if flow.drain {
                sendLinkFlow(clientHandle: handle, drain: true)
            }
        case .transfer(let transfer):
            nextIncomingID &+= 1
            transfersInWindow += 1
            if transfersInWindow > sessionWindow { windowViolated = true }
            if transfersInWindow == sessionWindow {
                // Reopen the window asynchronously, as a busy broker would.
                queue.asyncAfter(deadline: .now() + 0.005) {
                    self.transfersInWindow = 0
                    let flow = AMQPFlow(nextIncomingID: self.nextIncomingID, incomingWindow: self.sessionWindow,
                                        nextOutgoingID: self.nextOutgoingID, outgoingWindow: 100_000)
                    self.send(.amqp(self.clientChannel, .flow(flow)))
                }
            }
            guard var link = links[transfer.handle] else { return }
            if link.partialID == nil {
                link.partialID = transfer.deliveryID
                link.partialSettled = transfer.settled ?? false
            }
            link.partial += payload
            if transfer.more {
                links[transfer.handle] = link
                return
            }
            let bytes = link.partial
            let id = link.partialID ?? 0
            let settled = link.partialSettled
            link.partial = []
            link.partialID = nil
            link.credit -= 1
            link.deliveryCount &+= 1
            links[transfer.handle] = link
            if link.address == "$cbs" || link.address == "$management" {
                try answerRequest(bytes, node: link.address)
            } else {
                queues[link.address, default: []].append(bytes)
                deliverToWaitingReceivers(address: link.address)
            }
            if !settled {
                if holdDispositions {
                    heldDispositionIDs.append(id)
                } else {
                    send(.amqp(clientChannel, .disposition(AMQPDisposition(role: .receiver, first: id, settled: true, state: .accepted))))
                }
            }
            if link.credit < creditPerLink / 2 {
                links[transfer.handle]?.credit = creditPerLink
                sendLinkFlow(clientHandle: transfer.handle)
            }
        case .disposition(let disposition):
            if let state = disposition.state { outcomes.append(state) }
            if !disposition.settled {
                send(.amqp(clientChannel, .disposition(AMQPDisposition(role: .sender, first: disposition.first,
                                                                       last: disposition.last, settled: true, state: disposition.state))))
            }
        case .detach(let detach):
            if let link = links.removeValue(forKey: detach.handle) {
                send(.amqp(clientChannel, .detach(AMQPDetach(handle: link.brokerHandle, closed: detach.closed))))
            }
        case .end:
            send(.amqp(channel, .end(nil)))
        case .close:
            if answerClose { send(.amqp(0, .close(nil))) }
            heartbeatTimer?.cancel()
        }
    }

    /// How many links of the client are attached here.
    var linkCount: Int { links.count }

    /// Detaches (closed) every link the client receives on, with `error`, as a broker giving up a node would.
    func detachClientReceivers(error: AMQPRemoteError?) {
        for (handle, link) in links where !link.clientIsSender {
            links[handle] = nil
            send(.amqp(clientChannel, .detach(AMQPDetach(handle: link.brokerHandle, closed: true, error: error))))
        }
    }

    /// Grants `credit` to the client's sender link and tells it.
    func grantCredit(clientHandle: UInt32, _ credit: UInt32) {
        links[clientHandle]?.credit = credit
        sendLinkFlow(clientHandle: clientHandle)
    }

    func sendLinkFlow(clientHandle: UInt32, drain: Bool = false) {
        guard let link = links[clientHandle] else { return }
        var flow = AMQPFlow(nextIncomingID: nextIncomingID, incomingWindow: sessionWindow - min(transfersInWindow, sessionWindow),
                            nextOutgoingID: nextOutgoingID, outgoingWindow: 100_000)
        flow.handle = link.brokerHandle
        flow.deliveryCount = link.deliveryCount
        flow.linkCredit = link.credit
        flow.drain = drain
        send(.amqp(clientChannel, .flow(flow)))
    }

    private func deliverToWaitingReceivers(address: String) {
        for handle in links.keys.sorted() where links[handle]?.address == address && links[handle]?.clientIsSender == false {
            pump(clientHandle: handle)
        }
    }

    /// Sends queued messages on a receiver link while it has credit, split at the client's max-frame-size.
    func pump(clientHandle: UInt32) {
        while let link = links[clientHandle], link.credit > 0, var messages = queues[link.address], !messages.isEmpty {
            let bytes = messages.removeFirst()
            queues[link.address] = messages
            sendMessage(bytes, clientHandle: clientHandle)
        }
    }

    func sendMessage(_ bytes: [UInt8], clientHandle: UInt32, settled: Bool = false) {
        guard var link = links[clientHandle] else { return }
        let frameLimit = Int(clientOpen?.maxFrameSize ?? 512)
        var offset = 0
        let id = nextDeliveryID
        nextDeliveryID &+= 1
        repeat {
            var transfer = AMQPTransfer(handle: link.brokerHandle)
            transfer.deliveryID = id
            transfer.deliveryTag = withUnsafeBytes(of: id.bigEndian) { Array($0) }
            transfer.messageFormat = 0
            transfer.settled = settled
            transfer.more = true
            let room = frameLimit - AMQPFrame.overhead(of: .transfer(transfer))
            let end = min(bytes.count, offset + room)
            transfer.more = end < bytes.count
            send(.amqp(channel: clientChannel, performative: .transfer(transfer), payload: Array(bytes[offset..<end])))
            nextOutgoingID &+= 1
            offset = end
        } while offset < bytes.count
        // A test may send without credit on purpose (a peer that ignores it); never underflow here.
        link.credit = link.credit > 0 ? link.credit - 1 : 0
        link.deliveryCount &+= 1
        links[clientHandle] = link
    }

    private func answerRequest(_ bytes: [UInt8], node: String) throws {
        let request = try AMQPMessage.decode(bytes)
        var response = AMQPMessage(value: .null)
        response.properties = AMQPProperties(correlationID: request.properties?.messageID)
        response.applicationProperties = ["status-code": .int(cbsStatus), "status-description": cbsStatus == 202 ? "Accepted" : "Denied"]
        if let cbsStatusValue {
            response.applicationProperties = cbsStatusValue == .null ? ["status-description": "Accepted"]
                : ["status-code": cbsStatusValue, "status-description": "Accepted"]
        }
        if node == "$management" { response.body = request.body }
        guard let reply = links.values.first(where: { !$0.clientIsSender && $0.address == node }) else { return }
        queues[node, default: []].append(response.encode())
        pump(clientHandle: reply.clientHandle)
    }

    /// Performatives the client sent, in order.
    var receivedPerformatives: [AMQPPerformative] {
        received.compactMap { if case .amqp(_, let p, _) = $0 { p } else { nil } }
    }
}
