import Dispatch
import ToolboxCore
import ToolboxTransport

extension AMQPSocketTransport {
    /// The WebSocket subprotocol of AMQP 1.0 (OASIS "AMQP WebSocket Binding"), as Azure's brokers require.
    public static let webSocketSubprotocol = "AMQPWSB10"
    /// The path Event Hubs and Service Bus accept AMQP WebSockets on.
    public static let webSocketPath = "/$servicebus/websocket"

    /// Connects AMQP over a WebSocket: TCP (through `proxy` when one applies), TLS when `tls` is given, the
    /// upgrade to `AMQPWSB10` on `path`, then a transport whose bytes travel in binary frames. An `AMQPConnection`
    /// over it behaves exactly as over TCP.
    ///
    /// ```swift
    /// AMQPSocketTransport.connectWebSocket(host: "myns.servicebus.windows.net", port: 443, tls: tls,
    ///                                      deadline: .after(seconds: 30)) { result in ... }
    /// ```
    ///
    /// Failures complete with `AMQPError` code `.transport`; the `ToolboxError` underneath says whether the
    /// connect, the proxy (`.proxyConnectRefused`), TLS or the upgrade (`.webSocketUpgradeRefused`, status and
    /// headers in its `HTTPRefusal`) failed.
    /// - Parameters:
    ///   - host: the host to connect to (a custom endpoint address, or the namespace).
    ///   - port: the TCP port (443 for Azure).
    ///   - path: the request path (default `/$servicebus/websocket`).
    ///   - tls: the TLS context; nil for plain `ws://` (emulators).
    ///   - serverName: the TLS name and `Host` header when they differ from `host` (the namespace, when `host`
    ///     is a custom endpoint address).
    ///   - proxy: an HTTP proxy to tunnel through with `CONNECT`.
    ///   - deadline: when connect, tunnel, TLS and upgrade must have finished.
    ///   - writeTimeout: see `writeTimeout`.
    ///   - callbackQueue: the queue `completion` runs on.
    ///   - completion: the connected transport or the failure.
    /// - Returns: a handle that abandons the attempt.
    @discardableResult
    public static func connectWebSocket(
        host: String, port: UInt16, path: String = webSocketPath, tls: TLSContext?, serverName: String? = nil,
        proxy: HTTPProxy? = nil, deadline: Deadline, writeTimeout: Duration = defaultWriteTimeout,
        queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
        completion: @escaping @Sendable (Result<AMQPSocketTransport, AMQPError>) -> Void
    ) -> any Cancellable {
        var options = TCPConnectOptions()
        options.proxy = proxy
        return WebSocketConnection.connect(
            host: host, port: port, path: path, tls: tls, serverName: serverName, hostHeader: serverName,
            subprotocols: [webSocketSubprotocol], deadline: deadline, options: options, queue: callbackQueue
        ) { result in
            completion(connectResult(result, host: host, port: port, tls: tls, serverName: serverName,
                                     writeTimeout: writeTimeout))
        }
    }
}
