import ToolboxCore

/// An Event Hubs or Service Bus connection string, parsed.
///
/// ```swift
/// let cs = try MessagingConnectionString(parsing: "Endpoint=sb://myns.servicebus.windows.net/;"
///     + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=...;EntityPath=eh1")
/// let token = try cs.sasToken(entity: nil, expiry: 1_700_000_000)
/// ```
///
/// Keys (case-insensitive): `Endpoint` (required), `SharedAccessKeyName` + `SharedAccessKey`, or
/// `SharedAccessSignature`; optional `EntityPath`, `UseDevelopmentEmulator` and `TransportType`. Keys and signatures are held as
/// `Secret`s; `description` and errors never show them.
public struct MessagingConnectionString: Sendable, CustomStringConvertible {
    /// The `Endpoint` value as given (for example `sb://myns.servicebus.windows.net/`).
    public let endpoint: String
    /// The namespace host, without scheme, port or path.
    public let host: String
    /// The port when the endpoint names one (emulators), else nil.
    public let port: Int?
    /// `SharedAccessKeyName`, when the string authenticates with a key.
    public let sharedAccessKeyName: String?
    /// `SharedAccessKey`, when the string authenticates with a key.
    public let sharedAccessKey: Secret<String>?
    /// `SharedAccessSignature`, a ready SAS token, when the string carries one instead of a key.
    public let sharedAccessSignature: Secret<String>?
    /// `EntityPath`: the event hub, queue or topic.
    public let entityPath: String?
    /// `UseDevelopmentEmulator=true`: connect with plain AMQP to a local emulator.
    public let useDevelopmentEmulator: Bool
    /// `TransportType=Amqp|AmqpWebSockets` (the name and values of Microsoft's .NET connection strings), when given.
    public let transportType: TransportType?

    /// The transports a connection string can ask for.
    public enum TransportType: String, Sendable {
        /// AMQP over TCP (5671, or 5672 for emulators).
        case amqp = "Amqp"
        /// AMQP over WebSockets on port 443 (`wss://<host>/$servicebus/websocket`).
        case amqpWebSockets = "AmqpWebSockets"
    }

    /// `host[:port]`, the fully qualified namespace SDKs put in audiences.
    public var fullyQualifiedNamespace: String {
        port.map { "\(host):\($0)" } ?? host
    }

    /// Parses `text`; throws `AuthError` naming the missing or invalid key.
    public init(parsing text: String) throws(AuthError) {
        let kind = "Event Hubs/Service Bus"
        let fields = try ConnectionStringFields(parsing: text, kind: kind,
                                                shape: "Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...")
        guard let endpoint = fields["Endpoint"] else {
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has no 'Endpoint'; add "
                + "'Endpoint=sb://<namespace>.servicebus.windows.net/'")
        }
        let (host, port) = try Self.splitEndpoint(endpoint)
        self.endpoint = endpoint
        self.host = host
        self.port = port
        sharedAccessKeyName = fields["SharedAccessKeyName"]
        sharedAccessKey = fields["SharedAccessKey"].map(Secret.init)
        sharedAccessSignature = fields["SharedAccessSignature"].map(Secret.init)
        entityPath = fields["EntityPath"]
        useDevelopmentEmulator = try fields.bool("UseDevelopmentEmulator", kind: kind) ?? false
        if let value = fields["TransportType"] {
            guard let type = [TransportType.amqp, .amqpWebSockets].first(where: {
                $0.rawValue.lowercased() == value.lowercased() })
            else {
                throw AuthError(.invalidConnectionStringValue, "'TransportType' in the \(kind) connection string must be "
                    + "'Amqp' or 'AmqpWebSockets'")
            }
            transportType = type
        } else {
            transportType = nil
        }
        switch (sharedAccessKeyName, sharedAccessKey, sharedAccessSignature) {
        case (.some, .some, nil), (nil, nil, .some):
            break
        case (.some, .some, .some):
            throw AuthError(.invalidConnectionStringValue, "the \(kind) connection string has both "
                + "'SharedAccessKey' and 'SharedAccessSignature'; keep only one of them")
        case (.some, nil, _):
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has 'SharedAccessKeyName' "
                + "but no 'SharedAccessKey'; add the key that belongs to that policy")
        case (nil, .some, _):
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has 'SharedAccessKey' but no "
                + "'SharedAccessKeyName'; add the name of the policy the key belongs to")
        case (nil, nil, nil):
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has neither "
                + "'SharedAccessKeyName'/'SharedAccessKey' nor 'SharedAccessSignature'; add one of them")
        }
    }

    /// The SAS audience for `entity` (defaults to `EntityPath`): `sb://<namespace[:port]>/<entity>`.
    public func audience(entity: String? = nil) -> String {
        let name = entity ?? entityPath ?? ""
        return "sb://\(fullyQualifiedNamespace)/\(name)"
    }

    /// A SAS token for `entity` valid until `expiry` (UNIX seconds), or the string's own signature.
    public func sasToken(entity: String? = nil, expiry: Int) throws(AuthError) -> Secret<String> {
        if let signature = sharedAccessSignature { return signature }
        guard let name = sharedAccessKeyName, let key = sharedAccessKey else {
            throw AuthError(.missingConnectionStringKey, "the connection string has no 'SharedAccessKey' to sign with")
        }
        return SharedAccessSignature.token(audience: audience(entity: entity), keyName: name, key: key, expiry: expiry)
    }

    public var description: String {
        var parts = ["endpoint: \(endpoint)"]
        if let name = sharedAccessKeyName { parts.append("sharedAccessKeyName: \(name)") }
        if sharedAccessKey != nil { parts.append("sharedAccessKey: <redacted>") }
        if sharedAccessSignature != nil { parts.append("sharedAccessSignature: <redacted>") }
        if let entityPath { parts.append("entityPath: \(entityPath)") }
        if useDevelopmentEmulator { parts.append("useDevelopmentEmulator: true") }
        if let transportType { parts.append("transportType: \(transportType.rawValue)") }
        return "MessagingConnectionString(\(parts.joined(separator: ", ")))"
    }

    /// Host and optional port of an endpoint such as `sb://host:5673/`, `amqps://host` or a bare `host`.
    static func splitEndpoint(_ endpoint: String) throws(AuthError) -> (String, Int?) {
        var rest = Substring(endpoint)
        if let schemeEnd = rest.range(of: "://") { rest = rest[schemeEnd.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var host = String(rest)
        var port: Int?
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else {
                throw AuthError(.invalidConnectionStringValue, "'Endpoint' has a port that is not a number from 1 "
                    + "to 65535; write it as 'sb://<host>:<port>/'")
            }
            port = value
            host = String(host[..<colon])
        }
        if host.isEmpty {
            throw AuthError(.invalidConnectionStringValue, "'Endpoint' names no host; write it as "
                + "'sb://<namespace>.servicebus.windows.net/'")
        }
        return (host, port)
    }
}
