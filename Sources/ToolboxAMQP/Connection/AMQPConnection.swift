import Dispatch
import Logging
import Synchronization
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
    // @unchecked Sendable: every mutable property below is read and written only on `queue` (the internal entry
    // points assert it in debug builds); public methods hop onto it with `queue.async` before touching state.
    // `ended` is an `Atomic` read from any thread.

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
    var transport: (any AMQPTransport)?
    var parser: AMQPFrameParser
    var state: State = .idle
    var openSent = false
    /// The AMQP protocol header came back (after SASL, when there was SASL).
    var headerReceived = false

    /// The peer's open, once received.
    var remoteOpen: AMQPOpen?
    /// Largest frame we may send: the peer's max-frame-size (512 until its open arrives).
    var peerMaxFrameSize = 512
    /// What the transport may add to each frame after encoding (see `AMQPTransport.frameGrowth`).
    let frameGrowth: Int
    var negotiatedChannelMax: UInt16 = 0
    var sessions: [UInt16: AMQPSession] = [:]
    var sessionsByRemoteChannel: [UInt16: AMQPSession] = [:]
    /// Sessions whose incoming window ran low while the bytes just read were processed (see `reopenWindows`).
    var sessionsAwaitingWindow: [AMQPSession] = []
    var openCallback: Callback<Void>?
    private var closeCallbacks: [Callback<Void>] = []
    private var closeObservers: [Callback<Void>] = []
    var lastSent = MonotonicInstant.now()
    var lastReceived = MonotonicInstant.now()
    var timer: (any DispatchSourceTimer)?
    var openTimeoutItem: DispatchWorkItem?
    private var selfRetain: AMQPConnection?
    /// This connection's value of `queueMark` on its queue: unique in the process.
    private let queueToken = AMQPConnection.nextQueueToken.add(1, ordering: .relaxed).newValue
    /// Set (before any completion is dispatched) when the connection ends; readable from any thread.
    private let ended = Atomic<Bool>(false)
    /// A disposition waiting to be widened by the next one (see `hold`), and whether its release is scheduled.
    private var heldDisposition: (channel: UInt16, disposition: AMQPDisposition)?
    private var heldReleaseScheduled = false
    /// Why the connection ended; set once.
    private(set) var terminalError: AMQPError?

    /// Creates a connection over `transport`; nothing happens until `open`.
    public convenience init(transport: any AMQPTransport, configuration: AMQPConnectionConfiguration = .init(),
                            logger: Logger = Logger(label: "ToolboxAMQP.connection")) {
        self.init(transport: transport, server: nil, configuration: configuration, logger: logger,
                  queueLabel: "ToolboxAMQP.connection")
    }

    /// Creates the broker side of an accepted connection; `open` then waits for the client's handshake.
    ///
    /// `configuration.sasl` is ignored; SASL is governed by `server`.
    public convenience init(acceptedTransport transport: any AMQPTransport, server: AMQPServerConfiguration,
                            configuration: AMQPConnectionConfiguration = .init(),
                            logger: Logger = Logger(label: "ToolboxAMQP.server-connection")) {
        self.init(transport: transport, server: server, configuration: configuration, logger: logger,
                  queueLabel: "ToolboxAMQP.server-connection")
    }

    /// The one designated initializer: both roles differ only in `server` and the queue's label.
    private init(transport: any AMQPTransport, server: AMQPServerConfiguration?,
                 configuration: AMQPConnectionConfiguration, logger: Logger, queueLabel: String) {
        self.queue = transport.preferredQueue
            ?? LibraryQueues.makeQueue(label: "\(queueLabel).\(configuration.containerID)")
        self.configuration = configuration
        self.server = server
        self.logger = logger
        self.transport = transport
        self.frameGrowth = max(0, transport.frameGrowth)
        self.parser = AMQPFrameParser(maxFrameSize: AMQPFrameParser.preOpenMaxFrameSize,
                                      limits: configuration.decodingLimits)
        Self.queueMark.set(on: queue, value: queueToken)
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
                self?.fail(AMQPError(.timedOut, "open did not complete within \(self?.configuration.openTimeout ?? .zero)"))
            }
            self.openTimeoutItem = item
            self.queue.asyncAfter(deadline: Deadline.after(self.configuration.openTimeout).instant.dispatchTime, execute: item)
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
    public func close(error: AMQPRemoteError? = nil, timeout: Duration = .seconds(10),
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
                self.queue.asyncAfter(deadline: Deadline.after(timeout).instant.dispatchTime) { [weak self] in
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
                started.load()?.end(queue: LibraryQueues.ignoredCompletions) { _ in }
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

    /// Blocking form of `beginSession`, waiting at most `timeout`.
    public func beginSession(configuration: AMQPSessionConfiguration = .init(), timeout: Duration = .seconds(60)) throws -> AMQPSession {
        try Blocking.wait { (queue, done: @escaping @Sendable (Result<AMQPSession, any Error>) -> Void) in
            beginSession(configuration: configuration, deadline: .after(timeout), queue: queue) {
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

    /// Marks `queue` as this connection's, so code can tell it already runs there (`isOnQueue`).
    /// Set without a destructor (`QueueMark`); the value tells the connections sharing a queue's target apart.
    static let queueMark = QueueMark()
    private static let nextQueueToken = Atomic<UInt>(0)

    /// Whether the caller runs on this connection's queue (and may touch its state without a hop).
    var isOnQueue: Bool { Self.queueMark.current == queueToken }

    func send(_ frame: AMQPFrame) {
        debugAssertOnQueue(queue)
        guard let transport else { return }
        if case .amqp(let channel, .disposition(let disposition), let payload) = frame, payload.isEmpty {
            if hold(disposition, channel: channel) { return }
        } else {
            releaseHeldDisposition()
        }
        if logger.logLevel <= .trace { logger.trace("-> \(frameName(frame))") }
        transport.write(frame.encode())
        lastSent = .now()
    }

    /// Coalesces dispositions: one for a single delivery is held until the end of this queue turn (or until
    /// any other frame is sent, so frame order is kept), and the next one for the following delivery id with
    /// the same role, settled flag and `accepted` outcome widens it to a range (first..last, AMQP 1.0 §2.7.6),
    /// as brokers do. Returns whether `disposition` was held or merged (false: the caller sends it now).
    private func hold(_ disposition: AMQPDisposition, channel: UInt16) -> Bool {
        debugAssertOnQueue(queue)
        let mergeable = disposition.last == nil && disposition.batchable == false
            && { if case .accepted? = disposition.state { return true } else { return false } }()
        if var held = heldDisposition, mergeable, held.channel == channel,
           held.disposition.role == disposition.role, held.disposition.settled == disposition.settled,
           disposition.first != 0, (held.disposition.last ?? held.disposition.first) &+ 1 == disposition.first {
            held.disposition.last = disposition.first
            heldDisposition = held
            return true
        }
        releaseHeldDisposition()
        guard mergeable else { return false }
        heldDisposition = (channel, disposition)
        if !heldReleaseScheduled {
            heldReleaseScheduled = true
            queue.async {
                self.heldReleaseScheduled = false
                self.releaseHeldDisposition()
            }
        }
        return true
    }

    /// Sends the held disposition, if any.
    func releaseHeldDisposition() {
        debugAssertOnQueue(queue)
        guard let held = heldDisposition else { return }
        heldDisposition = nil
        guard let transport else { return }
        let frame = AMQPFrame.amqp(held.channel, .disposition(held.disposition))
        if logger.logLevel <= .trace { logger.trace("-> \(frameName(frame))") }
        transport.write(frame.encode())
        lastSent = .now()
    }

    func sendRaw(_ bytes: [UInt8]) {
        debugAssertOnQueue(queue)
        transport?.write(bytes)
        lastSent = .now()
    }

    var isOpen: Bool { state == .openReceived }

    /// Whether the connection has ended, from any thread. It turns true before any close completion or
    /// `onClose` handler is dispatched, so code that learns of the end through them always sees it.
    public var hasEnded: Bool { ended.load(ordering: .acquiring) }

    func sessionEnded(_ session: AMQPSession) {
        debugAssertOnQueue(queue)
        sessions[session.channel] = nil
        if let remote = session.remoteChannel { sessionsByRemoteChannel[remote] = nil }
    }

    func sessionMapped(_ session: AMQPSession, remoteChannel: UInt16) {
        debugAssertOnQueue(queue)
        sessionsByRemoteChannel[remoteChannel] = session
    }

    /// A violation by the peer: tell it why (when we can) and tear down.
    func protocolFailure(_ error: AMQPError) {
        debugAssertOnQueue(queue)
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
    func finish(_ error: AMQPError?) {
        debugAssertOnQueue(queue)
        guard state != .closed else { return }
        state = .closed
        ended.store(true, ordering: .releasing)
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
}
