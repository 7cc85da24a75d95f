import AzureAuth
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// A local Event Hubs and Service Bus namespace that speaks AMQP 1.0 the way Azure does, so Microsoft's SDKs and
/// the toolbox's clients run against it offline.
///
/// ```swift
/// var configuration = EmulatorConfiguration()
/// configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)]
/// let emulator = try Emulator.start(configuration)
/// let connectionString = emulator.eventHubsConnectionString(eventHub: "eh1")
/// // ... run clients ...
/// emulator.stop()
/// ```
///
/// Clients authenticate with SAS tokens signed by the namespace key (`configuration.keyName` / `key`) on `$cbs`;
/// links to entities without a token for them are refused with `amqp:unauthorized-access`. State is in memory.
public final class Emulator: @unchecked Sendable {
    // @unchecked Sendable: the open connections and the stopped flag live in `connections` (a LockedValue); the rest
    // is immutable after start.

    /// The plain AMQP port clients connect to (`UseDevelopmentEmulator=true` connection strings).
    public let amqpPort: UInt16
    /// The AMQPS port, when a TLS listener was asked for.
    public let amqpsPort: UInt16?
    /// The plain AMQP-over-WebSocket port (`ws://host:port/$servicebus/websocket`), when asked for.
    public let amqpWebSocketPort: UInt16?
    /// The AMQP-over-secure-WebSocket port (`wss://`), when asked for.
    public let amqpsWebSocketPort: UInt16?
    /// The plain HTTP port of the HTTP side (Cosmos DB, Blob Storage, Event Grid, Entra ID), when it listens.
    public let httpPort: UInt16?
    /// The HTTPS port of the HTTP side, when it listens.
    public let httpsPort: UInt16?
    /// The CA certificate (PEM) that signed the self-signed AMQPS/HTTPS certificate, when one was generated.
    public let caFile: String?
    public let configuration: EmulatorConfiguration
    let broker: Broker
    /// The generated certificate's directory, removed by `stop()`.
    private let generatedDirectory: String?
    private let listeners: [TCPListener]
    let frontDoor: HTTPFrontDoor?
    private struct Connections {
        var open: [ObjectIdentifier: AMQPConnection] = [:]
        var stopped = false
    }

    private let connections = LockedValue(Connections())

    private init(configuration: EmulatorConfiguration, broker: Broker, listeners: [TCPListener], amqpPort: UInt16,
                 amqpsPort: UInt16?, webSocketPorts: (plain: UInt16?, secure: UInt16?), httpPort: UInt16?,
                 httpsPort: UInt16?, frontDoor: HTTPFrontDoor?, caFile: String?, generatedDirectory: String?) {
        self.amqpWebSocketPort = webSocketPorts.plain
        self.amqpsWebSocketPort = webSocketPorts.secure
        self.httpPort = httpPort
        self.httpsPort = httpsPort
        self.frontDoor = frontDoor
        self.generatedDirectory = generatedDirectory
        self.configuration = configuration
        self.broker = broker
        self.listeners = listeners
        self.amqpPort = amqpPort
        self.amqpsPort = amqpsPort
        self.caFile = caFile
    }

    /// Starts the listeners and calls `completion` on `queue` once they accept connections.
    public static func start(_ configuration: EmulatorConfiguration,
                             queue: DispatchQueue = LibraryQueues.defaultCallbackQueue,
                             completion: @escaping @Sendable (Result<Emulator, EmulatorError>) -> Void) {
        LibraryQueues.makeQueue(label: "AzureEmulator.start").async {
            let result: Result<Emulator, EmulatorError>
            do { result = .success(try startNow(configuration)) } catch let error as EmulatorError {
                result = .failure(error)
            } catch {
                result = .failure(EmulatorError(.listenFailed, "\(error)"))
            }
            queue.async { completion(result) }
        }
    }

    /// Blocking form of `start(_:queue:completion:)`.
    public static func start(_ configuration: EmulatorConfiguration) throws -> Emulator {
        try startNow(configuration)
    }

    private static func startNow(_ configuration: EmulatorConfiguration) throws -> Emulator {
        let broker = try Broker(configuration: configuration)
        let box = LockedValue<Emulator?>(nil)
        let accept: @Sendable (TCPConnection) -> Void = { connection in box.load()?.accept(connection) }
        let onError: @Sendable (TransportError) -> Void = { error in
            configuration.logger.info("listener: \(error)")
        }
        var listeners: [TCPListener] = []
        var generatedDirectory: String?
        var frontDoor: HTTPFrontDoor?
        // Whatever was started before a failure is closed again.
        var started = false
        defer {
            if !started {
                for listener in listeners { listener.close() }
                frontDoor?.close()
                if let generatedDirectory { try? FileManager.default.removeItem(atPath: generatedDirectory) }
            }
        }
        let plain: TCPListener
        do {
            // Connections run on event loops whose poller threads read, handle and answer frames themselves
            // (the broker's work never waits: see AcceptedTransport).
            plain = try TCPListener(host: configuration.host, port: configuration.amqpPort,
                                    queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.accept.amqp"),
                                    eventLoops: POSIX.activeProcessorCount, onError: onError, onConnection: accept)
        } catch {
            throw EmulatorError(.listenFailed, "could not listen for AMQP on \(configuration.host):\(configuration.amqpPort): \(error)")
        }
        listeners.append(plain)

        // One certificate (given, or generated with its own CA) serves AMQPS and HTTPS.
        var tls: TLSContext?
        var caFile: String?
        if configuration.amqpsPort != nil || configuration.httpsPort != nil || configuration.amqpsWebSocketPort != nil {
            var certificate = configuration.tlsCertificateFile
            var key = configuration.tlsPrivateKeyFile
            if certificate == nil || key == nil {
                guard certificate == nil, key == nil else {
                    throw EmulatorError(.invalidConfiguration, "give both a TLS certificate and its key, or neither")
                }
                let generated = try SelfSignedCertificate.generate()
                certificate = generated.certificateFile
                key = generated.privateKeyFile
                caFile = generated.caFile
                generatedDirectory = generated.directory
            }
            do {
                tls = try TLSContext(server: TLSServerConfiguration(certificateChainFile: certificate ?? "",
                                                                    privateKeyFile: key ?? ""))
            } catch {
                throw EmulatorError(.tlsFailed, "could not load the TLS certificate and key: \(error)")
            }
        }
        var amqpsPort: UInt16?
        if let port = configuration.amqpsPort, let tls {
            do {
                let secure = try TCPListener(host: configuration.host, port: port, tls: tls,
                                             queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.accept.amqps"),
                                             eventLoops: POSIX.activeProcessorCount, onError: onError,
                                             onConnection: accept)
                listeners.append(secure)
                amqpsPort = secure.port
            } catch {
                throw EmulatorError(.listenFailed, "could not start the AMQPS listener on port \(port): \(error)")
            }
        }

        let webSocketPorts = try startWebSocketListeners(configuration, tls: tls, into: &listeners, onError: onError) {
            socket in box.load()?.accept(socket)
        }

        var httpPort: UInt16?
        var httpsPort: UInt16?
        if configuration.httpPort != nil || configuration.httpsPort != nil {
            let context = EmulatorHTTPContext(configuration: configuration, caFile: caFile ?? configuration.tlsCertificateFile)
            let door = HTTPFrontDoor(context: context, services: try HTTPFrontDoor.makeServices(context: context))
            frontDoor = door
            if let port = configuration.httpPort {
                do { httpPort = try door.listen(host: configuration.host, port: port, tls: nil) } catch {
                    throw EmulatorError(.listenFailed, "could not listen for HTTP on \(configuration.host):\(port): \(error)")
                }
            }
            if let port = configuration.httpsPort, let tls {
                do { httpsPort = try door.listen(host: configuration.host, port: port, tls: tls) } catch {
                    throw EmulatorError(.listenFailed, "could not listen for HTTPS on \(configuration.host):\(port): \(error)")
                }
            }
        }

        let emulator = Emulator(configuration: configuration, broker: broker, listeners: listeners,
                                amqpPort: plain.port, amqpsPort: amqpsPort, webSocketPorts: webSocketPorts,
                                httpPort: httpPort, httpsPort: httpsPort,
                                frontDoor: frontDoor, caFile: caFile, generatedDirectory: generatedDirectory)
        box.withLockedValue { $0 = emulator }
        started = true
        var ports = "\(plain.port) (amqp)"
        if let amqpsPort { ports += ", \(amqpsPort) (amqps)" }
        if let port = webSocketPorts.plain { ports += ", \(port) (amqp over ws)" }
        if let port = webSocketPorts.secure { ports += ", \(port) (amqp over wss)" }
        if let httpPort { ports += ", \(httpPort) (http)" }
        if let httpsPort { ports += ", \(httpsPort) (https)" }
        configuration.logger.info("emulator listening on \(configuration.host): \(ports)")
        return emulator
    }

    private func accept(_ socket: any ByteStream) {
        let context = BrokerConnection(broker: broker)
        let transport = AcceptedTransport(connection: socket, faults: configuration.faults,
                                          maxFrameSize: configuration.limits.maxFrameSize) { [logger = configuration.logger] text in
            logger.info("connection \(context.id): \(text)")
        }
        var settings = AMQPConnectionConfiguration(containerID: "azure-emulator", maxFrameSize: configuration.limits.maxFrameSize,
                                                   idleTimeout: max(.seconds(1), configuration.idleTimeout))
        settings.channelMax = 4999
        // pyamqp also indexes the open's last field (properties) without a bounds check.
        settings.properties = [.symbol("product"): "azure-emulator"]
        let connection = AMQPConnection(acceptedTransport: transport, server: context.serverConfiguration(),
                                        configuration: settings, logger: configuration.logger)
        let key = ObjectIdentifier(connection)
        let limit = configuration.limits.maxConnections
        enum Admission { case stopped, full, accepted }
        let admission: Admission = connections.withLockedValue { connections in
            if connections.stopped { return .stopped }
            if connections.open.count >= limit { return .full }
            connections.open[key] = connection
            return .accepted
        }
        switch admission {
        case .stopped:
            socket.close(mode: .abortive, queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.socket-close")) {}
            return
        case .full:
            // Refused where the client can read why: through the handshake, then a close carrying the reason.
            configuration.logger.info("connection \(context.id) refused: \(limit) connections are open")
            connection.open(queue: context.handlerQueue) { _ in
                connection.close(error: AMQPRemoteError(
                    condition: AMQPRemoteError.resourceLimitExceeded,
                    description: "the emulator allows \(limit) connections at once (EmulatorLimits.maxConnections)"),
                    timeout: .seconds(2), queue: context.handlerQueue) { _ in }
            }
            return
        case .accepted:
            break
        }
        // The connection's own completions run on its broker context's serial queue, never on the concurrent
        // default callback queue (architecture.md, "No library work on a .concurrent queue").
        connection.onClose(queue: context.handlerQueue) { [weak self] _ in
            _ = self?.connections.withLockedValue { $0.open.removeValue(forKey: key) }
        }
        connection.open(queue: context.handlerQueue) { [logger = configuration.logger] result in
            if case .failure(let error) = result { logger.debug("connection \(context.id) did not open: \(error)") }
        }
    }

    /// An Event Hubs connection string for `eventHub` (plain AMQP, `UseDevelopmentEmulator=true`).
    public func eventHubsConnectionString(eventHub: String) -> String {
        connectionString(entityPath: eventHub)
    }

    /// A Service Bus connection string for the namespace (plain AMQP, `UseDevelopmentEmulator=true`).
    public var serviceBusConnectionString: String { connectionString(entityPath: nil) }

    /// `Endpoint=sb://host:port;SharedAccessKeyName=...;SharedAccessKey=...[;EntityPath=...];UseDevelopmentEmulator=true`.
    public func connectionString(entityPath: String?) -> String {
        // A wildcard listen address is not one clients can connect to; loopback is.
        let host = ["0.0.0.0", "::", "[::]"].contains(configuration.host) ? "127.0.0.1"
            : configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        var parts = ["Endpoint=sb://\(host):\(amqpPort)", "SharedAccessKeyName=\(configuration.keyName)",
                     "SharedAccessKey=\(configuration.key.exposedValue)"]
        if let entityPath { parts.append("EntityPath=\(entityPath)") }
        parts.append("UseDevelopmentEmulator=true")
        return parts.joined(separator: ";")
    }

    /// An access token from the emulator's own issuer, for a `TokenCredential` scope such as
    /// `https://eventhubs.azure.net//.default`: put on `$cbs` with type `jwt`, it authorizes the whole namespace,
    /// as an Entra ID token with a data-plane role does on Azure. Signed (HS256) with the namespace key, so
    /// another emulator's tokens are refused.
    ///
    /// The token lives at least `lifetime` seconds: its expiry, in whole seconds as JWTs have it, is rounded up
    /// (rounded down, a 2 s token issued at x.9 s lived 1.1 s, and its refresh had half of that).
    public func issueToken(forScope scope: String, lifetime: Int = 3600) -> AccessToken {
        let exact = Date().timeIntervalSince1970
        let now = Int(exact)
        // Saturating, as the JWT's own `exp` is: `lifetime` is the caller's, any Int.
        let (rounded, longer) = max(0, lifetime).addingReportingOverflow(exact > Double(now) ? 1 : 0)
        let lives = longer ? Int.max : rounded
        let (expiry, late) = now.addingReportingOverflow(lives)
        let token = EmulatorJWT.issue(audience: EmulatorJWT.audience(forScope: scope), lifetime: lives,
                                      key: configuration.key, now: now)
        return AccessToken(token: Secret(token), expiresOn: late ? Int.max : expiry)
    }

    /// The namespace as a client's `fullyQualifiedNamespace` (`host:port`), for credential-based clients.
    public var fullyQualifiedNamespace: String {
        let host = ["0.0.0.0", "::", "[::]"].contains(configuration.host) ? "127.0.0.1"
            : configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(host):\(amqpPort)"
    }

    /// Number of client connections currently open.
    public var connectionCount: Int { connections.withLockedValue { $0.open.count } }

    /// Stops accepting, closes every client connection and returns once the listeners are closed. Idempotent.
    public func stop() {
        let open: [AMQPConnection] = connections.withLockedValue { connections in
            guard !connections.stopped else { return [] }
            connections.stopped = true
            defer { connections.open = [:] }
            return Array(connections.open.values)
        }
        for listener in listeners { listener.close() }
        frontDoor?.close()
        if let generatedDirectory { try? FileManager.default.removeItem(atPath: generatedDirectory) }
        for connection in open {
            connection.close(error: AMQPRemoteError(condition: "amqp:connection:forced", description: "the emulator is stopping"),
                             timeout: .seconds(1), queue: LibraryQueues.makeWorkQueue(label: "AzureEmulator.stop")) { _ in }
        }
    }
}
