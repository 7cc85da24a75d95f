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

    /// Sends after `delay` seconds (through schedule-message); returns the sequence numbers.
    @discardableResult
    public func send(_ messages: [ServiceBusMessage], delay: Double) async throws(ServiceBusError) -> [Int64] {
        try await awaitOperation { send(messages, delay: delay, completion: $0) }
    }

    public func cancelScheduled(_ sequenceNumbers: [Int64]) async throws(ServiceBusError) {
        try await awaitOperation { cancelScheduled(sequenceNumbers, queue: asyncDeliveryQueue, completion: $0) }
    }

    public func close() async {
        let _: Void? = try? await awaitUncancellable { done in close { done(.success(())) } }
    }
}

extension ManagedServiceBusSender {
    @discardableResult
    public func warmUp(connections: Int) async throws(ServiceBusError) -> Int {
        try await awaitUncancellable { warmUp(connections: connections, completion: $0) }
    }
}

/// `async` forms of the receiver's operations. Settlement has no cancellation handle: it runs to completion.
extension ServiceBusReceiver {
    public func receive(maxMessages: Int, timeout: Double) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitOperation { receive(maxMessages: maxMessages, timeout: timeout, completion: $0) }
    }

    public func complete(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitUncancellable { complete(message, completion: $0) }
    }

    public func abandon(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitUncancellable { abandon(message, completion: $0) }
    }

    public func deadLetter(_ message: ServiceBusReceivedMessage, reason: String? = nil, description: String? = nil)
        async throws(ServiceBusError)
    {
        try await awaitUncancellable { deadLetter(message, reason: reason, description: description, completion: $0) }
    }

    public func `defer`(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) {
        try await awaitUncancellable { self.defer(message, completion: $0) }
    }

    public func receiveDeferred(sequenceNumbers: [Int64]) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitUncancellable { receiveDeferred(sequenceNumbers: sequenceNumbers, completion: $0) }
    }

    @discardableResult
    public func renewLock(_ message: ServiceBusReceivedMessage) async throws(ServiceBusError) -> Date {
        try await awaitUncancellable { renewLock(message, completion: $0) }
    }

    public func peek(maxMessages: Int, fromSequenceNumber: Int64? = nil) async throws(ServiceBusError) -> [ServiceBusReceivedMessage] {
        try await awaitUncancellable { peek(maxMessages: maxMessages, fromSequenceNumber: fromSequenceNumber, completion: $0) }
    }

    public func close() async {
        let _: Void? = try? await awaitUncancellable { done in close { done(.success(())) } }
    }
}
