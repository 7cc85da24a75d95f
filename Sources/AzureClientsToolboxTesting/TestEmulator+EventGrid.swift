import AzureEmulator

/// Event Grid topics of a test emulator: start it with `configure: { $0.eventGridTopics = ["orders"] }`.
///
/// ```swift
/// let emulator = try TestEmulator.start(configure: { $0.eventGridTopics = ["orders"] })
/// let config = EventGridConfig(EventGridTopicConfig(name: "orders", url: emulator.eventGridEndpoint("orders")!))
/// …publish…
/// XCTAssertEqual(emulator.eventGridEvents("orders").count, 1)
/// ```
extension TestEmulator {
    /// The topic's publish URL (HTTPS when the TLS listener runs, else plain HTTP).
    public func eventGridEndpoint(_ topic: String) -> String? { emulator.eventGridEndpoint(topic: topic) }

    /// The key every emulated topic accepts.
    public var eventGridKey: String { emulator.eventGridKey }

    /// What `topic` kept, oldest first, each event's JSON as it was published.
    public func eventGridEvents(_ topic: String, after sequence: Int = 0) -> [EmulatorEventGridEvent] {
        emulator.eventGridEvents(topic: topic, after: sequence)
    }
}
