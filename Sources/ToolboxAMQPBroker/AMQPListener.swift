import Dispatch
import Logging
import ToolboxAMQP
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// Accepts AMQP connections on a TCP (optionally TLS) port and runs the broker role on each.
///
/// ```swift
/// let listener = try AMQPListener(port: 0, server: AMQPServerConfiguration { session, attach in ... }) { connection in
///     connections.append(connection)       // handshake done
/// }
/// print(listener.port)
/// listener.close()
/// ```
///
/// Each accepted socket gets its own `AMQPConnection` (and serial queue). `onConnection` runs on `queue` once
/// the client's SASL and open succeeded; connections whose handshake fails are closed and reported to `onError`.
public final class AMQPListener: Sendable {
    let listener: TCPListener

    /// The port the listener accepts on (the kernel's choice when 0 was asked for).
    public var port: UInt16 { listener.port }

    public init(host: String = "127.0.0.1", port: UInt16 = 0, tls: TLSContext? = nil, server: AMQPServerConfiguration,
                configuration: AMQPConnectionConfiguration = .init(), logger: Logger = Logger(label: "ToolboxAMQP.listener"),
                queue callbackQueue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                onError: @escaping @Sendable (AMQPError) -> Void = { _ in },
                onConnection: @escaping @Sendable (AMQPConnection) -> Void) throws {
        do {
            // Accepting and starting each connection is the library's own work: it runs on a serial queue of the
            // listener's, not on `queue` (by default the concurrent `defaultCallbackQueue`, which libdispatch's
            // worker-pool monitor inspects; architecture.md, "No library work on a .concurrent queue"). What the
            // caller sees still runs on `queue`.
            listener = try TCPListener(
                host: host, port: port, tls: tls, queue: LibraryQueues.makeWorkQueue(label: "ToolboxAMQPBroker.accept"),
                onError: { error in callbackQueue.async { onError(AMQPError(.transport, "\(error)", underlying: error)) } },
                onConnection: { socket in
                    let connection = AMQPConnection(acceptedTransport: AMQPSocketTransport(accepted: socket), server: server,
                                                    configuration: configuration, logger: logger)
                    connection.open(queue: callbackQueue) { result in
                        switch result {
                        case .success: onConnection(connection)
                        case .failure(let error): onError(error)
                        }
                    }
                })
        } catch {
            throw AMQPError(.transport, "cannot listen on \(host):\(port): \(error)", underlying: error)
        }
    }

    /// Stops accepting; connections already accepted stay open. Do not call it on the listener's queue.
    public func close() { listener.close() }
}
