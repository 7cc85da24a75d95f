import AzureEmulator

/// Ready Cosmos DB containers for tests.
///
/// ```swift
/// let emulator = try TestEmulator.startCosmos(containers: ["testdb/items": "/tenant"])
/// defer { emulator.stop() }
/// let cosmos = try Cosmos(connectionString: emulator.cosmosConnectionString, ...)
/// try emulator.splitCosmosPartitionKeyRange(database: "testdb", container: "items")   // 410/1002 mid-query
/// ```
///
/// Each container starts with two partition key ranges, so cross-partition code paths run.
extension TestEmulator {
    /// Starts an emulator whose Cosmos DB account holds `containers` (`"database/container"` → partition key
    /// path), over plain HTTP, and over HTTPS too when `https` is true (token credentials need it).
    public static func startCosmos(containers: [String: String] = ["testdb/items": "/pk"], https: Bool = false,
                                   faults: EmulatorFaults = EmulatorFaults(),
                                   configure: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> TestEmulator {
        try start(eventHubs: [:], queues: [], faults: faults) { configuration in
            configuration.httpPort = 0
            if https { configuration.httpsPort = 0 }
            configuration.cosmosContainers = containers.sorted { $0.key < $1.key }.map { name, path in
                let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
                return CosmosContainerDefinition(database: parts[0], container: parts.count > 1 ? parts[1] : "items",
                                                 partitionKeyPath: path)
            }
            configure(&configuration)
        }
    }

    /// The account endpoint (`https://…/` when HTTPS listens, else `http://…/`).
    public var cosmosEndpoint: String { emulator.cosmosEndpoint ?? "" }

    /// The master key.
    public var cosmosKey: String { emulator.cosmosKey }

    /// `AccountEndpoint=…;AccountKey=…;`
    public var cosmosConnectionString: String { emulator.cosmosConnectionString ?? "" }

    /// Splits partition key range `rangeID` (all when nil) of a container; returns the range ids afterwards.
    @discardableResult
    public func splitCosmosPartitionKeyRange(database: String, container: String, rangeID: String? = nil) throws -> [String] {
        try emulator.splitCosmosPartitionKeyRange(database: database, container: container, rangeID: rangeID)
    }
}
