import Dispatch

/// What a transport reports to the connection that owns it.
public enum AMQPTransportEvent {
    /// The stream is established (TCP connected, TLS handshake done); the connection may write.
    case connected
    /// Bytes arrived, in order.
    case received([UInt8])
    /// The stream ended: nil for an orderly EOF, an error otherwise. No event follows.
    case closed((any Error)?)
}

/// The byte stream an `AMQPConnection` runs over: TCP, TLS, or an in-memory pipe in tests.
///
/// Contract: `start` is called once, on the connection's serial queue, and every event is delivered on that
/// same queue; `write` and `close` are only called on that queue. Writes are queued in order and never block.
/// This keeps codec, frame parser and state machines testable without sockets, and lets any byte stream
/// (ToolboxTransport's TCP/TLS clients, a listener's accepted socket for a broker) carry AMQP.
public protocol AMQPTransport: AnyObject {
    /// Begins connecting/reading; events go to `handler` on `queue`.
    func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void)
    /// Queues bytes for sending.
    func write(_ bytes: [UInt8])
    /// Closes the stream; a `.closed` event follows unless one was already delivered.
    func close()
    /// The serial queue the underlying stream already runs on, if any. A connection created over such a
    /// transport runs its state machine on that same queue, so socket events reach it, and its writes reach
    /// the socket, without a hop to another thread. nil (the default) lets the connection create its own.
    var preferredQueue: DispatchQueue? { get }
    /// Bytes the transport may add to a frame after the connection encoded it (a broker that rewrites
    /// performatives on the way out). Transfers are split so that even grown frames stay within the peer's
    /// max-frame-size. 0 (the default) for a transport that writes frames as they are.
    var frameGrowth: Int { get }
}

extension AMQPTransport {
    public var preferredQueue: DispatchQueue? { nil }
    public var frameGrowth: Int { 0 }
}
