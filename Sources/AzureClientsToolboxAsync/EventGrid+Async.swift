import AzureEventGrid
import ToolboxCore

// Async forms of EventGridPublishing: bridging only; Task cancellation cancels the publish.
extension EventGridPublishing {
    /// Publishes EventGridEvents to `topic`.
    public func send(_ events: [EventGridEvent], toTopic topic: String,
                     timeout: Duration = EventGridTimeouts.publish) async throws(ToolboxError) {
        try await awaitOperation { send(events, toTopic: topic, timeout: timeout, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Publishes CloudEvents to `topic`.
    public func send(_ events: [CloudEvent], toTopic topic: String,
                     timeout: Duration = EventGridTimeouts.publish) async throws(ToolboxError) {
        try await awaitOperation { send(events, toTopic: topic, timeout: timeout, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// The Python toolbox's `async_emit_event`.
    public func emitEvent(topic: String, eventType: String, subject: String, data: EventGridData,
                          dataVersion: String = "v1", timeout: Duration = EventGridTimeouts.publish) async throws(ToolboxError) {
        try await awaitOperation {
            emitEvent(topic: topic, eventType: eventType, subject: subject, data: data, dataVersion: dataVersion,
                      timeout: timeout, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    /// Closes the client; never throws.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            close(queue: asyncDeliveryQueue) { continuation.resume() }
        }
    }
}

extension ManagedEventGridClient {
    /// Opens the pool's connections to every topic host now; returns how many are ready.
    @discardableResult
    public func warmUp(connectionsPerTopic: Int? = nil) async throws(ToolboxError) -> Int {
        try await awaitUncancellable { warmUp(connectionsPerTopic: connectionsPerTopic, queue: asyncDeliveryQueue, completion: $0) }
    }
}
