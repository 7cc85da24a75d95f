import Foundation
import Logging
import ToolboxCore
import ToolboxTransport

/// An `amqp://` or `amqps://` URL split into what a connection needs.
///
/// `amqps://user:pass@host:5671/queue/q1` gives host, port 5671, TLS, SASL PLAIN and address `/queue/q1`
/// (the path, keeping its leading slash, as RabbitMQ's address syntax expects). Without user info the
/// mechanism is ANONYMOUS. The password is held as a `Secret` and never printed.
public struct AMQPEndpoint: Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public var useTLS: Bool
    public var sasl: AMQPSASLMechanism
    /// The node address from the URL path ("" when absent).
    public var address: String

    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "amqp" || scheme == "amqps", let host = components.host, !host.isEmpty
        else {
            throw AMQPError(.invalidArgument, "expected amqp[s]://[user:pass@]host[:port]/address, got '\(Self.redacted(url))'")
        }
        self.host = host
        useTLS = scheme == "amqps"
        if let port = components.port {
            guard let value = UInt16(exactly: port) else { throw AMQPError(.invalidArgument, "invalid port \(port)") }
            self.port = value
        } else {
            port = useTLS ? 5671 : 5672
        }
        if let user = components.user {
            sasl = .plain(username: user.removingPercentEncoding ?? user,
                          password: Secret(components.password?.removingPercentEncoding ?? components.password ?? ""))
        } else {
            sasl = .anonymous
        }
        address = components.percentEncodedPath.removingPercentEncoding ?? components.path
    }

    public var description: String {
        "\(useTLS ? "amqps" : "amqp")://\(host):\(port)\(address) sasl=\(sasl)"
    }

    /// The URL with any password replaced, for error messages — including a URL that does not parse, which is
    /// when the message quotes it (`amqp://u:p@host:abc/q`, or `amqps:/u:p@host` with a slash missing): after
    /// `scheme:` and its slashes, everything past the user's first `:` up to the last `@` goes (more than the
    /// password for a URL with an `@` in its path, but never less).
    static func redacted(_ url: String) -> String {
        if var components = URLComponents(string: url), let host = components.host, !host.isEmpty {
            guard components.password != nil else { return url }
            components.password = "redacted"
            return components.string ?? "<url>"
        }
        guard let at = url.lastIndex(of: "@"), let schemeColon = url.firstIndex(of: ":"), schemeColon < at else {
            return url
        }
        var start = url.index(after: schemeColon)
        while start < at, url[start] == "/" { start = url.index(after: start) }
        let keepEnd = url[start..<at].firstIndex(of: ":").map { url.index(after: $0) } ?? start
        return String(url[..<keepEnd]) + "redacted" + String(url[at...])
    }

    /// A transport for this endpoint; TLS trusts `caFile` if given, else the system roots, and presents the
    /// client certificate (PEM chain and key files) when given, for SASL EXTERNAL.
    public func makeTransport(caFile: String? = nil, clientCertificateFile: String? = nil, clientKeyFile: String? = nil,
                              connectTimeout: Duration = .seconds(30)) throws -> AMQPSocketTransport {
        var tls: TLSContext?
        if useTLS {
            var configuration = TLSClientConfiguration(trustRoots: caFile.map { .file($0) } ?? .system)
            configuration.clientCertificateChainFile = clientCertificateFile
            configuration.clientPrivateKeyFile = clientKeyFile
            do {
                tls = try TLSContext(client: configuration)
            } catch {
                throw AMQPError(.transport, "TLS configuration failed: \(error)", underlying: error)
            }
        }
        return AMQPSocketTransport(host: host, port: port, tls: tls, connectTimeout: connectTimeout)
    }
}

extension AMQPConnection {
    /// Creates a connection to `endpoint` (not yet open).
    public convenience init(endpoint: AMQPEndpoint, caFile: String? = nil, clientCertificateFile: String? = nil,
                            clientKeyFile: String? = nil, configuration: AMQPConnectionConfiguration = .init(),
                            logger: Logger = Logger(label: "ToolboxAMQP.connection")) throws {
        var configuration = configuration
        configuration.sasl = endpoint.sasl
        if configuration.hostname == nil { configuration.hostname = endpoint.host }
        self.init(transport: try endpoint.makeTransport(caFile: caFile, clientCertificateFile: clientCertificateFile,
                                                        clientKeyFile: clientKeyFile, connectTimeout: configuration.openTimeout),
                  configuration: configuration, logger: logger)
    }
}
