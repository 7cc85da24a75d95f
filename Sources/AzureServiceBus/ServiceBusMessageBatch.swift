import AzureMessagingCore
import Foundation
import ToolboxAMQP
import ToolboxCore

/// Messages sent together in one transfer (message-format 0x80013700), bounded by the link's max-message-size.
///
/// ```swift
/// var batch = try sender.createBatch()
/// for message in messages where !batch.tryAdd(message) { break }
/// try sender.send(batch)
/// ```
///
/// `sizeInBytes` is the exact encoded size: the outer `properties` (carrying the first message's id, as
/// azure-servicebus does) plus one `data` section per message.
public struct ServiceBusMessageBatch: Sendable {
    /// The largest batch the link accepts (1 MiB when the service declared none).
    public let maxSizeInBytes: Int
    public private(set) var sizeInBytes: Int
    private(set) var encoded: [[UInt8]] = []
    private var firstMessageID: String?

    /// An empty batch; senders make them with `createBatch`, which knows the link's limit. Public so tests
    /// can stub `ServiceBusSending.createBatch`.
    public init(maxSizeInBytes: Int) {
        self.maxSizeInBytes = maxSizeInBytes
        sizeInBytes = AMQPMessage().encode().count
    }

    public var count: Int { encoded.count }

    /// Adds `message` if the batch stays within `maxSizeInBytes`; returns false (batch unchanged) otherwise.
    /// A message without an id gets a UUID string now, so retries resend the same id.
    public mutating func tryAdd(_ message: ServiceBusMessage) -> Bool {
        let id = message.messageID ?? RandomUUID.string()
        let bytes = message.amqpMessage(messageID: id).encode()
        let firstID = firstMessageID ?? id
        let envelope = Self.envelope(firstMessageID: firstID).encode().count
        let dataSize = encoded.reduce(0) { $0 + Self.dataSectionSize($1.count) } + Self.dataSectionSize(bytes.count)
        guard envelope + dataSize <= maxSizeInBytes else { return false }
        encoded.append(bytes)
        firstMessageID = firstID
        sizeInBytes = envelope + dataSize
        return true
    }

    func encode() -> [UInt8] {
        var message = Self.envelope(firstMessageID: firstMessageID)
        message.body = .data(encoded)
        return message.encode()
    }

    static func envelope(firstMessageID: String?) -> AMQPMessage {
        var message = AMQPMessage()
        if let firstMessageID { message.properties = AMQPProperties(messageID: .string(firstMessageID)) }
        return message
    }

    static func dataSectionSize(_ length: Int) -> Int { 3 + (length <= 255 ? 2 : 5) + length }
}
