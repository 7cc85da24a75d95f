import Dispatch
import ToolboxCore

/// An ordered, reliable byte stream driven on one serial queue: a `TCPConnection` (plain or TLS), or a
/// `WebSocketConnection` carrying the bytes in binary frames over one. Protocol engines (AMQP, the emulator's
/// broker) run over either without knowing which.
///
/// The members mean what they mean on `TCPConnection`: reads deliver what is available (an empty array is the
/// end of the stream), writes complete once handed to the layer below, `writeNow` is for code already running
/// on `queue`, and `close` runs its completion once the stream is released.
public protocol ByteStream: AnyObject, Sendable {
    /// The serial queue the stream's state lives on.
    var queue: DispatchQueue { get }
    /// The peer, as `host:port`, for messages.
    var peerDescription: String { get }
    func read(maxBytes: Int, deadline: Deadline, queue: DispatchQueue,
              completion: @escaping @Sendable (Result<[UInt8], TransportError>) -> Void)
    func write(_ bytes: [UInt8], deadline: Deadline, queue: DispatchQueue,
               completion: @escaping @Sendable (Result<Void, TransportError>) -> Void)
    func writeNow(_ bytes: [UInt8], deadline: Deadline, completion: @escaping (TransportError?) -> Void)
    func close(mode: TCPConnection.CloseMode, queue: DispatchQueue, completion: @escaping @Sendable () -> Void)
}

extension TCPConnection: ByteStream {}
