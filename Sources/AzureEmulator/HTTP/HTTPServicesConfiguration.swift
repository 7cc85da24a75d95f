import ToolboxCore

/// A Cosmos DB container the emulator creates at start (its database too).
public struct CosmosContainerDefinition: Sendable, Hashable {
    public var database: String
    public var container: String
    /// The partition key path (one hash path, e.g. `/id`, `/tenant`).
    public var partitionKeyPath: String

    public init(database: String, container: String, partitionKeyPath: String = "/id") {
        self.database = database
        self.container = container
        self.partitionKeyPath = partitionKeyPath
    }
}

/// Bounds on what the HTTP side keeps and accepts; exceeding one gives the client the service's own error.
public struct EmulatorHTTPLimits: Sendable {
    /// Largest request body read (a Put Block, a Cosmos item, an Event Grid batch), in bytes.
    public var maxRequestBodyBytes = 256 << 20
    /// Largest Cosmos item (Azure: 2 MB).
    public var maxCosmosItemBytes = 2 << 20
    /// Bytes of Cosmos DB items kept in total (403 with substatus 1014 beyond it).
    public var maxCosmosStoreBytes = 1 << 30
    /// Largest blob (sum of its committed blocks).
    public var maxBlobBytes = 8 << 30
    /// Bytes kept by Blob Storage in total (committed and uncommitted blocks).
    public var maxBlobStoreBytes = 12 << 30
    /// Events kept per Event Grid topic for tests to read; the oldest are dropped beyond it.
    public var maxEventGridEventsPerTopic = 10_000
    /// Bytes of event JSON kept per Event Grid topic; the oldest are dropped beyond it (the newest event is always
    /// kept). Without it 10,000 events of up to 1 MB each could hold 10 GB per topic.
    public var maxEventGridBytesPerTopic = 64 << 20
    /// Largest Event Grid publish body (Azure: 1 MB).
    public var maxEventGridBodyBytes = 1 << 20

    public init() {}
}

/// Well-known credentials of the HTTP side: the values Microsoft's own emulators use where there is one
/// (Cosmos emulator key, Azurite's `devstoreaccount1`), fixed test values otherwise.
public enum EmulatorWellKnown {
    /// The Cosmos DB emulator's documented master key.
    public static let cosmosKey = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
    /// Azurite's account name and key.
    public static let blobAccountName = "devstoreaccount1"
    public static let blobAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    /// The key every emulated Event Grid topic accepts in `aeg-sas-key` and signs `aeg-sas-token`s with.
    public static let eventGridKey = "RU1VTEFUT1JfRVZFTlRHUklEX0tFWV9WQUxVRV8wMTIzNDU2Nzg5QUJDREVG"
    /// The emulated Entra tenant and its one confidential client.
    public static let tenantID = "72f988bf-0000-4000-8000-00000000e1a7"
    public static let clientID = "0b5e2a1c-0000-4000-8000-0000000c11e7"
    public static let clientSecret = "emulator-client-secret"
    /// The App Service managed-identity endpoint's secret (`IDENTITY_HEADER`).
    public static let identityHeader = "emulator-identity-header"
}
