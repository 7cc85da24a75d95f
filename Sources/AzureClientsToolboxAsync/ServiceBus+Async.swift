import AzureServiceBus
import Foundation

/// `async` forms of the Service Bus sender role's operations; Task cancellation cancels the operation.
extension ServiceBusSending {
    public func send(_ message: ServiceBusMessage) async throws(ServiceBusError) {
        try await awaitOperation { send(message, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func send(_ messages: [ServiceBusMessage]) async throws(ServiceBusError) {
        try await awaitOperation { send(messages, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func createBatch() async throws(ServiceBusError) -> ServiceBusMessageBatch {
        try await awaitOperation { createBatch(queue: asyncDeliveryQueue, completion: $0) }
    }

    public func send(_ batch: ServiceBusMessageBatch) async throws(ServiceBusError) {
        try await awaitOperation { send(batch, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Schedules `messages` for `time`; returns their sequence numbers.
    public func schedule(_ messages: [ServiceBusMessage], at time: Date) async throws(ServiceBusError) -> [Int64] {
        try await awaitOperation { schedule(messages, at: time, queue: asyncDeliveryQueue, completion: $0) }
    }

    /// Sends after `delay` (through schedule-message); returns the sequence numbers.
    @discardableResult
    public func send(_ messages: [ServiceBusMessage], delay: Duration) async throws(ServiceBusError) -> [Int64] {
        try await awaitOperation { send(messages, delay: delay, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func cancelScheduled(_ sequenceNumbers: [Int64]) async throws(ServiceBusError) {
        try await awaitOperation { cancelScheduled(sequenceNumbers, queue: asyncDeliveryQueue, completion: $0) }
    }
}

/// `async` forms of the Service Bus receiver role's operations; Task cancellation cancels the operation (a
/// settlement already sent may still take effect, as with the completion form's handle).
extension ServiceBusReceiving {
    /// Up to `maxMessages` messages: what arrived within 200 ms of the first, which is waited for up to `timeout`.
    public func receive(maxMessages: Int, timeout: Duration) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitOperation { receive(maxMessages: maxMessages, timeout: timeout, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func complete(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitOperation { complete(message, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func abandon(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitOperation { abandon(message, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func deadLetter(_ message: ServiceBusReceivedMessage, reason: String? = nil, description: String? = nil)
        async throws(ServiceBusError)
    {
        try await awaitOperation {
            deadLetter(message, reason: reason, description: description, queue: asyncDeliveryQueue, completion: $0)
        }
    }

    public func `defer`(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitOperation { self.defer(message, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func receiveDeferred(sequenceNumbers: [Int64]) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitOperation { receiveDeferred(sequenceNumbers: sequenceNumbers, queue: asyncDeliveryQueue, completion: $0) }
    }

    @discardableResult
    public func renewLock(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) -> Date {
        try await awaitOperation { renewLock(message, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func peek(maxMessages: Int, fromSequenceNumber: Int64? = nil) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitOperation {
            peek(maxMessages: maxMessages, fromSequenceNumber: fromSequenceNumber, queue: asyncDeliveryQueue, completion: $0)
        }
    }
}
