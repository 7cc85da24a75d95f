#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ToolboxCore

/// Opening connections: resolution, the non-blocking connect over each address in turn, and the TLS handshake.
extension TCPConnection {
    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address) and, with `tls`, completes the handshake.
    ///
    /// Names resolve on a global queue; each resolved address is tried in order until one accepts. With TLS the
    /// server's certificate is verified against `serverName` (default `host`), which is also sent as SNI.
    ///
    /// - parameter deadline: covers resolution, connect and handshake; missing it fails with `.timedOut`.
    /// - returns: a handle that cancels the attempt (the completion then gets `.cancelled`).
    @discardableResult
    public static func connect(
        host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil,
        deadline: Deadline = .after(seconds: 30),
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<TCPConnection, TransportError>) -> Void
    ) -> any Cancellable {
        connect(host: host, port: port, tls: tls, serverName: serverName, deadline: deadline, targetQueue: nil,
                queue: callbackQueue, completion: completion)
    }

    /// `connect` whose connection queue targets `targetQueue` (an event loop shared by several connections) and,
    /// with `poller` (that loop's), learns of read readiness from the loop's epoll set.
    @discardableResult
    static func connect(
        host: String, port: UInt16, tls: TLSContext?, serverName: String?, deadline: Deadline,
        targetQueue: DispatchQueue?, poller: SocketPoller? = nil, queue callbackQueue: DispatchQueue,
        completion: @escaping @Sendable (Result<TCPConnection, TransportError>) -> Void
    ) -> any Cancellable {
        let connection = makeForConnect(host: host, port: port, tls: tls, targetQueue: targetQueue, poller: poller)
        connection.queue.async {
            connection.startConnect(host: host, port: port, serverName: serverName ?? tls?.serverNameOverride ?? host, deadline: deadline) {
                result in callbackQueue.async { completion(result) }
            }
        }
        return ConnectAttempt(connection: connection)
    }

    /// Blocking form of `connect(host:port:tls:serverName:deadline:queue:completion:)`.
    public static func connect(
        host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil, timeout: Double
    ) throws -> TCPConnection {
        try Blocking.wait { queue, completion in
            connect(host: host, port: port, tls: tls, serverName: serverName, deadline: .after(seconds: timeout),
                    queue: queue) { completion($0.mapError { $0 }) }
        }
    }

    static func makeForConnect(host: String, port: UInt16, tls: TLSContext?,
                               targetQueue: DispatchQueue? = nil, poller: SocketPoller? = nil) -> TCPConnection {
        let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let queue = LibraryQueues.makeQueue(label: "ToolboxTransport.connection.\(name)", target: targetQueue)
        return TCPConnection(peerDescription: name, queue: queue, tlsContext: tls, poller: poller)
    }

    /// Internal entry used by the HTTP client: the handler runs on `queue`.
    func startConnect(
        host: String, port: UInt16, serverName: String, deadline: Deadline,
        _ handler: @escaping (Result<TCPConnection, TransportError>) -> Void
    ) {
        selfRetain = self
        handshakeHandler = { [unowned self] error in
            if let error { handler(.failure(error)) } else { handler(.success(self)) }
        }
        phaseTimer.arm(at: deadline) { [weak self] in
            guard let self else { return }
            self.fail(TransportError(.timedOut, "connecting to \(self.peerDescription) did not finish before its deadline"))
        }
        HostResolver.resolve(host: host, port: port, queue: queue) { [self] result in
            guard state == .connecting else { return }
            switch result {
            case .failure(let error):
                fail(error)
            case .success(let addresses):
                tryConnect(addresses[...], serverName: serverName, lastError: nil)
            }
        }
    }

    private func tryConnect(_ addresses: ArraySlice<SocketAddress>, serverName: String, lastError: TransportError?) {
        guard let address = addresses.first else {
            fail(lastError ?? TransportError(.connectFailed, "no address to connect to for \(peerDescription)"))
            return
        }
        let socketFD = socket(address.family, POSIX.streamType, 0)
        if socketFD < 0 {
            let code = errno
            fail(TransportError(.connectFailed, "could not create a socket: \(POSIX.text(for: code))", errno: code))
            return
        }
        POSIX.prepare(socketFD)
        POSIX.setNoDelay(socketFD)
        fd = socketFD
        let rc = address.withSockAddr { POSIX.connect(socketFD, $0, $1) }
        let code = errno
        if rc == 0 || code == EINPROGRESS {
            installSources()
            pendingAddresses = (addresses.dropFirst(), serverName, address)
            if rc == 0 { finishConnect() } else { setWriteInterest(true) }
            return
        }
        POSIX.closeDescriptor(socketFD)
        fd = -1
        tryConnect(addresses.dropFirst(), serverName: serverName, lastError: connectError(code, address: address))
    }

    private func connectError(_ code: Int32, address: SocketAddress) -> TransportError {
        if code == ECONNREFUSED {
            return TransportError(
                .connectionRefused,
                "nothing is listening on \(peerDescription) (\(address)); check the host and port", errno: code)
        }
        if code == ECONNRESET {
            return TransportError(
                .connectionReset, "\(peerDescription) (\(address)) reset the connection as it opened", errno: code)
        }
        return TransportError(
            .connectFailed, "could not connect to \(peerDescription) (\(address)): \(POSIX.text(for: code))",
            errno: code)
    }

    /// Called when the socket becomes writable during `.connecting`: the connect finished, well or badly.
    func finishConnect() {
        guard state == .connecting, let pending = pendingAddresses else { return }
        let code = POSIX.pendingError(fd)
        if code != 0 {
            pendingAddresses = nil
            // Cancelling the sources closes this descriptor; the next address gets a fresh one.
            releaseSocket()
            tryConnect(pending.remaining, serverName: pending.serverName,
                       lastError: connectError(code, address: pending.address))
            return
        }
        pendingAddresses = nil
        setWriteInterest(false)
        recordAddresses(remote: pending.address)
        beginSession(serverName: pending.serverName)
    }

    /// Starts TLS if configured, else reports the connection open.
    func beginSession(serverName: String?) {
        guard let tlsContext else {
            state = .open
            updateReadInterest()
            completeOpening(nil)
            return
        }
        do {
            let sessionKey = tlsContext.isClient ? "\(serverName ?? "")|\(peerDescription)" : nil
            tls = try TLSSession(
                context: tlsContext, serverName: serverName, peerDescription: peerDescription, sessionKey: sessionKey)
        } catch let error as TransportError {
            fail(error)
            return
        } catch {
            fail(TransportError(.tlsConfigurationInvalid, "\(error)"))
            return
        }
        state = .handshaking
        continueHandshake()
        updateReadInterest()
    }

    func continueHandshake() {
        guard let tls, state == .handshaking else { return }
        let step = tls.handshake()
        tls.drainOutput(into: &outbound)
        switch step {
        case .needsInput:
            flush()
        case .failed(let error):
            // Send the alert that explains the failure to the peer before resetting.
            flush()
            fail(error)
        case .done:
            state = .open
            tlsResumed.withLockedValue { $0 = tls.resumedSession }
            flush()
            completeOpening(nil)
        }
    }

    func handshakeEOFError() -> TransportError {
        TransportError(
            .tlsHandshakeFailed,
            "\(peerDescription) closed the connection during the TLS handshake; is it a TLS endpoint, and does it "
                + "accept this client's certificate?")
    }

    func completeOpening(_ error: TransportError?) {
        phaseTimer.disarm()
        selfRetain = nil
        let handler = handshakeHandler
        handshakeHandler = nil
        handler?(error)
    }
}

/// Cancels an in-progress connect.
struct ConnectAttempt: Cancellable {
    let connection: TCPConnection

    func cancel() {
        connection.queue.async {
            guard connection.state == .connecting || connection.state == .handshaking else { return }
            connection.fail(TransportError(.cancelled, "connecting to \(connection.peerDescription) was cancelled"))
        }
    }
}
