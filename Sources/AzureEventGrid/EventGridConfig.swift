import AzureAuth
import ToolboxCore

/// How a client proves itself to a topic.
///
/// ```swift
/// .key(Secret(topicKey))                                  // aeg-sas-key
/// .sharedAccessSignature(Secret(sasToken))                // aeg-sas-token, made elsewhere
/// .signedWithKey(Secret(topicKey), validity: .seconds(3600))  // aeg-sas-token made per request from the key
/// .token(DefaultAzureCredential(transport: transport))   // Authorization: Bearer (scope eventgrid.azure.net)
/// ```
public enum EventGridCredential: Sendable, CustomStringConvertible {
    /// The topic's access key, sent as `aeg-sas-key`.
    case key(Secret<String>)
    /// A SAS token (`r=…&e=…&s=…`, e.g. from `EventGridSharedAccessSignature.token`), sent as `aeg-sas-token`.
    case sharedAccessSignature(Secret<String>)
    /// The topic's key never leaves the process: each request carries a fresh SAS token signed with it.
    case signedWithKey(Secret<String>, validity: Duration)
    /// An Entra ID credential; tokens for `https://eventgrid.azure.net/.default` go out as `Authorization: Bearer`
    /// (HTTPS endpoints only, as Azure's SDKs insist).
    case token(any TokenCredential)

    /// The OAuth scope of Event Grid's data plane.
    public static let scope = "https://eventgrid.azure.net/.default"

    public var description: String {
        switch self {
        case .key: return "key(<redacted>)"
        case .sharedAccessSignature: return "sharedAccessSignature(<redacted>)"
        case .signedWithKey(_, let validity): return "signedWithKey(<redacted>, validity: \(validity))"
        case .token(let credential): return "token(\(credential.credentialName))"
        }
    }
}

/// One topic a client publishes to, as the Python toolbox's `EventGridTopicConfig`: a name the code uses and the
/// topic's publish URL, e.g. `https://orders.westus2-1.eventgrid.azure.net/api/events`.
public struct EventGridTopicConfig: Sendable, CustomStringConvertible {
    public var name: String
    public var url: String
    /// The credential for this topic when it differs from the client's (topics have their own keys).
    public var credential: EventGridCredential?

    public init(name: String, url: String, credential: EventGridCredential? = nil) {
        self.name = name
        self.url = url
        self.credential = credential
    }

    public var description: String {
        "EventGridTopicConfig(name: \(name), url: \(url)\(credential.map { ", credential: \($0)" } ?? ""))"
    }
}

/// The topics one client publishes to, by name (the Python toolbox's `EventGridConfig`).
///
/// ```swift
/// let config = EventGridConfig([EventGridTopicConfig(name: "orders", url: ordersURL),
///                               EventGridTopicConfig(name: "audit", url: auditURL)])
/// config.topics            // ["orders", "audit"]
/// config.url(for: "audit") // auditURL
/// ```
public struct EventGridConfig: Sendable {
    /// The topic configurations in the order given (a later one with the same name replaces an earlier one).
    public private(set) var topicConfigs: [EventGridTopicConfig] = []

    public init(_ topicConfigs: [EventGridTopicConfig]) {
        for topic in topicConfigs {
            if let index = self.topicConfigs.firstIndex(where: { $0.name == topic.name }) {
                self.topicConfigs[index] = topic
            } else {
                self.topicConfigs.append(topic)
            }
        }
    }

    public init(_ topicConfig: EventGridTopicConfig) {
        self.init([topicConfig])
    }

    /// The topic names (Python: `topics()`).
    public var topics: [String] { topicConfigs.map(\.name) }

    /// The configuration of `topic`, if the client has it (Python: `config(topic)`).
    public func config(for topic: String) -> EventGridTopicConfig? {
        topicConfigs.first { $0.name == topic }
    }

    /// The publish URL of `topic` (Python: `url(topic)`).
    public func url(for topic: String) -> String? { config(for: topic)?.url }
}
