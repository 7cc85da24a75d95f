import ToolboxAMQP
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

extension Emulator {
    /// Starts the AMQP-over-WebSocket listeners the configuration asks for (plain, and TLS with `tls`): each
    /// accepted socket must upgrade on `/$servicebus/websocket` with subprotocol `AMQPWSB10` within 30 s, and is
    /// then handed to `accept` like an AMQP socket (same broker, same faults and limits). Returns their ports.
    static func startWebSocketListeners(
        _ configuration: EmulatorConfiguration, tls: TLSContext?, into listeners: inout [TCPListener],
        onError: @escaping @Sendable (TransportError) -> Void, accept: @escaping @Sendable (any ByteStream) -> Void
    ) throws -> (plain: UInt16?, secure: UInt16?) {
        let logger = configuration.logger
        let upgrade: @Sendable (TCPConnection) -> Void = { tcp in
            WebSocketConnection.accept(tcp, subprotocol: AMQPSocketTransport.webSocketSubprotocol,
                                       path: AMQPSocketTransport.webSocketPath,
                                       limits: WebSocketLimits(maxFramePayload: 16 << 20, maxMessageSize: 64 << 20),
                                       deadline: .after(seconds: 30),
                                       queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.websocket-upgrade")) { result in
                switch result {
                case .success(let socket): accept(socket)
                case .failure(let error): logger.info("websocket upgrade from \(tcp.peerDescription) failed: \(error)")
                }
            }
        }
        var ports: (plain: UInt16?, secure: UInt16?) = (nil, nil)
        for (port, context, name) in [(configuration.amqpWebSocketPort, nil as TLSContext?, "ws"),
                                      (configuration.amqpsWebSocketPort, tls, "wss")] {
            guard let port else { continue }
            if name == "wss", context == nil { continue }
            do {
                let listener = try TCPListener(host: configuration.host, port: port, tls: context,
                                               queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.accept.\(name)"),
                                               onError: onError, onConnection: upgrade)
                listeners.append(listener)
                if name == "ws" { ports.plain = listener.port } else { ports.secure = listener.port }
            } catch {
                throw EmulatorError(.listenFailed,
                                    "could not listen for AMQP over \(name) on \(configuration.host):\(port): \(error)")
            }
        }
        return ports
    }
}
