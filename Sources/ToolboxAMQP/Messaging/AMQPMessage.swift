import Foundation

/// The `header` section (0x70): transport headers of a message.
public struct AMQPHeader: Hashable, Sendable {
    public var durable: Bool?
    public var priority: UInt8?
    /// Milliseconds.
    public var ttl: UInt32?
    public var firstAcquirer: Bool?
    public var deliveryCount: UInt32?

    public init(durable: Bool? = nil, priority: UInt8? = nil, ttl: UInt32? = nil, firstAcquirer: Bool? = nil,
                deliveryCount: UInt32? = nil) {
        self.durable = durable
        self.priority = priority
        self.ttl = ttl
        self.firstAcquirer = firstAcquirer
        self.deliveryCount = deliveryCount
    }
}

/// The `properties` section (0x73): the immutable, standard properties of a message.
public struct AMQPProperties: Hashable, Sendable {
    /// message-id: ulong, uuid, binary or string (Azure SDKs send strings for events, uuids for requests).
    public var messageID: AMQPValue?
    public var userID: [UInt8]?
    public var to: String?
    public var subject: String?
    public var replyTo: String?
    public var correlationID: AMQPValue?
    public var contentType: AMQPSymbol?
    public var contentEncoding: AMQPSymbol?
    /// Milliseconds since the epoch.
    public var absoluteExpiryTime: Int64?
    public var creationTime: Int64?
    public var groupID: String?
    public var groupSequence: UInt32?
    public var replyToGroupID: String?

    public init(messageID: AMQPValue? = nil, to: String? = nil, subject: String? = nil, replyTo: String? = nil,
                correlationID: AMQPValue? = nil, contentType: AMQPSymbol? = nil) {
        self.messageID = messageID
        self.to = to
        self.subject = subject
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.contentType = contentType
    }
}

/// An AMQP message: the sections of the specification's bare and annotated message.
///
/// ```swift
/// var message = AMQPMessage(data: Array("hello".utf8))
/// message.properties = AMQPProperties(messageID: .string("m1"))
/// message.applicationProperties = ["operation": "put-token"]
/// ```
public struct AMQPMessage: Hashable, Sendable {
    /// The body: one of the three forms the specification allows.
    public enum Body: Hashable, Sendable {
        case none
        /// One or more `data` sections.
        case data([[UInt8]])
        /// One or more `amqp-sequence` sections.
        case sequence([[AMQPValue]])
        /// One `amqp-value` section.
        case value(AMQPValue)
    }

    public var header: AMQPHeader?
    public var deliveryAnnotations: AMQPMap?
    public var messageAnnotations: AMQPMap?
    public var properties: AMQPProperties?
    /// String keys, simple values (the specification forbids compound values here).
    public var applicationProperties: AMQPMap?
    public var body: Body
    public var footer: AMQPMap?

    public init(body: Body = .none) { self.body = body }

    /// A message whose body is one `data` section.
    public init(data: [UInt8]) { self.body = .data([data]) }

    /// A message whose body is one `amqp-value` section.
    public init(value: AMQPValue) { self.body = .value(value) }

    /// The bytes of all `data` sections concatenated, or nil if the body is not `data`.
    public var dataBody: [UInt8]? {
        guard case .data(let sections) = body else { return nil }
        if sections.count == 1 { return sections[0] }
        // Appending each array whole: `Array(sections.joined())` copied byte by byte through a generic iterator.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(sections.reduce(0) { $0 + $1.count })
        for section in sections { bytes.append(contentsOf: section) }
        return bytes
    }

    /// Encodes the sections in the specification's order.
    public func encode() -> [UInt8] {
        // Room for the data sections and their section headers. (Reserving through `dataBody` flattened every
        // section of an event batch into a throw-away array: 12 % of a batch sender's samples.)
        var bodyBytes = 0
        if case .data(let sections) = body { bodyBytes = sections.reduce(0) { $0 + $1.count + 8 } }
        var encoder = AMQPEncoder(reservingCapacity: 128 + bodyBytes)
        encode(into: &encoder)
        return encoder.bytes
    }

    /// Appends the sections, in the specification's order, to what `encoder` holds (an event batch writes each
    /// event straight into the batch's buffer).
    package func encode(into encoder: inout AMQPEncoder) {
        if let header {
            encoder.encode(describedList(0x70, [
                .optional(header.durable) { .bool($0) }, .optional(header.priority) { .ubyte($0) },
                .optional(header.ttl) { .uint($0) }, .optional(header.firstAcquirer) { .bool($0) },
                .optional(header.deliveryCount) { .uint($0) },
            ]))
        }
        if let deliveryAnnotations { encoder.encode(.described(descriptor: .ulong(0x71), value: .map(deliveryAnnotations))) }
        if let messageAnnotations { encoder.encode(.described(descriptor: .ulong(0x72), value: .map(messageAnnotations))) }
        if let p = properties {
            encoder.encode(describedList(0x73, [
                p.messageID ?? .null, .optional(p.userID) { .binary($0) }, .optional(p.to) { .string($0) },
                .optional(p.subject) { .string($0) }, .optional(p.replyTo) { .string($0) }, p.correlationID ?? .null,
                .optional(p.contentType) { .symbol($0) }, .optional(p.contentEncoding) { .symbol($0) },
                .optional(p.absoluteExpiryTime) { .timestamp($0) }, .optional(p.creationTime) { .timestamp($0) },
                .optional(p.groupID) { .string($0) }, .optional(p.groupSequence) { .uint($0) },
                .optional(p.replyToGroupID) { .string($0) },
            ]))
        }
        if let applicationProperties {
            encoder.encode(.described(descriptor: .ulong(0x74), value: .map(applicationProperties)))
        }
        switch body {
        case .none: break
        case .data(let sections):
            for section in sections { encoder.encodeDataSection(section) }
        case .sequence(let sections):
            for section in sections { encoder.encode(.described(descriptor: .ulong(0x76), value: .list(section))) }
        case .value(let value): encoder.encode(.described(descriptor: .ulong(0x77), value: value))
        }
        if let footer { encoder.encode(.described(descriptor: .ulong(0x78), value: .map(footer))) }
    }

    /// Decodes a message from the concatenated payload of its transfer frames.
    ///
    /// Sections are accepted in any order (pyamqp writes delivery-annotations after the body); a repeated
    /// non-body section or mixed body kinds are errors.
    public static func decode(_ bytes: [UInt8], limits: AMQPDecodingLimits = .default) throws -> AMQPMessage {
        var message = AMQPMessage()
        var decoder = AMQPDecoder(bytes, limits: limits)
        var data: [[UInt8]] = []
        var sequences: [[AMQPValue]] = []
        var value: AMQPValue?
        var seen = Set<UInt64>()
        while !decoder.isAtEnd {
            if let section = try decoder.decodeDataSectionIfNext() {
                data.append(section)
                continue
            }
            let section = try decoder.decodeValue()
            let (code, inner) = try section.describedParts(
                orThrow: AMQPError(.decoding, "message section is not a described value: \(section)"))
            if code != 0x75 && code != 0x76 {
                guard seen.insert(code).inserted else {
                    throw AMQPError(.decoding, "message section 0x\(String(code, radix: 16)) appears twice")
                }
            }
            switch code {
            case 0x70:
                let f = try FieldReader("header", inner)
                message.header = AMQPHeader(
                    durable: try f.bool(0, "durable"), priority: try f.ubyte(1, "priority"), ttl: try f.uint(2, "ttl"),
                    firstAcquirer: try f.bool(3, "first-acquirer"), deliveryCount: try f.uint(4, "delivery-count"))
            case 0x71: message.deliveryAnnotations = try mapSection(inner, "delivery-annotations")
            case 0x72: message.messageAnnotations = try mapSection(inner, "message-annotations")
            case 0x73:
                let f = try FieldReader("properties", inner)
                var p = AMQPProperties()
                p.messageID = f[0].isNull ? nil : f[0]
                p.userID = try f.binary(1, "user-id")
                p.to = try f.string(2, "to")
                p.subject = try f.string(3, "subject")
                p.replyTo = try f.string(4, "reply-to")
                p.correlationID = f[5].isNull ? nil : f[5]
                p.contentType = try f.symbol(6, "content-type")
                p.contentEncoding = try f.symbol(7, "content-encoding")
                p.absoluteExpiryTime = try f.timestamp(8, "absolute-expiry-time")
                p.creationTime = try f.timestamp(9, "creation-time")
                p.groupID = try f.string(10, "group-id")
                p.groupSequence = try f.uint(11, "group-sequence")
                p.replyToGroupID = try f.string(12, "reply-to-group-id")
                message.properties = p
            case 0x74: message.applicationProperties = try mapSection(inner, "application-properties")
            case 0x75:
                guard case .binary(let b) = inner else { throw AMQPError(.decoding, "data section must be binary") }
                data.append(b)
            case 0x76:
                guard case .list(let l) = inner else { throw AMQPError(.decoding, "amqp-sequence must be a list") }
                sequences.append(l)
            case 0x77: value = inner
            case 0x78: message.footer = try mapSection(inner, "footer")
            default:
                throw AMQPError(.decoding, "unknown message section 0x\(String(code, radix: 16))")
            }
        }
        let kinds = (data.isEmpty ? 0 : 1) + (sequences.isEmpty ? 0 : 1) + (value == nil ? 0 : 1)
        guard kinds <= 1 else { throw AMQPError(.decoding, "message mixes body section kinds") }
        if !data.isEmpty { message.body = .data(data) }
        if !sequences.isEmpty { message.body = .sequence(sequences) }
        if let value { message.body = .value(value) }
        return message
    }

    private static func mapSection(_ value: AMQPValue, _ name: String) throws -> AMQPMap {
        switch value {
        case .map(let m): return m
        case .null: return AMQPMap()
        default: throw AMQPError(.decoding, "\(name) section must be a map")
        }
    }
}
