import Dispatch
import Synchronization
import ToolboxCore

/// A non-blocking TCP connection, optionally wrapped in TLS, driven by Dispatch sources on its own serial queue.
///
/// ```swift
/// TCPConnection.connect(host: "example.org", port: 443, tls: try TLSContext(client: .init()),
///                       deadline: .after(seconds: 5)) { result in
///     guard case .success(let connection) = result else { return }
///     connection.write(Array("ping".utf8)) { _ in
///         connection.read { bytes in print(bytes) }   // an empty array means the peer closed
///     }
/// }
/// ```
///
/// All state lives on `queue`; public methods may be called from any thread and deliver their completion on the
/// `queue:` they are given, exactly once. Reads deliver whatever bytes are available (up to `maxBytes`); an empty
/// array means the peer closed its side. Writes complete when the bytes have been handed to the kernel.
/// Close a connection with `close(mode:)` when done; dropping the last reference closes it abortively.
public final class TCPConnection: @unchecked Sendable {
    // @unchecked Sendable: every mutable property below is read and written only on `queue`
    // (asserted with dispatchPrecondition in the I/O paths); `addresses` has its own lock.

    /// How `close` ends the connection.
    public enum CloseMode: Sendable {
        /// Flush pending writes, send TLS close_notify and a FIN.
        case graceful
        /// Drop pending writes and send a RST at once.
        case abortive
    }

    enum State {
        case connecting
        case handshaking
        case open
        case closing
        case closed
    }

    struct PendingRead {
        let maxBytes: Int
        let handler: (Result<[UInt8], TransportError>) -> Void
    }

    struct PendingWrite {
        /// Where the write ends in the stream handed to the kernel; `UInt64.max` while it waits in `unstaged`.
        var end: UInt64
        let deadline: Deadline
        let handler: (TransportError?) -> Void
    }

    struct UnstagedWrite {
        let bytes: OutgoingBytes
        /// How much of `bytes` is in `outbound` already.
        var offset: Int
    }

    /// The serial queue this connection's state machine runs on.
    public let queue: DispatchQueue
    /// "host:port" as the caller named it, for messages.
    public let peerDescription: String

    var fd: Int32 = -1
    var state: State = .connecting
    /// Whether read readiness is wanted (with sources: the read source is resumed).
    var readInterest = false
    /// Whether write readiness is wanted (with sources: the write source is resumed).
    var writeInterest = false
    /// With a poller (Linux): the socket's registration in it, and what is armed there as far as we know.
    var pollToken: UInt64?
    var pollArmed: SocketInterest = []
    /// Without a poller (other platforms): the socket's Dispatch sources.
    var readSource: (any DispatchSourceRead)?
    var writeSource: (any DispatchSourceWrite)?
    var tls: TLSSession?
    var inbound = ByteQueue()
    var outbound: [UInt8] = []
    var outboundIndex = 0
    /// Large writes (and any written after them) not yet moved into `outbound`: `flush` stages them a piece at a
    /// time as the socket drains (`stageUnstaged`), so a large body is neither copied nor encrypted whole.
    var unstaged: [UnstagedWrite] = []
    var bytesEnqueued: UInt64 = 0
    var bytesWritten: UInt64 = 0
    var pendingRead: PendingRead?
    var pendingWrites: [PendingWrite] = []
    var peerClosed = false
    var failure: TransportError?
    var handshakeHandler: ((TransportError?) -> Void)?
    var closeHandlers: [() -> Void] = []
    lazy var readTimer = ConnectionTimer(queue: queue)
    lazy var writeTimer = ConnectionTimer(queue: queue)
    lazy var phaseTimer = ConnectionTimer(queue: queue)
    /// The connect attempts over the resolved addresses, while connecting.
    var connectRace: ConnectRace?
    /// Keeps the connection alive while connecting, when nobody else holds it yet.
    var selfRetain: TCPConnection?
    /// The proxy `CONNECT` exchange, while the connection tunnels through a proxy (before TLS).
    var tunnel: ProxyTunnel?

    private let addresses = LockedValue<(local: SocketAddress?, remote: SocketAddress?)>((nil, nil))

    let tlsContext: TLSContext?
    /// The epoll set that reports the socket's readiness (an event loop's, or the shared one); nil only where
    /// there is no epoll, and the socket then has Dispatch sources of its own (see `SocketPoller` for why).
    let poller: SocketPoller?

    package convenience init(peerDescription: String, queue: DispatchQueue, tlsContext: TLSContext?) {
        self.init(peerDescription: peerDescription, queue: queue, tlsContext: tlsContext, poller: nil)
    }

    /// A connection on `queue` whose socket `loop`'s poller watches (`queue` must target `loop.queue`); without a
    /// loop, the shared poller's.
    package convenience init(peerDescription: String, queue: DispatchQueue, tlsContext: TLSContext?,
                             loop: HTTPEventLoops.Loop?) {
        self.init(peerDescription: peerDescription, queue: queue, tlsContext: tlsContext, poller: loop?.poller)
    }

    init(peerDescription: String, queue: DispatchQueue, tlsContext: TLSContext?, poller: SocketPoller?) {
        self.peerDescription = peerDescription
        self.queue = queue
        self.tlsContext = tlsContext
        self.poller = poller ?? SocketPoller.shared
        self.queueMarkValue = TCPConnection.nextQueueMarkValue.wrappingAdd(1, ordering: .relaxed).oldValue
        TCPConnection.transportQueueMark.set(on: queue, value: queueMarkValue)
    }

    /// This connection's value of `transportQueueMark` on its queue: unique among connections (event loops carry 1),
    /// so `isOnOwnQueue` can tell this connection's queue from any other.
    let queueMarkValue: UInt
    private static let nextQueueMarkValue = Atomic<UInt>(2)

    /// Whether the calling thread runs on this connection's queue (not merely on some transport queue).
    package var isOnOwnQueue: Bool { TCPConnection.transportQueueMark.current == queueMarkValue }

    /// Marks every connection's queue; `HTTPEventLoops` marks each loop's queue with it too (a mark does not pass
    /// down to a queue's target). See `isOnTransportQueue`. Set without a destructor (`QueueMark`).
    static let transportQueueMark = QueueMark()

    /// Whether the calling thread runs on a connection's queue or an event loop — or on any queue that targets
    /// one of them, since a queue-specific lookup tries the current queue and then the queues it targets, in turn.
    /// Code there must not `queue.sync` onto another connection: two connections doing that to each other would
    /// deadlock.
    static var isOnTransportQueue: Bool { transportQueueMark.current != nil }

    deinit {
        // Nobody can call back into us any more; give pending handlers their error and release the socket.
        let error = TransportError(.closedLocally, "the connection to \(peerDescription) was released while in use")
        pendingRead?.handler(.failure(error))
        for write in pendingWrites { write.handler(error) }
        handshakeHandler?(error)
        if fd >= 0 { POSIX.setLingerZero(fd) }
        releaseSocket()
        for handler in closeHandlers { handler() }
    }

    /// The local address, once connected.
    public var localAddress: SocketAddress? { addresses.load().local }
    /// The peer's address, once connected.
    public var remoteAddress: SocketAddress? { addresses.load().remote }
    /// Whether TLS protects this connection.
    public var isTLS: Bool { tlsContext != nil }
    /// Whether the TLS handshake resumed a session from an earlier connection to the same server (clients
    /// resume automatically through their `TLSContext`).
    public var isTLSSessionResumed: Bool { tlsResumed.load() }
    let tlsResumed = LockedValue(false)

    func recordAddresses(remote: SocketAddress?) {
        let local = SocketAddress.local(of: fd)
        addresses.withLockedValue { $0 = (local, remote) }
    }

    // MARK: Public API

    /// Reads the next bytes available, at most `maxBytes`; an empty array means the peer closed the connection.
    ///
    /// Only one read may be pending at a time (a second one fails with `.invalidRequest`). A read that times out
    /// fails with `.timedOut` and consumes nothing; the connection stays usable.
    public func read(
        maxBytes: Int = 65536, deadline: Deadline = .never,
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<[UInt8], TransportError>) -> Void
    ) {
        queue.async {
            self.readOnQueue(maxBytes: maxBytes, deadline: deadline) { result in
                callbackQueue.async { completion(result) }
            }
        }
    }

    /// Writes all of `bytes`; completes once they are handed to the kernel.
    ///
    /// A write that misses its deadline fails the connection with `.timedOut` (a half-written stream cannot be
    /// resumed meaningfully).
    public func write(
        _ bytes: [UInt8], deadline: Deadline = .never,
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<Void, TransportError>) -> Void
    ) {
        queue.async {
            self.writeOnQueue(bytes, deadline: deadline) { error in
                callbackQueue.async { completion(error.map { .failure($0) } ?? .success(())) }
            }
        }
    }

    /// Closes the connection; `completion` runs once the socket is released. Closing twice is harmless.
    public func close(
        mode: CloseMode = .graceful, queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable () -> Void
    ) {
        queue.async {
            self.closeOnQueue(mode: mode) { callbackQueue.async { completion() } }
        }
    }

    /// Blocking form of `read(maxBytes:deadline:queue:completion:)`.
    public func read(maxBytes: Int = 65536, timeout: Duration) throws -> [UInt8] {
        try Blocking.wait { queue, completion in
            read(maxBytes: maxBytes, deadline: .after(timeout), queue: queue) {
                completion($0.mapError { $0 })
            }
        }
    }

    /// Blocking form of `write(_:deadline:queue:completion:)`.
    public func write(_ bytes: [UInt8], timeout: Duration) throws {
        try Blocking.wait { queue, completion in
            write(bytes, deadline: .after(timeout), queue: queue) { completion($0.mapError { $0 }) }
        }
    }

    /// Blocking form of `close(mode:queue:completion:)`.
    public func close(mode: CloseMode = .graceful) throws {
        let _: Void = try Blocking.wait { queue, completion in
            close(mode: mode, queue: queue) { completion(.success(())) }
        }
    }
}
