import AzureEmulator
import Foundation

/// Connection strings for the examples: from the environment, or an in-process emulator with hub `eh1` and
/// queue `q1`.
public struct Namespaces: Sendable {
    public let eventHubs: String
    public let serviceBus: String
    private let emulator: Emulator?

    public static func start() throws -> Namespaces {
        let environment = ProcessInfo.processInfo.environment
        if let eventHubs = environment["EVENTHUBS_CONNECTION_STRING"],
           let serviceBus = environment["SERVICEBUS_CONNECTION_STRING"] {
            return Namespaces(eventHubs: eventHubs, serviceBus: serviceBus, emulator: nil)
        }
        var configuration = EmulatorConfiguration()
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 2)]
        configuration.queues = ["q1"]
        let emulator = try Emulator.start(configuration)
        return Namespaces(eventHubs: emulator.eventHubsConnectionString(eventHub: "eh1"),
                          serviceBus: emulator.connectionString(entityPath: "q1"), emulator: emulator)
    }

    public func stop() { emulator?.stop() }
}
