import AzureEmulator
import Foundation

/// A Cosmos DB account for the examples: `COSMOS_CONNECTION_STRING` (+ `COSMOS_CA_FILE`), or the in-process
/// emulator with container `examples/orders` partitioned on `/tenant`.
public struct CosmosAccount: Sendable {
    public let connectionString: String
    public let caFile: String?
    private let emulator: Emulator?

    public static func start() throws -> CosmosAccount {
        let environment = ProcessInfo.processInfo.environment
        if let connectionString = environment["COSMOS_CONNECTION_STRING"] {
            return CosmosAccount(connectionString: connectionString, caFile: environment["COSMOS_CA_FILE"], emulator: nil)
        }
        var configuration = EmulatorConfiguration()
        configuration.cosmosContainers = [
            CosmosContainerDefinition(database: "examples", container: "orders", partitionKeyPath: "/tenant"),
        ]
        let emulator = try Emulator.start(configuration)
        guard let connectionString = emulator.cosmosConnectionString else {
            emulator.stop()
            throw CocoaError(.featureUnsupported)
        }
        return CosmosAccount(connectionString: connectionString, caFile: nil, emulator: emulator)
    }

    public func stop() { emulator?.stop() }
}
