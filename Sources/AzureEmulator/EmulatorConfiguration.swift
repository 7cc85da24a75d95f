import Logging
import ToolboxCore

/// An Event Hub the emulator creates at start.
public struct EventHubDefinition: Sendable, Hashable {
    public var name: String
    public var partitionCount: Int
    /// Consumer groups besides `$Default` (which always exists).
    public var consumerGroups: [String]

    public init(name: String, partitionCount: Int = 2, consumerGroups: [String] = []) {
        self.name = name
        self.partitionCount = partitionCount
        self.consumerGroups = consumerGroups
    }
}

/// A Service Bus topic the emulator creates at start, with its subscriptions.
public struct TopicDefinition: Sendable, Hashable {
    public var name: String
    public var subscriptions: [String]

    public init(name: String, subscriptions: [String]) {
        self.name = name
        self.subscriptions = subscriptions
    }
}

/// Faults the emulator injects, for tests and the demo. All off by default.
public struct EmulatorFaults: Sendable {
    /// Delay before the emulator answers a new connection's protocol header (Azure takes 0.7–0.9 s).
    public var connectionSetupDelay: Duration = .zero
    /// Close each connection abruptly after it received this many frames (nil: never).
    public var dropAfterFrames: Int?
    /// Probability (0...1) of closing a connection abruptly on each frame received.
    public var dropProbability: Double = 0
    /// Answer every `$cbs` put-token with 401, as Azure does for a revoked key.
    public var refuseAuthentication = false
    /// Probability (0...1) that a message sent to an entity is rejected with `com.microsoft:server-busy`.
    public var serverBusyRate: Double = 0
    /// Probability (0...1) that an HTTP request is throttled (Cosmos 429 with `x-ms-retry-after-ms`, Blob 503
    /// `ServerBusy`, Event Grid 429).
    public var httpThrottleRate: Double = 0
    /// Probability (0...1) that an HTTP request's connection is reset instead of answered.
    public var httpDropProbability: Double = 0

    public init(connectionSetupDelay: Duration = .zero, dropAfterFrames: Int? = nil, dropProbability: Double = 0,
                refuseAuthentication: Bool = false, serverBusyRate: Double = 0) {
        self.connectionSetupDelay = connectionSetupDelay
        self.dropAfterFrames = dropAfterFrames
        self.dropProbability = dropProbability
        self.refuseAuthentication = refuseAuthentication
        self.serverBusyRate = serverBusyRate
    }
}

/// Bounds on what the emulator keeps in memory; exceeding one gives the client a clear AMQP error.
public struct EmulatorLimits: Sendable {
    /// Entities (hubs plus queues) created in total, including those created on first use.
    public var maxEntities = 1_000
    /// Events kept per partition; the oldest are dropped beyond it (Event Hubs retention).
    public var maxEventsPerPartition = 100_000
    /// Messages (active, locked, deferred, scheduled) per queue; sends beyond it get `amqp:resource-limit-exceeded`.
    public var maxMessagesPerQueue = 100_000
    /// Largest message or batch a client may send, announced as `max-message-size` (Azure: 1 MiB on standard tiers).
    public var maxMessageSize: UInt64 = 1_048_576
    /// Largest AMQP frame the emulator accepts.
    public var maxFrameSize: UInt32 = 65_536
    /// Partitions per hub.
    public var maxPartitions = 32
    /// Bytes of messages per queue (counted as encoded); sends beyond it get `amqp:resource-limit-exceeded`.
    public var maxBytesPerQueue = 256 << 20
    /// Bytes of events kept per partition; the oldest are dropped beyond it, as with `maxEventsPerPartition`.
    public var maxBytesPerPartition = 256 << 20
    /// Connections open at once; a client past it gets its connection closed with `amqp:resource-limit-exceeded`.
    public var maxConnections = 1_024

    public init() {}
}

/// Everything `Emulator.start` needs.
///
/// ```swift
/// var configuration = EmulatorConfiguration()
/// configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 4)]
/// configuration.queues = ["q1"]
/// let emulator = try Emulator.start(configuration)
/// ```
public struct EmulatorConfiguration: Sendable {
    /// The numeric address to listen on.
    public var host = "127.0.0.1"
    /// Plain AMQP port; 0 picks a free one.
    public var amqpPort: UInt16 = 0
    /// AMQPS port (TLS, then the normal SASL header); nil means no TLS listener, 0 picks a free one.
    public var amqpsPort: UInt16?
    /// Port of the AMQP-over-WebSocket listener (`ws://host:port/$servicebus/websocket`, subprotocol `AMQPWSB10`,
    /// the same broker); nil means none, 0 picks a free one.
    public var amqpWebSocketPort: UInt16?
    /// Port of the AMQP-over-secure-WebSocket listener (`wss://`, the AMQPS certificate); nil means none.
    public var amqpsWebSocketPort: UInt16?
    /// PEM certificate chain and key for AMQPS; when nil a self-signed certificate for 127.0.0.1 and localhost
    /// is generated at start (with the `openssl` command) and its CA file reported as `Emulator.caFile`.
    public var tlsCertificateFile: String?
    public var tlsPrivateKeyFile: String?
    /// Event hubs created at start (others are created on first use unless `strictEntities`).
    public var eventHubs: [EventHubDefinition] = []
    /// Service Bus queues created at start.
    public var queues: [String] = []
    /// Service Bus topics and their subscriptions (`<topic>/Subscriptions/<name>` receive what the topic gets).
    public var topics: [TopicDefinition] = []
    /// Partitions of hubs created on first use.
    public var defaultPartitionCount = 2
    /// Refuse links to entities that were not configured (`amqp:not-found`) instead of creating them.
    public var strictEntities = false
    /// The namespace's shared access key name and key (Microsoft's emulators use these well-known values).
    public var keyName = "RootManageSharedAccessKey"
    public var key = Secret("SAS_KEY_VALUE")
    /// Idle time-out announced in our open: a client silent for longer is disconnected (Azure: 120 s). At least
    /// 1 s is announced; pyamqp needs the field present.
    public var idleTimeout: Duration = .seconds(120)
    /// Service Bus peek-lock duration.
    public var lockDuration: Duration = .seconds(30)
    /// Deliveries after which a Service Bus message moves to the dead-letter queue.
    public var maxDeliveryCount: UInt32 = 10
    /// Plain HTTP port of the HTTP side (Cosmos DB, Blob Storage, Event Grid, Entra ID); nil: no plain listener,
    /// 0: a free port.
    public var httpPort: UInt16? = 0
    /// HTTPS port of the HTTP side (certificate as for AMQPS); nil: no TLS listener, 0: a free port.
    public var httpsPort: UInt16?
    /// Cosmos DB containers created at start.
    public var cosmosContainers: [CosmosContainerDefinition] = []
    /// The Cosmos DB account's master key.
    public var cosmosKey = Secret(EmulatorWellKnown.cosmosKey)
    /// The Blob Storage account (path-style URLs: `/<account>/<container>/<blob>`).
    public var blobAccountName = EmulatorWellKnown.blobAccountName
    public var blobAccountKey = Secret(EmulatorWellKnown.blobAccountKey)
    /// Blob containers created at start.
    public var blobContainers: [String] = []
    /// Event Grid topics served, each at its own endpoint.
    public var eventGridTopics: [String] = []
    /// The key every Event Grid topic accepts.
    public var eventGridKey = Secret(EmulatorWellKnown.eventGridKey)
    /// The Entra ID tenant and confidential client the token endpoint accepts.
    public var tenantID = EmulatorWellKnown.tenantID
    public var clientID = EmulatorWellKnown.clientID
    public var clientSecret = Secret(EmulatorWellKnown.clientSecret)
    /// PEM certificates (files) registered for `clientID`: a client assertion (`ClientCertificateCredential`)
    /// must be RS256-signed by one of their keys. Empty: certificate authentication is refused.
    public var clientCertificateFiles: [String] = []
    /// The App Service managed-identity secret (`IDENTITY_HEADER`) `/msi/token` requires in `X-IDENTITY-HEADER`.
    public var identityHeader = Secret(EmulatorWellKnown.identityHeader)
    /// Seconds the Entra and managed-identity endpoints' tokens live (Azure: about an hour).
    public var entraTokenLifetime = 3599
    /// Bounds of the HTTP side.
    public var httpLimits = EmulatorHTTPLimits()
    /// Faults to inject (all off by default).
    public var faults = EmulatorFaults()
    /// Memory and size bounds.
    public var limits = EmulatorLimits()
    /// Where the emulator logs (entities created, refused tokens, injected faults); never keys or tokens.
    public var logger = Logger(label: "AzureEmulator")

    public init() {}
}
