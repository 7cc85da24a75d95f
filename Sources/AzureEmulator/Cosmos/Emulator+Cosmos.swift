/// In-process access to the emulated Cosmos DB account, for tests.
extension Emulator {
    var cosmosService: CosmosService? {
        frontDoor?.services.lazy.compactMap { $0 as? CosmosService }.first
    }

    /// Splits a container's partition key range `rangeID` (every range when nil) in two, as the service does when
    /// a partition grows: requests that name an old range id get 410 with substatus 1002, and the SDKs refresh
    /// their partition key ranges (the pkranges ETag changes). Returns the container's range ids afterwards.
    ///
    /// - throws: `ToolboxError` with `.invalidConfiguration` when the HTTP side is off or the container or range
    ///   does not exist.
    @discardableResult
    public func splitCosmosPartitionKeyRange(database: String, container: String, rangeID: String? = nil) throws -> [String] {
        guard let cosmos = cosmosService else {
            throw EmulatorError(.invalidConfiguration, "the emulator's HTTP side (Cosmos DB) is not running")
        }
        do {
            return try cosmos.store.splitPartitionKeyRange(database: database, container: container, rangeID: rangeID).map(\.id)
        } catch {
            throw EmulatorError(.invalidConfiguration, "cannot split \(database)/\(container): \(error)")
        }
    }

    /// The ids of a container's current partition key ranges, in key order.
    public func cosmosPartitionKeyRangeIDs(database: String, container: String) throws -> [String] {
        guard let cosmos = cosmosService else {
            throw EmulatorError(.invalidConfiguration, "the emulator's HTTP side (Cosmos DB) is not running")
        }
        do {
            return try cosmos.store.partitionKeyRanges(database: database, container: container).ranges.map(\.id)
        } catch {
            throw EmulatorError(.invalidConfiguration, "no Cosmos DB container \(database)/\(container): \(error)")
        }
    }
}
