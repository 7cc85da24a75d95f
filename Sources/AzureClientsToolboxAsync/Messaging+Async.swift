import AzureMessagingCore

/// The `async` form of closing, shared by every messaging client role (`MessagingClosing`).
extension MessagingClosing {
    /// Closes the client's connections; returns once everything is closed.
    public func close() async {
        let _: Void? = try? await awaitUncancellable { done in close(queue: asyncDeliveryQueue) { done(.success(())) } }
    }
}

/// The `async` form of warming up a managed messaging client's pool.
extension ManagedMessagingClient {
    /// Opens `connections` ready connections ahead of need; returns how many are ready.
    @discardableResult
    public func warmUp(connections: Int) async throws(AzureMessagingError) -> Int {
        try await awaitUncancellable { warmUp(connections: connections, queue: asyncDeliveryQueue, completion: $0) }
    }
}
