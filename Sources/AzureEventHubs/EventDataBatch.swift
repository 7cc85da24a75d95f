import AzureMessagingCore
import ToolboxAMQP

/// Events sent together in one transfer (message-format 0x80013700), bounded by the link's max-message-size.
///
/// ```swift
/// var batch = try producer.createBatch(options: SendEventOptions(partitionKey: "customer-42"))
/// for event in events where !batch.tryAdd(event) { break }
/// try producer.send(batch)
/// ```
///
/// The size is the exact encoded size of the batch message: the outer header and partition-key annotation
/// (when a key is set) plus one `data` section per event, each holding the event's encoded AMQP message.
public struct EventDataBatch: Sendable {
    /// The largest batch the link accepts (its `max-message-size`; 1 MiB when the service declared none).
    public let maxSizeInBytes: Int
    public let options: SendEventOptions
    /// The encoded size of the batch as it would be sent now.
    public private(set) var sizeInBytes: Int
    private(set) var encodedEvents: [[UInt8]] = []

    /// An empty batch; clients make them with `createBatch`, which knows the link's limit. Public so tests
    /// can stub `EventHubProducing.createBatch`.
    public init(maxSizeInBytes: Int, options: SendEventOptions = SendEventOptions()) {
        self.maxSizeInBytes = maxSizeInBytes
        self.options = options
        sizeInBytes = Self.envelope(partitionKey: options.partitionKey).encode().count
    }

    /// How many events the batch holds.
    public var count: Int { encodedEvents.count }

    /// Adds `event` if the batch stays within `maxSizeInBytes`; returns false (and leaves the batch as it was)
    /// when it would not.
    public mutating func tryAdd(_ event: EventData) -> Bool {
        let encoded = event.amqpMessage(partitionKey: options.partitionKey).encode()
        let added = Self.dataSectionSize(encoded.count)
        guard sizeInBytes + added <= maxSizeInBytes else { return false }
        encodedEvents.append(encoded)
        sizeInBytes += added
        return true
    }

    /// The batch message's bytes.
    func encode() -> [UInt8] {
        var message = Self.envelope(partitionKey: options.partitionKey)
        message.body = .data(encodedEvents)
        return message.encode()
    }

    /// The outer message without events: only a key brings a header and an annotation.
    static func envelope(partitionKey: String?) -> AMQPMessage {
        var message = AMQPMessage()
        if let partitionKey {
            message.header = AMQPHeader(durable: true)
            message.messageAnnotations = [.symbol("x-opt-partition-key"): .string(partitionKey)]
        }
        return message
    }

    /// A `data` section: descriptor (0x00 0x53 0x75), then vbin8 or vbin32.
    static func dataSectionSize(_ length: Int) -> Int { 3 + (length <= 255 ? 2 : 5) + length }

    /// The message-format of Event Hubs batches.
    static let messageFormat: UInt32 = 0x8001_3700
}
