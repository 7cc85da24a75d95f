extension AMQPSender {
    /// The receiver's `max-message-size` from its attach, or nil when it declared none (or 0, no limit).
    ///
    /// Read it after the attach completed (the attach completion happens after the peer's attach arrived,
    /// and the value never changes afterwards). Event Hubs and Service Bus batches are bounded by it.
    public var maxMessageSize: UInt64? {
        // Read through the lock-protected snapshot, so any thread may ask.
        guard let size = peerAttach?.maxMessageSize, size > 0 else { return nil }
        return size
    }
}
