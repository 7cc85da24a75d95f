import Dispatch
import Logging
import ToolboxCore

/// A client AMQP 1.0 connection: protocol headers, SASL, open/close, heartbeats and the sessions on it.
///
/// ```swift
/// let connection = AMQPConnection(transport: try AMQPSocketTransport(host: "127.0.0.1", port: 5672),
///                                 configuration: AMQPConnectionConfiguration(sasl: .anonymous))
/// connection.open { result in ... }
/// let session = try connection.beginSession()            // blocking form
/// let sender = try session.attachSender(address: "/queue/q1")
/// let outcome = try sender.send(AMQPMessage(data: Array("hi".utf8)))
/// ```
///
/// Everything runs on the connection's own serial queue; completion handlers run on the `queue:` the caller
/// passes (default `LibraryQueues.defaultCallbackQueue`), exactly once. Errors the peer sends in `close`,
/// `end` or `detach` surface as `AMQPError` with `remote` set.
public final class AMQPConnection: @unchecked Sendable {
    // @unchecked Sendable: every mutable property below is read and written only on `queue`; public methods
    // hop onto it with `queue.async` before touching state.

    enum State {
        case idle, saslHeader, saslMechanisms, saslOutcome, amqpHeader, openReceived, closeSent, closed
        // Broker role: waiting for the client's first header, its sasl-init, its AMQP header after SASL.
        case serverHeader, serverSASLInit, serverAMQPHeader
    }

    /// The serial queue this connection's state machine runs on.
    public let queue: DispatchQueue
    public let configuration: AMQPConnectionConfiguration
    /// Set for the broker role (a connection accepted from a listener).
    let server: AMQPServerConfiguration?
    let logger: Logger
    private var transport: (any AMQPTransport)?
    private var parser: AMQPFrameParser
    private(set) var state: State = .idle
    private var openSent = false

    /// The peer's open, once received.
    private(set) var remoteOpen: AMQPOpen?
    /// Largest frame we may send: the peer's max-frame-size (512 until its open arrives).
    private(set) var peerMaxFrameSize = 512
    private var negotiatedChannelMax: UInt16 = 0
    private var sessions: [UInt16: AMQPSession] = [:]
    private var sessionsByRemoteChannel: [UInt16: AMQPSession] = [:]
    private var openCallback: Callback<Void>?
    private var closeCallbacks: [Callback<Void>] = []
    private var closeObservers: [Callback<Void>] = []
    private var lastSent = MonotonicInstant.now()
    private var lastReceived = MonotonicInstant.now()
    private var timer: (any DispatchSourceTimer)?
    private var openTimeoutItem: DispatchWorkItem?
    private var selfRetain: AMQPConnection?
    /// Why the connection ended; set once.
    private(set) var terminalError: AMQPError?

    /// Creates a connection over `transport`; nothing happens until `open`.
    public init(transport: any AMQPTransport, configuration: AMQPConnectionConfiguration = .init(),
                logger: Logger = Logger(label: "ToolboxAMQP.connection")) {
        self.queue = LibraryQueues.makeQueue(label: "ToolboxAMQP.connection.\(configuration.containerID)")
        self.configuration = configuration
        self.server = nil
        self.logger = logger
        self.transport = transport
        self.parser = AMQPFrameParser(maxFrameSize: configuration.maxFrameSize, limits: configuration.decodingLimits)
    }

    /// Creates the broker side of an accepted connection; `open` then waits for the client's handshake.
    ///
    /// `configuration.sasl` is ignored; SASL is governed by `server`.
    public init(acceptedTransport transport: any AMQPTransport, server: AMQPServerConfiguration,
                configuration: AMQPConnectionConfiguration = .init(),
                logger: Logger = Logger(label: "ToolboxAMQP.server-connection")) {
        self.queue = LibraryQueues.makeQueue(label: "ToolboxAMQP.server-connection.\(configuration.containerID)")
        self.configuration = configuration
        self.server = server
        self.logger = logger
        self.transport = transport
        self.parser = AMQPFrameParser(maxFrameSize: configuration.maxFrameSize, limits: configuration.decodingLimits)
    }

    // MARK: - Public API

    /// Runs the handshake (protocol headers, SASL, open) and calls `completion` when the peer's open arrives.
    public func open(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                     completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        queue.async {
            guard self.state == .idle, let transport = self.transport else {
                callback(.failure(AMQPError(.invalidArgument, "open may only be called once")))
                return
            }
            self.openCallback = callback
            // An opening or open connection keeps itself alive until it ends, like a socket would.
            self.selfRetain = self
            let item = DispatchWorkItem { [weak self] in
                self?.fail(AMQPError(.timedOut, "open did not complete within \(self?.configuration.openTimeout ?? 0)s"))
            }
            self.openTimeoutItem = item
            self.queue.asyncAfter(deadline: .now() + self.configuration.openTimeout, execute: item)
            transport.start(queue: self.queue) { [weak self] event in self?.handle(event) }
        }
    }

    /// Blocking form of `open(queue:completion:)`.
    public func open() throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            open(queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// Sends close (with an optional error for the peer), waits for the peer's close, then closes the transport.
    public func close(error: AMQPRemoteError? = nil, timeout: Double = 10,
                      queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                      completion: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let callback = Callback(callbackQueue, completion)
        queue.async {
            switch self.state {
            case .closed:
                callback(.success(()))
            case .closeSent:
                self.closeCallbacks.append(callback)
            case .openReceived:
                self.closeCallbacks.append(callback)
                self.send(.amqp(0, .close(error)))
                self.state = .closeSent
                self.queue.asyncAfter(deadline: .now() + timeout) { [weak self] in
                    self?.finish(AMQPError(.connectionClosed, "closed locally (peer did not answer close)"))
                }
            default:
                self.closeCallbacks.append(callback)
                self.finish(AMQPError(.connectionClosed, "closed locally before open completed"))
            }
        }
    }

    /// Blocking form of `close`.
    public func close(error: AMQPRemoteError? = nil) throws {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<Void, any Error>) -> Void) in
            close(error: error, queue: queue) { done($0.mapError { $0 }) }
        }
    }

    /// Calls `handler` once when the connection ends, with the reason (nil after a clean local close).
    public func onClose(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                        _ handler: @escaping @Sendable (AMQPError?) -> Void) {
        let callback = Callback<Void>(callbackQueue) { result in
            if case .failure(let error) = result { handler(error) } else { handler(nil) }
        }
        queue.async {
            if self.state == .closed {
                callback(self.terminalError.map { .failure($0) } ?? .success(()))
            } else {
                self.closeObservers.append(callback)
            }
        }
    }

    /// Begins a session on the lowest free channel.
    ///
    /// Past `deadline` (or after `cancel()` on the returned handle) the completion fails and the session is ended.
    @discardableResult
    public func beginSession(configuration sessionConfiguration: AMQPSessionConfiguration = .init(),
                             deadline: Deadline = .never,
                             queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                             completion: @escaping @Sendable (Result<AMQPSession, AMQPError>) -> Void) -> any Cancellable {
        let callback = Callback(callbackQueue, completion)
        let started = LockedValue<AMQPSession?>(nil)
        let expire: @Sendable (AMQPError) -> Void = { [weak self] error in
            self?.queue.async {
                guard !callback.isDone else { return }
                callback(.failure(error))
                started.load()?.end { _ in }
            }
        }
        deadline.schedule(on: queue) { expire(AMQPError(.timedOut, "begin did not complete before its deadline")) }
        queue.async {
            guard self.state == .openReceived else {
                callback(.failure(self.terminalError ?? AMQPError(.connectionClosed, "connection is not open")))
                return
            }
            guard let channel = (0...self.negotiatedChannelMax).first(where: { self.sessions[$0] == nil }) else {
                callback(.failure(AMQPError(.limitExceeded, "all \(Int(self.negotiatedChannelMax) + 1) channels are in use")))
                return
            }
            guard !callback.isDone else { return }
            let session = AMQPSession(connection: self, channel: channel, configuration: sessionConfiguration)
            self.sessions[channel] = session
            started.withLockedValue { $0 = session }
            session.begin(callback)
        }
        return AMQPCancellation { expire(AMQPError(.cancelled, "begin cancelled")) }
    }

    /// Blocking form of `beginSession`, waiting at most `timeout` seconds.
    public func beginSession(configuration: AMQPSessionConfiguration = .init(), timeout: Double = 60) throws -> AMQPSession {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPSession, any Error>) -> Void) in
            beginSession(configuration: configuration, deadline: .after(seconds: timeout), queue: queue) {
                done($0.mapError { $0 })
            }
        }
    }

    /// The peer's open performative (container-id, properties...), once the connection is open.
    public func remoteOpen(queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                           _ handler: @escaping @Sendable (AMQPOpen?) -> Void) {
        queue.async { let open = self.remoteOpen; callbackQueue.async { handler(open) } }
    }

    // MARK: - Internal (connection queue only)

    func send(_ frame: AMQPFrame) {
        guard let transport else { return }
        if logger.logLevel <= .trace { logger.trace("-> \(frameName(frame))") }
        transport.write(frame.encode())
        lastSent = .now()
    }

    func sendRaw(_ bytes: [UInt8]) {
        transport?.write(bytes)
        lastSent = .now()
    }

    var isOpen: Bool { state == .openReceived }

    func sessionEnded(_ session: AMQPSession) {
        sessions[session.channel] = nil
        if let remote = session.remoteChannel { sessionsByRemoteChannel[remote] = nil }
    }

    func sessionMapped(_ session: AMQPSession, remoteChannel: UInt16) {
        sessionsByRemoteChannel[remoteChannel] = session
    }

    private func frameName(_ frame: AMQPFrame) -> String {
        switch frame {
        case .heartbeat: return "heartbeat"
        case .sasl(let body):
            switch body {
            case .mechanisms: return "sasl-mechanisms"
            case .initialize(let mechanism, _, _): return "sasl-init(\(mechanism.rawValue))"
            case .challenge: return "sasl-challenge"
            case .response: return "sasl-response"
            case .outcome(let code, _): return "sasl-outcome(\(code))"
            }
        case .amqp(let channel, let performative, let payload):
            // Performatives carry no secrets (SASL frames are summarised above); payloads are never logged.
            return "[ch\(channel)] \(performative)" + (payload.isEmpty ? "" : " +\(payload.count) bytes")
        }
    }

    private func handle(_ event: AMQPTransportEvent) {
        switch event {
        case .connected:
            guard state == .idle else { return }
            if server != nil {
                state = .serverHeader
            } else if configuration.sasl.symbol != nil {
                sendRaw(AMQPProtocolHeader.sasl.bytes)
                state = .saslHeader
            } else {
                sendAMQPHeaderAndOpen()
            }
        case .received(let bytes):
            lastReceived = .now()
            parser.append(bytes)
            do {
                try drainParser()
            } catch let error as AMQPError {
                protocolFailure(error)
            } catch {
                protocolFailure(AMQPError(.decoding, "\(error)"))
            }
        case .closed(let error):
            transport = nil
            if state == .closeSent {
                finish(nil)
            } else if let error {
                finish(AMQPError(.transport, "\(error)"))
            } else {
                finish(AMQPError(.connectionClosed, "peer closed the transport without a close frame"))
            }
        }
    }

    private func drainParser() throws {
        while state != .closed {
            if state == .saslHeader || state == .serverHeader || state == .serverAMQPHeader
                || (state == .amqpHeader && !headerReceived) {
                guard let header = try parser.nextProtocolHeader() else { return }
                try receivedHeader(header)
            } else {
                guard let frame = try parser.nextFrame() else { return }
                try receivedFrame(frame)
            }
        }
    }

    private var headerReceived = false

    private func receivedHeader(_ header: AMQPProtocolHeader) throws {
        switch (state, header) {
        case (.saslHeader, .sasl):
            state = .saslMechanisms
        case (.amqpHeader, .amqp):
            headerReceived = true
        case (.serverHeader, .sasl) where !(server?.mechanisms.isEmpty ?? true):
            sendRaw(AMQPProtocolHeader.sasl.bytes)
            send(.sasl(.mechanisms(server?.mechanisms ?? [])))
            state = .serverSASLInit
        case (.serverHeader, .amqp) where server?.allowWithoutSASL == true, (.serverAMQPHeader, .amqp):
            sendRaw(AMQPProtocolHeader.amqp.bytes)
            state = .amqpHeader
            headerReceived = true
        case (.serverHeader, _), (.serverAMQPHeader, _):
            // Answer with the header we do support, then hang up (part 2, 2.2).
            let supported: AMQPProtocolHeader = (server?.mechanisms.isEmpty ?? true) ? .amqp : .sasl
            sendRaw(supported.bytes)
            throw AMQPError(.framing, "client asked for protocol \(header), which this broker does not accept")
        default:
            throw AMQPError(.framing, "peer answered with protocol header \(header) in state \(state)")
        }
    }

    private func receivedFrame(_ frame: AMQPFrame) throws {
        switch frame {
        case .heartbeat:
            return
        case .sasl(let body):
            try receivedSASL(body)
        case .amqp(let channel, let performative, let payload):
            if logger.logLevel <= .trace { logger.trace("<- \(frameName(frame))") }
            guard headerReceived else { throw AMQPError(.framing, "AMQP frame before the AMQP protocol header") }
            try receivedPerformative(channel: channel, performative, payload: payload)
        }
    }

    private func receivedSASL(_ body: AMQPSASLPerformative) throws {
        switch (state, body) {
        case (.serverSASLInit, .initialize(let mechanism, let response, let hostname)):
            let ok = (server?.mechanisms.contains(mechanism) ?? false)
                && (server?.authenticate(mechanism, response, hostname) ?? false)
            send(.sasl(.outcome(code: ok ? .ok : .auth, additionalData: nil)))
            guard ok else {
                throw AMQPError(.authentication, "client failed SASL \(mechanism.rawValue) authentication")
            }
            state = .serverAMQPHeader
        case (.saslMechanisms, .mechanisms(let offered)):
            guard let wanted = configuration.sasl.symbol, offered.contains(wanted) else {
                throw AMQPError(.authentication,
                    "server offers SASL \(offered.map(\.rawValue)), not \(configuration.sasl.symbol?.rawValue ?? "none")")
            }
            send(.sasl(.initialize(mechanism: wanted, initialResponse: configuration.sasl.initialResponse,
                                   hostname: configuration.hostname)))
            state = .saslOutcome
        case (.saslOutcome, .challenge):
            // None of our mechanisms use challenges; an empty response lets the server decide.
            send(.sasl(.response([])))
        case (.saslOutcome, .outcome(let code, _)):
            guard code == .ok else {
                throw AMQPError(.authentication, "SASL \(configuration.sasl) failed with outcome \(code)")
            }
            sendAMQPHeaderAndOpen()
        default:
            throw AMQPError(.framing, "unexpected SASL frame in state \(state)")
        }
    }

    private func sendAMQPHeaderAndOpen() {
        state = .amqpHeader
        headerReceived = false
        sendRaw(AMQPProtocolHeader.amqp.bytes)
        send(.amqp(0, .open(makeOpen())))
        openSent = true
    }

    private func makeOpen() -> AMQPOpen {
        var open = AMQPOpen(containerID: configuration.containerID, hostname: configuration.hostname)
        open.maxFrameSize = configuration.maxFrameSize
        open.channelMax = configuration.channelMax
        open.idleTimeOut = configuration.idleTimeout.map { UInt32(min(max($0 * 1000, 1), Double(UInt32.max))) }
        open.properties = configuration.properties
        return open
    }

    private func receivedPerformative(channel: UInt16, _ performative: AMQPPerformative, payload: [UInt8]) throws {
        switch performative {
        case .open(let open):
            guard state == .amqpHeader, remoteOpen == nil else { throw AMQPError(.protocolViolation, "unexpected open") }
            remoteOpen = open
            if server != nil {
                // The broker answers the client's open; the negotiated values are the same either way.
                var reply = makeOpen()
                reply.hostname = nil
                send(.amqp(0, .open(reply)))
                openSent = true
            }
            peerMaxFrameSize = Int(max(512, open.maxFrameSize))
            negotiatedChannelMax = min(configuration.channelMax, open.channelMax)
            state = .openReceived
            openTimeoutItem?.cancel()
            startTimer()
            openCallback?(.success(()))
            openCallback = nil
        case .close(let error):
            if state == .closeSent {
                finish(error.map { AMQPError(.connectionClosed, "peer closed the connection", remote: $0) })
            } else {
                send(.amqp(0, .close(nil)))
                // A clean close by the peer is not an error for observers; pending work still fails.
                finish(error.map { AMQPError(.connectionClosed, "peer closed the connection", remote: $0) })
            }
        case .begin(let begin):
            if server != nil, begin.remoteChannel == nil, state == .openReceived {
                try acceptSession(begin, remoteChannel: channel)
                return
            }
            guard let local = begin.remoteChannel, let session = sessions[local], session.remoteChannel == nil else {
                // Peer-initiated sessions are a broker-side feature; refuse politely.
                send(.amqp(0, .close(AMQPRemoteError(condition: AMQPRemoteError.notImplemented,
                                                      description: "client does not accept peer-initiated sessions"))))
                state = .closeSent
                return
            }
            session.receivedBegin(begin, remoteChannel: channel)
        default:
            guard state == .openReceived || state == .closeSent else {
                throw AMQPError(.protocolViolation, "\(performative.name) before open")
            }
            // Frames for unknown or ended sessions are ignored (Azure SDKs send detach after end).
            guard let session = sessionsByRemoteChannel[channel] else { return }
            try session.received(performative, payload: payload)
        }
    }

    /// Broker role: a client began a session; answer on the lowest free channel.
    private func acceptSession(_ begin: AMQPBegin, remoteChannel: UInt16) throws {
        guard sessionsByRemoteChannel[remoteChannel] == nil else {
            throw AMQPError(.protocolViolation, "client began a second session on channel \(remoteChannel)")
        }
        guard let channel = (0...negotiatedChannelMax).first(where: { sessions[$0] == nil }) else {
            throw AMQPError(.limitExceeded, "client began more sessions than channel-max \(negotiatedChannelMax) allows")
        }
        let session = AMQPSession(connection: self, channel: channel, configuration: AMQPSessionConfiguration())
        sessions[channel] = session
        session.accept(begin, remoteChannel: remoteChannel)
    }

    /// A violation by the peer: tell it why (when we can) and tear down.
    func protocolFailure(_ error: AMQPError) {
        logger.debug("connection failed: \(error)")
        // A close may only follow our open; a broker that has not opened yet opens first (part 2, 2.4.4.2).
        if server != nil, !openSent, state == .amqpHeader, headerReceived {
            send(.amqp(0, .open(makeOpen())))
            openSent = true
        }
        if openSent, state == .openReceived || state == .amqpHeader {
            let condition: AMQPSymbol = switch error.code {
            case .limitExceeded: error.message.contains("frame") ? AMQPRemoteError.framingError : AMQPRemoteError.resourceLimitExceeded
            case .decoding: AMQPRemoteError.decodeError
            case .framing: AMQPRemoteError.framingError
            case .timedOut: AMQPRemoteError.resourceLimitExceeded
            default: AMQPRemoteError.internalError
            }
            send(.amqp(0, .close(AMQPRemoteError(condition: condition, description: error.message))))
        }
        fail(error)
    }

    func fail(_ error: AMQPError) { finish(error) }

    /// Ends the connection once: stops timers, closes the transport, fails or completes every waiter.
    private func finish(_ error: AMQPError?) {
        guard state != .closed else { return }
        state = .closed
        terminalError = error
        timer?.cancel()
        timer = nil
        openTimeoutItem?.cancel()
        transport?.close()
        transport = nil
        let failure = error ?? AMQPError(.connectionClosed, "connection closed")
        for session in Array(sessions.values) { session.connectionEnded(failure) }
        sessions = [:]
        sessionsByRemoteChannel = [:]
        openCallback?(.failure(failure))
        openCallback = nil
        for callback in closeCallbacks {
            if let error, error.remote != nil || error.code != .connectionClosed { callback(.failure(error)) } else {
                callback(.success(()))
            }
        }
        closeCallbacks = []
        for observer in closeObservers { observer(error.map { .failure($0) } ?? .success(())) }
        closeObservers = []
        selfRetain = nil
    }

    // MARK: - Heartbeats and idle time-out

    private func startTimer() {
        let peerIdle = remoteOpen?.idleTimeOut.flatMap { $0 == 0 ? nil : Double($0) / 1000 }
        let ourIdle = configuration.idleTimeout
        guard peerIdle != nil || ourIdle != nil else { return }
        // Send heartbeats at half the peer's time-out; check ours at a quarter of it.
        let tick = max(0.005, min(peerIdle.map { $0 / 4 } ?? .infinity, ourIdle.map { $0 / 4 } ?? .infinity, 1.0))
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + tick, repeating: tick)
        timer.setEventHandler { [weak self] in self?.tick(peerIdle: peerIdle, ourIdle: ourIdle) }
        self.timer = timer
        timer.resume()
    }

    private func tick(peerIdle: Double?, ourIdle: Double?) {
        let now = MonotonicInstant.now()
        if let peerIdle, now.seconds(since: lastSent) >= peerIdle / 2 { send(.heartbeat) }
        if let ourIdle, now.seconds(since: lastReceived) > ourIdle {
            protocolFailure(AMQPError(.timedOut, "peer sent nothing for \(ourIdle)s (idle time-out)"))
        }
    }
}
