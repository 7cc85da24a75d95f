import AzureAuth
import ToolboxAMQP
import ToolboxCore
import ToolboxTransport

/// Where an Event Hubs or Service Bus client connects and how: host, port, TLS and the token source.
///
/// TLS is on by default and verifies the service's certificate. Plain AMQP is used only when the connection
/// string says `UseDevelopmentEmulator=true` or `allowPlainTextForDevelopment` is set explicitly.
public struct MessagingEndpoint: Sendable, CustomStringConvertible {
    /// The namespace host (no scheme, no port).
    public var host: String
    /// The port to dial: the connection string's port, else 5671 with TLS and 5672 without.
    public var port: UInt16
    /// `host[:port]` as the SDKs put it in audiences and link addresses.
    public var fullyQualifiedNamespace: String
    public var useTLS: Bool
    /// A PEM file of CA certificates to trust instead of the system roots (for emulators with TLS).
    public var caFile: String?
    /// Where `$cbs` tokens come from.
    public var tokenProvider: CBSTokenProvider
    /// Overrides the put-token `type` (Service Bus puts SAS tokens with type `jwt`, like its SDK).
    public var tokenTypeOverride: String?
    /// The AMQP idle time-out advertised in `open`: the service then sends a heartbeat at least every
    /// half of it, and a connection on which nothing arrives for this long is closed as dead (a peer that vanished
    /// without a FIN, a half-open socket), so its operations fail over to a new connection. Default 60 s; nil
    /// turns detection off.
    public var idleTimeout: Duration? = .seconds(60)
    /// AMQP over TCP (default) or over WebSockets on port 443 (see `MessagingTransportType`); a connection
    /// string's `TransportType=AmqpWebSockets` sets the latter.
    public var transport: MessagingTransportType = .amqp
    /// An HTTP proxy to tunnel through (`CONNECT`, Basic auth); setting one implies WebSockets. Default: none
    /// (clients do not read `HTTPS_PROXY` for AMQP unless told to with `HTTPProxy.fromEnvironment()`).
    public var proxy: HTTPProxy?
    /// Connect here instead of `host` (an Application Gateway, a private endpoint), like the SDKs'
    /// `custom_endpoint_address`: `sb://host:port`, `https://host`, `host:port` or `host` (port default: the
    /// transport's). TLS still verifies `host`, and audiences keep naming the namespace. An address that does not
    /// parse fails the connect with `.invalidArgument`.
    public var customEndpointAddress: String?
    /// The TLS context the connections made from this endpoint (and its copies) share.
    private let sharedTLS = SharedTLSContext()

    public init(host: String, port: UInt16? = nil, useTLS: Bool = true, caFile: String? = nil,
                tokenProvider: CBSTokenProvider) {
        self.host = host
        self.port = port ?? (useTLS ? 5671 : 5672)
        self.fullyQualifiedNamespace = port.map { "\(host):\($0)" } ?? host
        self.useTLS = useTLS
        self.caFile = caFile
        self.tokenProvider = tokenProvider
    }

    /// From a parsed connection string: SAS from its key or signature; plain AMQP only with `UseDevelopmentEmulator`.
    public init(connectionString: MessagingConnectionString, caFile: String? = nil,
                allowPlainTextForDevelopment: Bool = false) throws(AuthError) {
        let plain = connectionString.useDevelopmentEmulator || allowPlainTextForDevelopment
        self.init(host: connectionString.host, port: connectionString.port.flatMap { UInt16(exactly: $0) },
                  useTLS: !plain, caFile: caFile,
                  tokenProvider: .sharedAccessSignature(try SASTokenProvider(connectionString: connectionString)))
        fullyQualifiedNamespace = connectionString.fullyQualifiedNamespace
        if connectionString.transportType == .amqpWebSockets { transport = .amqpOverWebSockets }
    }

    /// From a namespace (`myns.servicebus.windows.net`, optionally with `:port`) and an Entra ID credential.
    public init(fullyQualifiedNamespace: String, credential: any TokenCredential, scope: String, caFile: String? = nil,
                allowPlainTextForDevelopment: Bool = false) {
        var host = fullyQualifiedNamespace
        var port: UInt16?
        if let colon = host.lastIndex(of: ":"), let value = UInt16(host[host.index(after: colon)...]) {
            port = value
            host = String(host[..<colon])
        }
        self.init(host: host, port: port, useTLS: !allowPlainTextForDevelopment, caFile: caFile,
                  tokenProvider: .tokenCredential(credential, scope: scope))
    }

    /// `sb://<namespace>/<entity>`: the CBS audience of an entity.
    public func audience(_ entity: String) -> String { "sb://\(fullyQualifiedNamespace)/\(entity)" }

    /// `amqps://<namespace>/<path>`: link addresses as the SDKs write them (scheme amqps even without TLS).
    public func address(_ path: String) -> String { "amqps://\(fullyQualifiedNamespace)/\(path)" }

    /// The client TLS context for a new connection: made on first use and shared by every later connection of
    /// this endpoint (and its copies) that trusts the same roots. A context per connection loaded the trust store
    /// again each time — milliseconds and tens of KiB per connection (performance-history.md, "Idle memory") —
    /// and kept each connection's TLS session to itself, so no later connection could resume it.
    func makeTLSContext() throws(AzureMessagingError) -> TLSContext? {
        guard useTLS else { return nil }
        if let context = sharedTLS.context(caFile: caFile) { return context }
        do {
            let context = try TLSContext(client: TLSClientConfiguration(trustRoots: caFile.map { .file($0) } ?? .system))
            sharedTLS.store(context, caFile: caFile)
            return context
        } catch {
            throw AzureMessagingError(.invalidArgument, "TLS configuration failed: \(error)")
        }
    }

    public var description: String {
        var text = "\(useTLS ? "amqps" : "amqp")://\(host):\(port) (\(tokenProvider))"
        if effectiveTransport == .amqpOverWebSockets { text += " over WebSockets" }
        if let customEndpointAddress { text += " at \(customEndpointAddress)" }
        if let proxy { text += " via proxy \(proxy)" }
        return text
    }
}

/// One endpoint's client TLS context, shared by the copies of the endpoint (a reference in a value type). The
/// context is made outside the lock (it reads files); two connections racing to make the first one both succeed,
/// and the later one's context is kept.
final class SharedTLSContext: Sendable {
    private let slot = LockedValue<(caFile: String?, context: TLSContext)?>(nil)

    /// The stored context, if it was made for the same trust roots (an endpoint copy may name another CA file).
    func context(caFile: String?) -> TLSContext? {
        slot.withLockedValue { stored in stored.flatMap { $0.caFile == caFile ? $0.context : nil } }
    }

    func store(_ context: TLSContext, caFile: String?) {
        slot.withLockedValue { $0 = (caFile, context) }
    }
}
