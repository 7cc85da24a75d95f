/// What the emulated Event Grid topics kept, for tests in the same process (over HTTP:
/// `GET /_emulator/eventgrid/<topic>/events`).
extension Emulator {
    private var eventGridStore: EventGridStore? {
        frontDoor?.services.lazy.compactMap { $0 as? EventGridService }.first?.store
    }

    /// The events `topic` kept, oldest first (bounded by `EmulatorHTTPLimits.maxEventGridEventsPerTopic`), with a
    /// sequence above `after`; empty for a topic the emulator does not serve.
    public func eventGridEvents(topic: String, after: Int = 0) -> [EmulatorEventGridEvent] {
        eventGridStore?.events(topic: topic, after: after)?.events ?? []
    }

    /// Forgets what `topic` kept (sequence numbers keep counting).
    public func clearEventGridEvents(topic: String) {
        _ = eventGridStore?.clear(topic: topic)
    }
}
