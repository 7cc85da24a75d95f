import Dispatch
import ToolboxCore
import ToolboxTransport

/// `AMQPTransport` over ToolboxTransport's non-blocking TCP connection, with TLS when a context is given.
///
/// ```swift
/// let tls = try TLSContext(client: TLSClientConfiguration(trustRoots: .file("ca.pem")))
/// let transport = AMQPSocketTransport(host: "localhost", port: 5671, tls: tls)
/// ```
///
/// Writes made during one turn of the connection queue are coalesced into one socket write. When the connection
/// runs on the socket's queue, that write is made in the same turn (`TCPConnection.writeNow`), not enqueued.
///
/// A transport made from an already connected socket (`connect(host:port:...)`, `init(accepted:)`) offers the
/// socket's own serial queue as `preferredQueue`: the `AMQPConnection` built over it runs there too, so a read
/// reaches the frame parser, and a write reaches the socket, without waking another thread.
public final class AMQPSocketTransport: AMQPTransport, @unchecked Sendable {
    // @unchecked Sendable: after `start`, every property is touched only on the AMQP connection's queue (asserted
    // in debug builds), which is also the queue all TCPConnection completions are delivered on (`writeTimeout`
    // may be set before).

    public let host: String
    public let port: UInt16
    let tls: TLSContext?
    let serverName: String?
    let connectTimeout: Duration
    /// Seconds the peer has to take each write off our hands: a peer that stops reading fails the connection
    /// with `.timedOut` after this long instead of letting our buffers grow without bound (default 60).
    public var writeTimeout: Duration = AMQPSocketTransport.defaultWriteTimeout
    /// The default `writeTimeout`.
    public static let defaultWriteTimeout: Duration = .seconds(60)
    private var queue: DispatchQueue?
    private var handler: ((AMQPTransportEvent) -> Void)?
    private var connection: (any ByteStream)?
    private var attempt: (any Cancellable)?
    private var outgoing: [UInt8] = []
    private var flushScheduled = false
    private var closed = false

    /// - parameter host: the broker's name or address.
    /// - parameter port: the broker's port.
    /// - parameter tls: a client context for AMQPS; nil connects in plain TCP.
    /// - parameter serverName: the TLS name to verify and send as SNI (default `host`).
    /// - parameter connectTimeout: the time for resolution, connect and the TLS handshake.
    public init(host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil,
                connectTimeout: Duration = .seconds(30)) {
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
        self.connectTimeout = connectTimeout
        self.preferredQueue = nil
    }

    /// Wraps a connection a `TCPListener` accepted (TLS already handshaken), for the broker role.
    public init(accepted connection: TCPConnection) {
        self.host = connection.peerDescription
        self.port = connection.remoteAddress?.port ?? 0
        self.tls = nil
        self.serverName = nil
        self.connectTimeout = .zero
        self.accepted = connection
        self.preferredQueue = connection.queue
    }

    /// Wraps a client stream that is already connected (and, with TLS, handshaken): a TCP connection, or a
    /// WebSocket carrying AMQP (`AMQPWSB10`).
    init(connected connection: any ByteStream, host: String, port: UInt16, tls: TLSContext?, serverName: String?) {
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
        self.connectTimeout = .zero
        self.accepted = connection
        self.preferredQueue = connection.queue
    }

    /// Connects (TCP, and TLS when `tls` is given) and then wraps the connected socket. An `AMQPConnection`
    /// created over the result shares the socket's queue (see the type's documentation), which the transport
    /// made with `init(host:port:...)` cannot: its socket does not exist yet when the connection is created.
    ///
    /// Connect failures complete with `AMQPError` code `.transport`, as the same failure would from `open`.
    /// - Parameters:
    ///   - host: The host name or address to connect to.
    ///   - port: The TCP port.
    ///   - tls: The TLS context to secure the connection with; `nil` for plain TCP.
    ///   - serverName: The name sent in SNI and checked against the certificate; defaults to `host`.
    ///   - deadline: When the TCP and TLS handshakes must have finished.
    ///   - writeTimeout: see `writeTimeout`.
    ///   - callbackQueue: The queue `completion` runs on.
    ///   - completion: Called once with the connected transport or the failure.
    /// - Returns: A handle that abandons the connect attempt.
    @discardableResult
    public static func connect(host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil,
                               deadline: Deadline, writeTimeout: Duration = defaultWriteTimeout,
                               queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                               completion: @escaping @Sendable (Result<AMQPSocketTransport, AMQPError>) -> Void)
        -> any Cancellable
    {
        connect(host: host, port: port, tls: tls, serverName: serverName, deadline: deadline, writeTimeout: writeTimeout,
                targetQueue: nil, queue: callbackQueue, completion: completion)
    }

    /// `connect` whose socket queue (and so the `AMQPConnection` over it) targets `targetQueue`: a serial queue
    /// several connections share, so a burst of work on many connections is drained by one thread per shared
    /// queue instead of a new Dispatch thread per connection.
    @discardableResult
    package static func connect(host: String, port: UInt16, tls: TLSContext?, serverName: String?,
                                deadline: Deadline, writeTimeout: Duration = defaultWriteTimeout,
                                targetQueue: DispatchQueue?,
                                queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                                completion: @escaping @Sendable (Result<AMQPSocketTransport, AMQPError>) -> Void)
        -> any Cancellable
    {
        TCPConnection.connect(host: host, port: port, tls: tls, serverName: serverName, deadline: deadline,
                              targetQueue: targetQueue, queue: callbackQueue) { result in
            completion(connectResult(result, host: host, port: port, tls: tls, serverName: serverName,
                                     writeTimeout: writeTimeout))
        }
    }

    /// What both `connect` forms deliver: a transport over the connected stream, or the failure as `.transport`.
    static func connectResult<Stream: ByteStream>(
        _ result: Result<Stream, TransportError>, host: String, port: UInt16, tls: TLSContext?, serverName: String?,
        writeTimeout: Duration
    ) -> Result<AMQPSocketTransport, AMQPError> {
        result.map { stream in
            let transport = AMQPSocketTransport(connected: stream, host: host, port: port, tls: tls,
                                                serverName: serverName)
            transport.writeTimeout = writeTimeout
            return transport
        }.mapError { AMQPError(.transport, "\($0)", underlying: $0) }
    }

    private var accepted: (any ByteStream)?
    /// The connected socket's queue (nil until connected for a transport that connects in `start`).
    public let preferredQueue: DispatchQueue?

    public func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void) {
        debugAssertOnQueue(queue)
        self.queue = queue
        self.handler = handler
        if let accepted {
            self.accepted = nil
            connected(.success(accepted))
            return
        }
        attempt = TCPConnection.connect(host: host, port: port, tls: tls, serverName: serverName,
                                        deadline: .after(connectTimeout), queue: queue) { result in
            self.connected(result.map { $0 as any ByteStream })
        }
    }

    private func connected(_ result: Result<any ByteStream, TransportError>) {
        assertOnQueue()
        attempt = nil
        switch result {
        case .failure(let error):
            report(.closed(error))
        case .success(let connection):
            if closed {
                connection.close(mode: .abortive, queue: LibraryQueues.makeWorkQueue(label: "ToolboxAMQP.close")) {}
                return
            }
            self.connection = connection
            handler?(.connected)
            flush()
            readNext()
        }
    }

    private func readNext() {
        assertOnQueue()
        guard let connection, let queue, !closed else { return }
        connection.read(maxBytes: 256 * 1024, deadline: .never, queue: queue) { result in
            switch result {
            case .success(let bytes) where bytes.isEmpty:
                self.report(.closed(nil))
            case .success(let bytes):
                self.handler?(.received(bytes))
                self.readNext()
            case .failure(let error):
                self.report(error.code == .connectionClosed ? .closed(nil) : .closed(error))
            }
        }
    }

    public func write(_ bytes: [UInt8]) {
        assertOnQueue()
        guard !closed else { return }
        outgoing.append(contentsOf: bytes)
        guard !flushScheduled, connection != nil, let queue else { return }
        flushScheduled = true
        queue.async { self.flush() }
    }

    private func flush() {
        assertOnQueue()
        flushScheduled = false
        guard let connection, let queue, !outgoing.isEmpty, !closed else { return }
        let bytes = outgoing
        outgoing = []
        let deadline = Deadline.after(writeTimeout)
        if connection.queue === queue {
            // We run on the socket's queue: hand the bytes to the kernel now instead of enqueueing another block.
            // A failure is reported on a later turn: it may surface in the middle of the caller's frame work.
            connection.writeNow(bytes, deadline: deadline) { error in
                guard let error else { return }
                queue.async { self.report(.closed(error)) }
            }
        } else {
            connection.write(bytes, deadline: deadline, queue: queue) { result in
                if case .failure(let error) = result { self.report(.closed(error)) }
            }
        }
    }

    public func close() {
        assertOnQueue()
        guard !closed else { return }
        flush()
        attempt?.cancel()
        let connection = self.connection
        report(.closed(nil))
        connection?.close(mode: .graceful, queue: LibraryQueues.makeWorkQueue(label: "ToolboxAMQP.close")) {}
    }

    /// Checks, in debug builds, that a started transport is used on its connection's queue.
    private func assertOnQueue() {
        if let queue { debugAssertOnQueue(queue) }
    }

    /// Delivers the final event once and drops the handler.
    private func report(_ event: AMQPTransportEvent) {
        assertOnQueue()
        guard !closed || handler != nil else { return }
        closed = true
        connection = nil
        let handler = self.handler
        self.handler = nil
        handler?(event)
    }
}
