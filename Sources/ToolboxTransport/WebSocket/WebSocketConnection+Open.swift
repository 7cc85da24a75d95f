import Dispatch
import ToolboxCore

/// Opening WebSockets: the client's connect and upgrade request, and a server's answer to an accepted socket.
extension WebSocketConnection {
    /// Connects (TCP, through `options.proxy` if one applies, then TLS when `tls` is given), sends the upgrade
    /// request for `path` and checks the server's 101 (accept key, subprotocol).
    ///
    /// - parameter host: the server's name or address; also the `Host` header and (unless `serverName` says
    ///   otherwise) the TLS name.
    /// - parameter port: the TCP port (443 for `wss`).
    /// - parameter path: the request target, e.g. `/$servicebus/websocket`.
    /// - parameter tls: a client context for `wss`; nil for `ws`.
    /// - parameter serverName: the TLS name to verify and send as SNI, when not `host`.
    /// - parameter hostHeader: the `Host` header's name, when not `host` (a custom endpoint address that fronts
    ///   the real host).
    /// - parameter subprotocols: offered in `Sec-WebSocket-Protocol`; the server must choose one of them.
    /// - parameter limits: what the server's frames may be.
    /// - parameter maxOutgoingFrame: the largest payload one outgoing frame carries; longer messages are
    ///   fragmented.
    /// - parameter deadline: covers connect, proxy tunnel, TLS and the upgrade.
    /// - parameter options: connect settings, including the proxy.
    /// - parameter callbackQueue: where `completion` runs (spelled `queue:`).
    /// - parameter completion: the open WebSocket, or why not: a refused upgrade is `.webSocketUpgradeRefused`
    ///   with an `HTTPRefusal` (status and headers) underneath.
    /// - returns: a handle that abandons the attempt.
    @discardableResult
    public static func connect(
        host: String, port: UInt16, path: String, tls: TLSContext? = nil, serverName: String? = nil,
        hostHeader: String? = nil, subprotocols: [String] = [], limits: WebSocketLimits = WebSocketLimits(),
        maxOutgoingFrame: Int = 1 << 20, deadline: Deadline, options: TCPConnectOptions = TCPConnectOptions(),
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<WebSocketConnection, TransportError>) -> Void
    ) -> any Cancellable {
        let once = CompletionOnce<Result<WebSocketConnection, TransportError>> { result in
            callbackQueue.async { completion(result) }
        }
        let attempt = OpenAttempt()
        let tcpAttempt = TCPConnection.connect(host: host, port: port, tls: tls, serverName: serverName,
                                               deadline: deadline, options: options, queue: callbackQueue) { result in
            switch result {
            case .failure(let error):
                once.complete(.failure(error))
            case .success(let tcp):
                guard attempt.adopt(tcp) else {
                    tcp.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {}
                    once.complete(.failure(TransportError(.cancelled, "the WebSocket connect to \(host):\(port) was cancelled")))
                    return
                }
                let key = WebSocketHandshake.makeKey()
                let request = WebSocketHandshake.request(
                    host: hostHeader ?? host, port: port, secure: tls != nil, path: path, key: key,
                    subprotocols: subprotocols, extraHeaders: [])
                tcp.write(request, deadline: deadline, queue: tcp.queue) { result in
                    if case .failure(let error) = result {
                        once.complete(.failure(error))
                        return
                    }
                    readHead(tcp, deadline: deadline) { result in
                        do {
                            let (head, leftover) = try result.get()
                            try WebSocketHandshake.validateResponse(head, key: key, subprotocols: subprotocols,
                                                                    peer: tcp.peerDescription)
                            let socket = WebSocketConnection(
                                tcp: tcp, role: .client, subprotocol: head.header("Sec-WebSocket-Protocol"),
                                limits: limits, maxOutgoingFrame: maxOutgoingFrame, leftover: leftover)
                            if once.complete(.success(socket)) { socket.begin() }
                        } catch let error as ToolboxError {
                            tcp.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {}
                            once.complete(.failure(error))
                        } catch {
                            tcp.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {}
                            once.complete(.failure(TransportError(.webSocketProtocolError, "\(error)")))
                        }
                    }
                }
            }
        }
        attempt.tcpAttempt.withLockedValue { $0 = tcpAttempt }
        return CancelWith {
            if once.complete(.failure(TransportError(.cancelled, "the WebSocket connect to \(host):\(port) was cancelled"))) {
                attempt.cancel()
            }
        }
    }

    /// Answers the upgrade request on a socket a listener accepted (TLS already done): 101 with `subprotocol` when
    /// the request is a valid WebSocket upgrade for `path` (any path when nil) offering it; otherwise an HTTP
    /// error answer, the socket closed, and a `.webSocketUpgradeRefused` error saying why.
    public static func accept(
        _ tcp: TCPConnection, subprotocol: String, path: String? = nil, limits: WebSocketLimits = WebSocketLimits(),
        maxOutgoingFrame: Int = 1 << 20, deadline: Deadline,
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<WebSocketConnection, TransportError>) -> Void
    ) {
        let deliver: @Sendable (Result<WebSocketConnection, TransportError>) -> Void = { result in
            callbackQueue.async { completion(result) }
        }
        readHead(tcp, deadline: deadline) { result in
            let head: HTTPHead, leftover: [UInt8]
            switch result {
            case .failure(let error):
                tcp.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {}
                return deliver(.failure(error))
            case .success(let value):
                (head, leftover) = value
            }
            let answer = WebSocketHandshake.answer(head, subprotocol: subprotocol, path: path)
            tcp.write(answer.response, deadline: deadline, queue: tcp.queue) { written in
                guard answer.accepted else {
                    tcp.close(mode: .graceful, queue: LibraryQueues.ignoredCompletions) {}
                    return deliver(.failure(TransportError(
                        .webSocketUpgradeRefused, "refused the WebSocket upgrade from \(tcp.peerDescription): \(answer.why)")))
                }
                if case .failure(let error) = written { return deliver(.failure(error)) }
                let socket = WebSocketConnection(tcp: tcp, role: .server, subprotocol: subprotocol, limits: limits,
                                                 maxOutgoingFrame: maxOutgoingFrame, leftover: leftover)
                socket.begin()
                deliver(.success(socket))
            }
        }
    }

    /// Reads until a whole HTTP head has arrived; returns it and the bytes that came after it.
    private static func readHead(_ tcp: TCPConnection, deadline: Deadline, buffer: [UInt8] = [],
                                 _ completion: @escaping @Sendable (Result<(HTTPHead, [UInt8]), TransportError>) -> Void) {
        tcp.read(maxBytes: WebSocketHandshake.headLimit, deadline: deadline, queue: tcp.queue) { result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let bytes) where bytes.isEmpty:
                completion(.failure(TransportError(
                    .webSocketUpgradeRefused, "\(tcp.peerDescription) closed the connection during the WebSocket handshake")))
            case .success(let bytes):
                let buffer = buffer + bytes
                do {
                    if let (head, used) = try HTTPHead.parse(buffer, limit: WebSocketHandshake.headLimit,
                                                             peer: tcp.peerDescription) {
                        completion(.success((head, Array(buffer[used...]))))
                    } else {
                        readHead(tcp, deadline: deadline, buffer: buffer, completion)
                    }
                } catch let error as ToolboxError {
                    completion(.failure(error))
                } catch {
                    completion(.failure(TransportError(.httpMalformed, "\(error)")))
                }
            }
        }
    }
}

/// The TCP connect of a WebSocket attempt, so cancelling reaches whichever stage it is in.
private final class OpenAttempt: Sendable {
    let tcpAttempt = LockedValue<(any Cancellable)?>(nil)
    private let state = LockedValue<(cancelled: Bool, tcp: TCPConnection?)>((false, nil))

    /// Records the connected socket; false if the attempt was cancelled already.
    func adopt(_ tcp: TCPConnection) -> Bool {
        state.withLockedValue { state in
            if state.cancelled { return false }
            state.tcp = tcp
            return true
        }
    }

    func cancel() {
        let tcp = state.withLockedValue { state -> TCPConnection? in
            state.cancelled = true
            return state.tcp
        }
        tcpAttempt.load()?.cancel()
        tcp?.close(mode: .abortive, queue: LibraryQueues.ignoredCompletions) {}
    }
}

/// A `Cancellable` that runs a closure.
private struct CancelWith: Cancellable {
    let action: @Sendable () -> Void
    init(_ action: @escaping @Sendable () -> Void) { self.action = action }
    func cancel() { action() }
}
