import AzureMessagingCore
import Foundation
import ToolboxAMQP

/// The error Event Hubs operations deliver (see `AzureMessagingError`).
public typealias EventHubsError = AzureMessagingError

/// An event to send: a body plus the optional fields Event Hubs carries with it.
///
/// ```swift
/// var event = EventData(body: "hello")
/// event.contentType = "text/plain"
/// event.properties = ["color": "red", "n": .int(7)]
/// ```
public struct EventData: Sendable, Hashable {
    /// The payload, sent as one AMQP `data` section.
    public var body: [UInt8]
    /// `properties.content-type` (a symbol on the wire).
    public var contentType: String?
    /// `properties.message-id`, sent as a string.
    public var messageID: String?
    /// `properties.correlation-id`, sent as a string.
    public var correlationID: String?
    /// Application properties: string keys, simple AMQP values.
    public var properties: [String: AMQPValue]

    public init(body: [UInt8], contentType: String? = nil, messageID: String? = nil, correlationID: String? = nil,
                properties: [String: AMQPValue] = [:]) {
        self.body = body
        self.contentType = contentType
        self.messageID = messageID
        self.correlationID = correlationID
        self.properties = properties
    }

    /// An event whose body is `text` in UTF-8 (as the SDKs send `str` bodies).
    public init(body text: String, contentType: String? = nil, messageID: String? = nil, correlationID: String? = nil,
                properties: [String: AMQPValue] = [:]) {
        self.init(body: Array(text.utf8), contentType: contentType, messageID: messageID, correlationID: correlationID,
                  properties: properties)
    }

    /// The body as UTF-8 text, when it is valid UTF-8.
    public var bodyAsString: String? { String(validating: body, as: UTF8.self) }

    /// Appends the event as one AMQP message (the bytes of `amqpMessage(partitionKey:)`): an event with nothing
    /// but a body, the common case in a batch, is written as its one `data` section without building a message.
    func encode(into encoder: inout AMQPEncoder, partitionKey: String?) {
        guard partitionKey == nil, messageID == nil, contentType == nil, correlationID == nil, properties.isEmpty else {
            return amqpMessage(partitionKey: partitionKey).encode(into: &encoder)
        }
        encoder.encodeDataSection(body)
    }

    /// The AMQP message of one event inside a batch; with a partition key it repeats the key (eventhubs.md).
    func amqpMessage(partitionKey: String?) -> AMQPMessage {
        var message = AMQPMessage(data: body)
        if let partitionKey {
            message.header = AMQPHeader(durable: true)
            message.messageAnnotations = [.symbol("x-opt-partition-key"): .string(partitionKey)]
        }
        if messageID != nil || contentType != nil || correlationID != nil {
            message.properties = AMQPProperties(messageID: messageID.map { .string($0) },
                                                correlationID: correlationID.map { .string($0) },
                                                contentType: contentType.map { AMQPSymbol($0) })
        }
        if !properties.isEmpty {
            message.applicationProperties = AMQPMap(properties.sorted { $0.key < $1.key }.map {
                AMQPMap.Entry(key: .string($0.key), value: $0.value)
            })
        }
        return message
    }
}

/// An event read from a partition: the sent fields plus what Event Hubs stamped on it.
public struct ReceivedEventData: Sendable, Hashable {
    public var event: EventData
    /// `x-opt-sequence-number`.
    public var sequenceNumber: Int64
    /// `x-opt-offset`.
    public var offset: String
    /// `x-opt-enqueued-time`.
    public var enqueuedTime: Date?
    /// `x-opt-partition-key`, when the event was sent with one.
    public var partitionKey: String?

    /// The body as bytes.
    public var body: [UInt8] { event.body }

    /// A received event made by hand, for a stub of `EventHubPartitionReceiving` in your tests.
    ///
    /// - Parameters:
    ///   - event: the fields as sent.
    ///   - sequenceNumber: the partition's sequence number.
    ///   - offset: the partition's offset.
    ///   - enqueuedTime: when the service accepted it.
    ///   - partitionKey: the key it was sent with, if any.
    public init(event: EventData, sequenceNumber: Int64, offset: String, enqueuedTime: Date? = nil,
                partitionKey: String? = nil) {
        self.event = event
        self.sequenceNumber = sequenceNumber
        self.offset = offset
        self.enqueuedTime = enqueuedTime
        self.partitionKey = partitionKey
    }

    init(message: AMQPMessage) {
        var event = EventData(body: message.dataBody ?? [])
        if case .value(.string(let text)) = message.body { event.body = Array(text.utf8) }
        event.contentType = message.properties?.contentType?.rawValue
        event.messageID = message.properties?.messageID.flatMap(\.messageIdentifierText)
        event.correlationID = message.properties?.correlationID.flatMap(\.messageIdentifierText)
        for entry in message.applicationProperties?.entries ?? [] {
            if case .string(let key) = entry.key { event.properties[key] = entry.value }
        }
        self.event = event
        let annotations = message.messageAnnotations
        switch annotations?[.symbol("x-opt-sequence-number")] {
        case .long(let value)?: sequenceNumber = value
        case .int(let value)?: sequenceNumber = Int64(value)
        default: sequenceNumber = -1
        }
        switch annotations?[.symbol("x-opt-offset")] {
        case .string(let value)?: offset = value
        case .long(let value)?: offset = String(value)
        default: offset = "-1"
        }
        if case .timestamp(let ms)? = annotations?[.symbol("x-opt-enqueued-time")] {
            enqueuedTime = Date(timeIntervalSince1970: Double(ms) / 1000)
        }
        if case .string(let key)? = annotations?[.symbol("x-opt-partition-key")] { partitionKey = key }
    }

}

/// Where `send` routes events: a partition key (hashed by the service, sticky) or a partition id.
public struct SendEventOptions: Sendable, Hashable {
    public var partitionKey: String?
    public var partitionID: String?

    public init(partitionKey: String? = nil, partitionID: String? = nil) {
        self.partitionKey = partitionKey
        self.partitionID = partitionID
    }

    func validate() throws(EventHubsError) {
        if partitionKey != nil && partitionID != nil {
            throw EventHubsError(.invalidArgument, "give either a partition key or a partition id, not both")
        }
    }
}

/// `$management` READ of the hub.
public struct EventHubProperties: Sendable, Hashable {
    public var name: String
    public var createdAt: Date?
    public var partitionIDs: [String]

    /// Properties as the service reports them; public so tests can stub `EventHubProducing`.
    public init(name: String, createdAt: Date?, partitionIDs: [String]) {
        self.name = name
        self.createdAt = createdAt
        self.partitionIDs = partitionIDs
    }
}

/// `$management` READ of one partition.
public struct PartitionProperties: Sendable, Hashable {
    public var eventHubName: String
    public var id: String
    public var beginningSequenceNumber: Int64
    public var lastEnqueuedSequenceNumber: Int64
    public var lastEnqueuedOffset: String
    public var lastEnqueuedTime: Date?
    public var isEmpty: Bool

    /// Properties as the service reports them; public so tests can stub `EventHubProducing`.
    public init(eventHubName: String, id: String, beginningSequenceNumber: Int64, lastEnqueuedSequenceNumber: Int64,
                lastEnqueuedOffset: String, lastEnqueuedTime: Date?, isEmpty: Bool) {
        self.eventHubName = eventHubName
        self.id = id
        self.beginningSequenceNumber = beginningSequenceNumber
        self.lastEnqueuedSequenceNumber = lastEnqueuedSequenceNumber
        self.lastEnqueuedOffset = lastEnqueuedOffset
        self.lastEnqueuedTime = lastEnqueuedTime
        self.isEmpty = isEmpty
    }
}
