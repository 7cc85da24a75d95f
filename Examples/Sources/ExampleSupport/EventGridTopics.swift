import AzureEmulator
import Foundation

/// Event Grid topics for the examples: `EVENTGRID_ENDPOINT` + `EVENTGRID_KEY` from the environment (one real
/// topic, used for both names), or an in-process emulator serving topics `orders` and `audit` over HTTPS.
public struct EventGridTopics: Sendable {
    /// Topic name → publish URL.
    public let endpoints: [String: String]
    public let key: String
    /// The CA to trust (the emulator's), nil for a real topic.
    public let caFile: String?
    private let emulator: Emulator?

    public static func start() throws -> EventGridTopics {
        let environment = ProcessInfo.processInfo.environment
        if let endpoint = environment["EVENTGRID_ENDPOINT"], let key = environment["EVENTGRID_KEY"] {
            return EventGridTopics(endpoints: ["orders": endpoint, "audit": endpoint], key: key, caFile: nil,
                                   emulator: nil)
        }
        var configuration = EmulatorConfiguration()
        configuration.eventGridTopics = ["orders", "audit"]
        configuration.httpsPort = 0
        let emulator = try Emulator.start(configuration)
        return EventGridTopics(endpoints: emulator.eventGridEndpoints, key: emulator.eventGridKey,
                               caFile: emulator.caFile, emulator: emulator)
    }

    /// How many events a topic kept (emulator only; nil for a real topic).
    public func keptCount(_ topic: String) -> Int? { emulator?.eventGridEvents(topic: topic).count }

    public func stop() { emulator?.stop() }
}
