#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ToolboxCore

/// Opening connections: resolution, non-blocking connects raced over the resolved addresses, the TLS handshake.
extension TCPConnection {
    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address) and, with `tls`, completes the handshake.
    ///
    /// Names resolve on a work queue (overlapping lookups of one name share one). With several addresses,
    /// attempts start `options.attemptDelay` apart (address families interleaved) while earlier ones are still
    /// pending, and the first to connect wins ("Happy Eyeballs"); an address that drops SYNs therefore costs the
    /// delay, not the deadline. With TLS the server's certificate is verified against `serverName` (default
    /// `host`), which is also sent as SNI.
    ///
    /// - parameter host: a name, an IPv4 or an IPv6 address.
    /// - parameter port: the TCP port.
    /// - parameter tls: a client context to run TLS with; nil connects in plain TCP.
    /// - parameter serverName: the name to verify and send as SNI (default `host`).
    /// - parameter deadline: covers resolution, every connect attempt and the handshake; missing it fails with
    ///   `.timedOut`. When every address fails, the error names each address and why.
    /// - parameter options: the delay between connect attempts and other connect settings.
    /// - parameter callbackQueue: where `completion` runs (the parameter is spelled `queue:`).
    /// - parameter completion: receives the connected (and, with TLS, handshaken) connection or why not, once.
    /// - returns: a handle that cancels the attempt (the completion then gets `.cancelled`).
    @discardableResult
    public static func connect(
        host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil,
        deadline: Deadline = .after(seconds: 30), options: TCPConnectOptions = TCPConnectOptions(),
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<TCPConnection, TransportError>) -> Void
    ) -> any Cancellable {
        connect(host: host, port: port, tls: tls, serverName: serverName, deadline: deadline, options: options,
                targetQueue: nil, queue: callbackQueue, completion: completion)
    }

    /// `connect` whose connection queue targets `targetQueue` (a serial queue several connections share, as an
    /// AMQP client's event loop); sockets are watched by the shared poller.
    @discardableResult
    package static func connect(
        host: String, port: UInt16, tls: TLSContext?, serverName: String?, deadline: Deadline,
        targetQueue: DispatchQueue?, queue callbackQueue: DispatchQueue,
        completion: @escaping @Sendable (Result<TCPConnection, TransportError>) -> Void
    ) -> any Cancellable {
        connect(host: host, port: port, tls: tls, serverName: serverName, deadline: deadline, options: TCPConnectOptions(),
                targetQueue: targetQueue, poller: nil, queue: callbackQueue, completion: completion)
    }

    /// `connect` whose connection queue targets `targetQueue` (an event loop shared by several connections) and,
    /// with `poller` (that loop's), learns of read readiness from the loop's epoll set.
    @discardableResult
    static func connect(
        host: String, port: UInt16, tls: TLSContext?, serverName: String?, deadline: Deadline,
        options: TCPConnectOptions = TCPConnectOptions(),
        targetQueue: DispatchQueue?, poller: SocketPoller? = nil, queue callbackQueue: DispatchQueue,
        completion: @escaping @Sendable (Result<TCPConnection, TransportError>) -> Void
    ) -> any Cancellable {
        let connection = makeForConnect(host: host, port: port, tls: tls, targetQueue: targetQueue, poller: poller)
        let proxy = options.proxy.flatMap { $0.applies(to: host) ? $0 : nil }
        connection.queue.async {
            if let proxy { connection.tunnel = ProxyTunnel(proxy: proxy, targetHost: host, targetPort: port) }
            connection.startConnect(host: proxy?.host ?? host, port: proxy?.port ?? port,
                                    serverName: serverName ?? tls?.serverNameOverride ?? host,
                                    deadline: deadline, options: options) {
                result in callbackQueue.async { completion(result) }
            }
        }
        return ConnectAttempt(connection: connection)
    }

    /// Blocking form of `connect(host:port:tls:serverName:deadline:options:queue:completion:)`.
    public static func connect(
        host: String, port: UInt16, tls: TLSContext? = nil, serverName: String? = nil,
        options: TCPConnectOptions = TCPConnectOptions(), timeout: Duration
    ) throws -> TCPConnection {
        try Blocking.wait { queue, completion in
            connect(host: host, port: port, tls: tls, serverName: serverName, deadline: .after(timeout),
                    options: options, queue: queue) { completion($0.mapError { $0 }) }
        }
    }

    static func makeForConnect(host: String, port: UInt16, tls: TLSContext?,
                               targetQueue: DispatchQueue? = nil, poller: SocketPoller? = nil) -> TCPConnection {
        let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let queue = LibraryQueues.makeQueue(label: "ToolboxTransport.connection.\(name)", target: targetQueue)
        return TCPConnection(peerDescription: name, queue: queue, tlsContext: tls, poller: poller)
    }

    /// Resolves, races the connects and runs the handshake; the handler runs on `queue`, exactly once.
    func startConnect(
        host: String, port: UInt16, serverName: String, deadline: Deadline, options: TCPConnectOptions,
        _ handler: @escaping (Result<TCPConnection, TransportError>) -> Void
    ) {
        selfRetain = self
        handshakeHandler = { [unowned self] error in
            // However opening ends, attempts still running are closed.
            connectRace?.cancel()
            connectRace = nil
            if let error { handler(.failure(error)) } else { handler(.success(self)) }
        }
        phaseTimer.arm(at: deadline) { [weak self] in
            guard let self else { return }
            let tried = self.connectRace.map { "; \($0.summary)" } ?? ""
            self.fail(TransportError(
                .timedOut, "connecting to \(self.peerDescription) did not finish before its deadline\(tried)"))
        }
        let connectAddresses: @Sendable (Result<[SocketAddress], TransportError>) -> Void = { [self] result in
            guard state == .connecting else { return }
            switch result {
            case .failure(let error):
                failConnect(error)
            case .success(let addresses):
                race(addresses, serverName: serverName, attemptDelay: options.attemptDelay.toolboxSeconds)
            }
        }
        if let addresses = options.addressesOverride {
            queue.async { connectAddresses(.success(addresses)) }
        } else {
            HostResolver.resolve(host: host, port: port, queue: queue, completion: connectAddresses)
        }
    }

    private func race(_ addresses: [SocketAddress], serverName: String, attemptDelay: Double) {
        let race = ConnectRace(
            addresses: addresses, peerDescription: peerDescription, attemptDelay: attemptDelay, queue: queue,
            poller: poller
        ) { [unowned self] result in
            connectRace = nil
            guard state == .connecting else {
                if case .success(let won) = result { POSIX.closeDescriptor(won.fd) }
                return
            }
            switch result {
            case .failure(let error):
                failConnect(error)
            case .success(let won):
                fd = won.fd
                installSources()
                recordAddresses(remote: won.address)
                if tunnel != nil { startTunnel(serverName: serverName) } else { beginSession(serverName: serverName) }
            }
        }
        connectRace = race
        race.start()
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
        } catch {
            fail(.passing(error, orElse: .tlsConfigurationInvalid))
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
