import AzureEventHubs

/// `async` forms of the Event Hubs producer role's operations; Task cancellation cancels the operation.
extension EventHubProducing {
    /// Sends one event.
    public func send(_ event: EventData, options: SendEventOptions = SendEventOptions()) async throws(EventHubsError) {
        try await awaitOperation { send([event], options: options, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Sends `events` in one batch.
    public func send(_ events: [EventData], options: SendEventOptions = SendEventOptions()) async throws(EventHubsError) {
        try await awaitOperation { send(events, options: options, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Sends a prepared batch.
    public func send(_ batch: EventDataBatch) async throws(EventHubsError) {
        try await awaitOperation { send(batch, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// An empty batch sized by the link's max-message-size.
    public func createBatch(options: SendEventOptions = SendEventOptions()) async throws(EventHubsError) -> EventDataBatch {
        try await awaitOperation { createBatch(options: options, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func eventHubProperties() async throws(EventHubsError) -> EventHubProperties {
        try await awaitOperation { eventHubProperties(queue: asyncDeliveryQueue, completion: $0) }
    }

    public func partitionIDs() async throws(EventHubsError) -> [String] {
        try await awaitOperation { partitionIDs(queue: asyncDeliveryQueue, completion: $0) }
    }

    public func partitionProperties(partitionID: String) async throws(EventHubsError) -> PartitionProperties {
        try await awaitOperation {
            partitionProperties(partitionID: partitionID, queue: asyncDeliveryQueue, completion: $0)
        }
    }
}

/// `async` forms of the Event Hubs partition-receiver role's operations; Task cancellation cancels the receive.
extension EventHubPartitionReceiving {
    /// Up to `maxEvents` events, or what arrived within `timeout`.
    public func receive(maxEvents: Int, timeout: Duration) async throws(EventHubsError) -> [ReceivedEventData] {
        try await awaitOperation { receive(maxEvents: maxEvents, timeout: timeout, queue: asyncDeliveryQueue, completion: $0) }
    }
}
