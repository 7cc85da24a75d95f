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
    /// How many events the batch holds.
    public private(set) var count = 0
    /// The batch message as it would be sent now: the envelope, then one `data` section per event, each event
    /// encoded straight into it (no array per event, no second copy when sending).
    private var payload: [UInt8]

    /// An empty batch; clients make them with `createBatch`, which knows the link's limit. Public so tests
    /// can stub `EventHubProducing.createBatch`.
    public init(maxSizeInBytes: Int, options: SendEventOptions = SendEventOptions()) {
        self.maxSizeInBytes = maxSizeInBytes
        self.options = options
        payload = Self.envelope(partitionKey: options.partitionKey).encode()
        sizeInBytes = payload.count
    }

    /// Adds `event` if the batch stays within `maxSizeInBytes`; returns false (and leaves the batch as it was)
    /// when it would not.
    public mutating func tryAdd(_ event: EventData) -> Bool {
        let start = payload.count
        // The section's descriptor and a vbin32 header whose length is filled in once the event is written.
        payload.append(0x00)
        payload.append(0x53)
        payload.append(0x75)
        payload.append(0xb0)
        for _ in 0..<4 { payload.append(0) }
        let partitionKey = options.partitionKey
        AMQPEncoder.appending(to: &payload) { event.encode(into: &$0, partitionKey: partitionKey) }
        let length = payload.count - start - 8
        let added = Self.dataSectionSize(length)
        guard sizeInBytes + added <= maxSizeInBytes, let length32 = UInt32(exactly: length) else {
            payload.removeSubrange(start...)
            return false
        }
        if length <= 255 {
            // The smallest encoding, as the size counts it: vbin8, the event moved back over the spare bytes.
            payload[start + 3] = 0xa0
            payload[start + 4] = UInt8(length)
            payload.removeSubrange((start + 5)..<(start + 8))
        } else {
            for index in 0..<4 { payload[start + 4 + index] = UInt8(truncatingIfNeeded: length32 >> (24 - 8 * index)) }
        }
        sizeInBytes += added
        count += 1
        return true
    }

    /// The batch message's bytes.
    func encode() -> [UInt8] { payload }

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
