#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ToolboxCore
import ToolboxTransport

/// A listening TCP socket (optionally TLS) that accepts connections on its own queue.
///
/// ```swift
/// let listener = try TCPListener(host: "127.0.0.1", port: 0) { connection in
///     connection.read { ... }
/// }
/// print(listener.port)   // the port the kernel picked
/// listener.close()
/// ```
///
/// With a TLS context, each accepted connection is handed over only after its handshake succeeds (within
/// `handshakeTimeout`); failed handshakes go to `onError` and the socket is reset.
public final class TCPListener: @unchecked Sendable {
    // @unchecked Sendable: `fd`, `source`, `paused` and `backoff` are touched only on `queue` once `init` has
    // returned (checked in debug builds), and by `deinit`, when nothing else holds the listener; the rest is immutable.
    public let queue: DispatchQueue
    /// The address the listener is bound to (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    private var fd: Int32
    private var source: (any DispatchSourceRead)?
    /// While accepting is paused after running out of descriptors or memory (the source is suspended).
    private var paused = false
    /// The next pause, doubling up to `maxBackoff` while accepts keep failing; reset by a successful accept.
    private var backoff = TCPListener.minBackoff
    static let minBackoff = 0.05
    static let maxBackoff = 1.0
    private let tls: TLSContext?
    private let handshakeTimeout: Duration
    private let onConnection: @Sendable (TCPConnection) -> Void
    private let onError: @Sendable (TransportError) -> Void
    private let callbackQueue: DispatchQueue
    /// Where accepted connections run: nil gives each an independent queue watched by the shared poller.
    private let loops: HTTPEventLoops?

    /// The port the listener accepts on.
    public var port: UInt16 { localAddress.port }

    /// Binds and starts accepting.
    ///
    /// - parameter host: a numeric address to bind ("127.0.0.1", "::1", "0.0.0.0").
    /// - parameter port: 0 lets the kernel pick a free port (read it from `port`).
    /// - parameter backlog: the kernel's queue of connections not yet accepted.
    /// - parameter tls: a server context: each accepted connection completes its TLS handshake first.
    /// - parameter handshakeTimeout: how long an accepted connection has to finish its TLS handshake.
    /// - parameter callbackQueue: where `onConnection` and `onError` run (the parameter is spelled `queue:`).
    /// - parameter onError: called with accept and handshake failures (the listener keeps accepting).
    /// - parameter onConnection: called on `queue:` with each accepted (and, with TLS, handshaken) connection.
    /// - parameter eventLoops: 0 (the default) gives each accepted connection a queue of its own, its socket
    ///   watched by a shared poller that hands every report to that queue (a thread wake-up per report). With
    ///   N > 0 the accepted connections are spread round robin over N event loops, as an `HTTPClient`'s are
    ///   (`HTTPClientConfiguration.eventLoopCount`): each loop's poller thread runs its connections' socket
    ///   reports itself, so a connection whose queue is idle reads, handles and answers without waking any other
    ///   thread. Work on such connections' queues must then never wait (a slow step holds up the loop's other
    ///   connections; a wait for another connection of the same loop would never end).
    /// - throws: `TransportError` with `.listenFailed` when the address cannot be bound.
    public init(
        host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 128, tls: TLSContext? = nil,
        handshakeTimeout: Duration = .seconds(10), queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        eventLoops: Int = 0,
        onError: @escaping @Sendable (TransportError) -> Void = { _ in },
        onConnection: @escaping @Sendable (TCPConnection) -> Void
    ) throws {
        guard let address = SocketAddress(numericHost: host, port: port) else {
            throw TransportError(.listenFailed, "'\(host)' is not a numeric IPv4 or IPv6 address to listen on")
        }
        let socketFD = socket(address.family, POSIX.streamType, 0)
        guard socketFD >= 0 else {
            throw TransportError(.listenFailed, "could not create a socket: \(POSIX.errnoText)", errno: errno)
        }
        POSIX.prepare(socketFD)
        POSIX.setReuseAddress(socketFD)
        if address.withSockAddr({ bind(socketFD, $0, $1) }) != 0 || listen(socketFD, backlog) != 0 {
            let code = errno
            POSIX.closeDescriptor(socketFD)
            throw TransportError(
                .listenFailed, "could not listen on \(address): \(POSIX.text(for: code)); pick another port",
                errno: code)
        }
        self.fd = socketFD
        self.localAddress = SocketAddress.local(of: socketFD) ?? address
        self.tls = tls
        self.handshakeTimeout = handshakeTimeout
        self.onConnection = onConnection
        self.onError = onError
        self.callbackQueue = callbackQueue
        self.loops = eventLoops > 0
            ? HTTPEventLoops(count: min(eventLoops, 256), label: "ToolboxTransportServer.loop") : nil
        self.queue = LibraryQueues.makeQueue(label: "ToolboxTransport.listener.\(localAddress)")
        let source = DispatchSource.makeReadSource(fileDescriptor: socketFD, queue: queue)
        source.setEventHandler { [weak self] in self?.acceptAll() }
        source.setCancelHandler { POSIX.closeDescriptor(socketFD) }
        self.source = source
        source.resume()
    }

    deinit {
        source?.cancel()
        if paused { source?.resume() }
    }

    /// Stops accepting and closes the listening socket; connections already accepted stay open.
    ///
    /// Returns once the socket is closed, so a connect made afterwards is refused. Do not call it on `queue`.
    public func close() {
        // `queue.sync` from `queue` itself would deadlock.
        dispatchPrecondition(condition: .notOnQueue(queue))
        let closed = DispatchSemaphore(value: 0)
        let wasOpen: Bool = queue.sync {
            guard let source else { return false }
            source.setCancelHandler { [fd] in
                POSIX.closeDescriptor(fd)
                closed.signal()
            }
            source.cancel()
            // A suspended source never runs its cancel handler.
            if paused {
                paused = false
                source.resume()
            }
            self.source = nil
            fd = -1
            return true
        }
        if wasOpen { closed.wait() }
    }

    private func acceptAll() {
        debugAssertOnQueue(queue)
        while fd >= 0 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let accepted = withUnsafeMutableBytes(of: &storage) { raw in
                accept(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
            if accepted < 0 {
                let code = errno
                if POSIX.isWouldBlock(code) || code == ECONNABORTED { return }
                // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays in the backlog and
                // the socket stays readable, so retrying at once would spin. Pause accepting, report, retry later.
                let error = TransportError(
                    .listenFailed, "accept failed: \(POSIX.text(for: code)); pausing accepts for \(backoff) s",
                    errno: code)
                let onError = self.onError
                callbackQueue.async { onError(error) }
                pauseAccepting()
                return
            }
            backoff = TCPListener.minBackoff
            POSIX.prepare(accepted)
            POSIX.setNoDelay(accepted)
            adopt(accepted, remote: SocketAddress(storage: storage, length: length))
        }
    }

    private func pauseAccepting() {
        debugAssertOnQueue(queue)
        guard let source, !paused else { return }
        paused = true
        source.suspend()
        let delay = backoff
        backoff = min(backoff * 2, TCPListener.maxBackoff)
        queue.asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self, self.paused else { return }
            self.paused = false
            self.source?.resume()
        }
    }

    private func adopt(_ socketFD: Int32, remote: SocketAddress) {
        let loop = loops?.next()
        let connectionQueue = LibraryQueues.makeQueue(label: "ToolboxTransport.accepted.\(remote)", target: loop?.queue)
        let connection = TCPConnection(peerDescription: remote.description, queue: connectionQueue, tlsContext: tls,
                                       loop: loop)
        let onConnection = self.onConnection
        let onError = self.onError
        let callbackQueue = self.callbackQueue
        let deadline = Deadline.after(handshakeTimeout)
        connectionQueue.async {
            connection.adoptAccepted(fd: socketFD, remote: remote, deadline: deadline) { error in
                if let error {
                    callbackQueue.async { onError(error) }
                } else {
                    callbackQueue.async { onConnection(connection) }
                }
            }
        }
    }
}
