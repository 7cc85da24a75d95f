import AzureMessagingCore
import Foundation
import ToolboxCore
import ToolboxAMQP

/// The error Service Bus operations deliver (see `AzureMessagingError`).
public typealias ServiceBusError = AzureMessagingError

/// A message to send to a queue, with the fields Service Bus carries (servicebus.md).
///
/// ```swift
/// var message = ServiceBusMessage(body: "hello sb")
/// message.messageID = "mid-1"
/// message.timeToLive = .seconds(300)
/// message.applicationProperties = ["k": "v"]
/// ```
public struct ServiceBusMessage: Sendable, Hashable {
    public var body: [UInt8]
    /// `properties.message-id` (a string); a UUID is generated when nil, as the SDKs do.
    public var messageID: String?
    public var contentType: String?
    public var correlationID: String?
    /// `properties.subject` (the SDKs' `subject`, formerly `label`).
    public var subject: String?
    /// `x-opt-partition-key`.
    public var partitionKey: String?
    /// `properties.group-id`.
    public var sessionID: String?
    public var replyTo: String?
    public var to: String?
    /// Sent as `header.ttl` in milliseconds (clamped to what the field holds, about 49 days), with creation and
    /// absolute-expiry times.
    public var timeToLive: Duration?
    public var applicationProperties: [String: AMQPValue]
    /// `x-opt-scheduled-enqueue-time`: the message becomes visible at this time.
    public var scheduledEnqueueTime: Date?

    public init(body: [UInt8], messageID: String? = nil, applicationProperties: [String: AMQPValue] = [:]) {
        self.body = body
        self.messageID = messageID
        self.applicationProperties = applicationProperties
    }

    public init(body text: String, messageID: String? = nil, applicationProperties: [String: AMQPValue] = [:]) {
        self.init(body: Array(text.utf8), messageID: messageID, applicationProperties: applicationProperties)
    }

    /// The body as UTF-8 text, when it is valid UTF-8.
    public var bodyAsString: String? { String(validating: body, as: UTF8.self) }

    /// The longest message id, session id and partition key Service Bus takes (azure-servicebus's
    /// `MESSAGE_PROPERTY_MAX_LENGTH`; the service refuses longer ones).
    public static let maxPropertyLength = 128

    /// Why the service would refuse this message's properties, as azure-servicebus refuses them before sending:
    /// an id, session id or partition key over 128 characters, or a partition key other than the session id.
    var propertyProblem: String? {
        for (name, value) in [("message id", messageID), ("session id", sessionID), ("partition key", partitionKey)] {
            // Code points, as azure-servicebus's len() counts (Swift's `count` is user-perceived characters).
            if let value, value.unicodeScalars.count > Self.maxPropertyLength {
                return "the \(name) has \(value.unicodeScalars.count) characters; Service Bus takes at most "
                    + "\(Self.maxPropertyLength)"
            }
        }
        // Byte for byte, as the service compares them (Swift's `!=` would call canonically equivalent ones equal).
        if let sessionID, let partitionKey, !partitionKey.utf8.elementsEqual(sessionID.utf8) {
            return "the partition key '\(partitionKey)' differs from the session id '\(sessionID)'; a session's messages "
                + "go to the session's partition"
        }
        return nil
    }

    /// The AMQP message as azure-servicebus sends it.
    func amqpMessage(messageID id: String, now: Date = Date()) -> AMQPMessage {
        var message = AMQPMessage(data: body)
        if let timeToLive {
            message.header = AMQPHeader(ttl: UInt32(clamping: Int64(clampingMilliseconds: timeToLive.toolboxSeconds)))
        }
        var annotations = AMQPMap()
        if let partitionKey { annotations.entries.append(.init(key: .symbol("x-opt-partition-key"), value: .string(partitionKey))) }
        if let scheduledEnqueueTime {
            annotations.entries.append(.init(key: .symbol("x-opt-scheduled-enqueue-time"),
                                             value: .timestamp(Self.milliseconds(scheduledEnqueueTime))))
        }
        if !annotations.isEmpty { message.messageAnnotations = annotations }
        var properties = AMQPProperties(messageID: .string(id), to: to, subject: subject, replyTo: replyTo,
                                        correlationID: correlationID.map { .string($0) },
                                        contentType: contentType.map { AMQPSymbol($0) })
        properties.groupID = sessionID
        if let timeToLive {
            let created = Self.milliseconds(now)
            properties.creationTime = created
            properties.absoluteExpiryTime = created.saturatingAdd(Int64(clampingMilliseconds: timeToLive.toolboxSeconds))
        }
        message.properties = properties
        if !applicationProperties.isEmpty {
            message.applicationProperties = AMQPMap(applicationProperties.sorted { $0.key < $1.key }.map {
                AMQPMap.Entry(key: .string($0.key), value: $0.value)
            })
        }
        return message
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64(clampingMilliseconds: date.timeIntervalSince1970) }
}

/// A message received from a queue: the sent fields plus what Service Bus stamped on it.
public struct ServiceBusReceivedMessage: Sendable {
    public var message: ServiceBusMessage
    public var sequenceNumber: Int64
    public var enqueuedTime: Date?
    /// Until when this receiver holds the peek-lock (nil in receive-and-delete mode).
    public var lockedUntil: Date?
    /// The peek-lock token (the delivery tag read as a .NET GUID); nil in receive-and-delete mode and for peeks.
    public var lockToken: UUID?
    /// How many times the message was delivered before (header delivery-count).
    public var deliveryCount: UInt32
    public var deadLetterReason: String?
    public var deadLetterErrorDescription: String?
    public var deadLetterSource: String?
    /// The delivery on the receive link, for settlement (nil for peeked and deferred-by-sequence messages).
    let delivery: AMQPDelivery?
    /// The receiver connection it came on (settlement must use the same link).
    let connectionID: Int?

    public var body: [UInt8] { message.body }

    init(amqp: AMQPMessage, delivery: AMQPDelivery?, lockToken: UUID?, connectionID: Int?) {
        var message = ServiceBusMessage(body: amqp.dataBody ?? [])
        if case .value(.string(let text)) = amqp.body { message.body = Array(text.utf8) }
        let p = amqp.properties
        message.messageID = p?.messageID.flatMap(\.messageIdentifierText)
        message.correlationID = p?.correlationID.flatMap(\.messageIdentifierText)
        message.contentType = p?.contentType?.rawValue
        message.subject = p?.subject
        message.replyTo = p?.replyTo
        message.to = p?.to
        message.sessionID = p?.groupID
        if let ttl = amqp.header?.ttl { message.timeToLive = .milliseconds(Int64(ttl)) }
        for entry in amqp.applicationProperties?.entries ?? [] {
            if case .string(let key) = entry.key { message.applicationProperties[key] = entry.value }
        }
        // The broker's annotations, read in one pass over the map (a lookup per name scanned it six times); as a
        // lookup would, the first entry of a name counts.
        var partitionKey, scheduled, sequence, enqueued, locked, deadLetterSource: AMQPValue?
        for entry in amqp.messageAnnotations?.entries ?? [] {
            guard case .symbol(let name) = entry.key else { continue }
            switch name.rawValue {
            case "x-opt-partition-key": partitionKey = partitionKey ?? entry.value
            case "x-opt-scheduled-enqueue-time": scheduled = scheduled ?? entry.value
            case "x-opt-sequence-number": sequence = sequence ?? entry.value
            case "x-opt-enqueued-time": enqueued = enqueued ?? entry.value
            case "x-opt-locked-until": locked = locked ?? entry.value
            case "x-opt-deadletter-source": deadLetterSource = deadLetterSource ?? entry.value
            default: break
            }
        }
        if case .string(let key)? = partitionKey { message.partitionKey = key }
        message.scheduledEnqueueTime = Self.date(scheduled)
        self.message = message
        switch sequence {
        case .long(let v)?: sequenceNumber = v
        case .int(let v)?: sequenceNumber = Int64(v)
        default: sequenceNumber = -1
        }
        enqueuedTime = Self.date(enqueued)
        lockedUntil = Self.date(locked)
        if case .string(let source)? = deadLetterSource { self.deadLetterSource = source }
        if case .string(let reason)? = amqp.applicationProperties?[.string("DeadLetterReason")] { deadLetterReason = reason }
        if case .string(let text)? = amqp.applicationProperties?[.string("DeadLetterErrorDescription")] {
            deadLetterErrorDescription = text
        }
        deliveryCount = amqp.header?.deliveryCount ?? 0
        self.lockToken = lockToken
        self.delivery = delivery
        self.connectionID = connectionID
    }


    static func date(_ value: AMQPValue?) -> Date? {
        guard case .timestamp(let ms)? = value else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// Lock token from a 16-byte delivery tag in .NET GUID byte order (first three groups little-endian).
    static func lockToken(fromDeliveryTag tag: [UInt8]) -> UUID? {
        guard tag.count == 16 else { return nil }
        let b = [tag[3], tag[2], tag[1], tag[0], tag[5], tag[4], tag[7], tag[6]] + tag[8...]
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
