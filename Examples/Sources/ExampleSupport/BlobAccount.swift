import AzureEmulator
import Foundation

/// A Blob Storage connection string for the examples: `BLOB_CONNECTION_STRING` (and `BLOB_CONTAINER`, default
/// `examples`) from the environment, or an in-process emulator with container `examples` on plain HTTP.
public struct BlobAccount: Sendable {
    public let connectionString: String
    public let container: String
    private let emulator: Emulator?

    public static func start() throws -> BlobAccount {
        let environment = ProcessInfo.processInfo.environment
        let container = environment["BLOB_CONTAINER"] ?? "examples"
        if let connectionString = environment["BLOB_CONNECTION_STRING"] {
            return BlobAccount(connectionString: connectionString, container: container, emulator: nil)
        }
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = []
        configuration.queues = []
        configuration.blobContainers = [container]
        let emulator = try Emulator.start(configuration)
        let endpoint = "\(emulator.plainHTTPBaseURL ?? "")/\(configuration.blobAccountName)"
        let connectionString = "DefaultEndpointsProtocol=http;AccountName=\(configuration.blobAccountName);"
            + "AccountKey=\(configuration.blobAccountKey.exposedValue);BlobEndpoint=\(endpoint);"
        return BlobAccount(connectionString: connectionString, container: container, emulator: emulator)
    }

    public func stop() { emulator?.stop() }
}
