/// The fields a link's `source` and `target` share, first in both lists (0–5).
protocol AMQPTerminus {
    var address: String? { get set }
    var durable: UInt32? { get set }
    var expiryPolicy: AMQPSymbol? { get set }
    var timeout: UInt32? { get set }
    var dynamic: Bool? { get set }
    var dynamicNodeProperties: AMQPMap? { get set }
}

extension AMQPTerminus {
    /// Reads fields 0–5 of a source or target.
    mutating func readSharedFields(_ f: FieldReader) throws {
        address = try f.string(0, "address")
        durable = try f.uint(1, "durable")
        expiryPolicy = try f.symbol(2, "expiry-policy")
        timeout = try f.uint(3, "timeout")
        dynamic = try f.bool(4, "dynamic")
        dynamicNodeProperties = try f.map(5, "dynamic-node-properties")
    }

    /// Fields 0–5 of a source or target, for encoding.
    var sharedFields: [AMQPValue] {
        [
            .optional(address) { .string($0) }, .optional(durable) { .uint($0) },
            .optional(expiryPolicy) { .symbol($0) }, .optional(timeout) { .uint($0) },
            .optional(dynamic) { .bool($0) }, .optional(dynamicNodeProperties) { .map($0) },
        ]
    }
}

/// A link's `source` (0x28): where messages come from.
public struct AMQPSource: Hashable, Sendable, AMQPTerminus {
    public var address: String?
    public var durable: UInt32?
    public var expiryPolicy: AMQPSymbol?
    public var timeout: UInt32?
    public var dynamic: Bool?
    public var dynamicNodeProperties: AMQPMap?
    public var distributionMode: AMQPSymbol?
    /// Filters keyed by name; values are usually described values (Azure's selector filter).
    public var filter: AMQPMap?
    public var defaultOutcome: AMQPValue?
    public var outcomes: [AMQPSymbol]?
    public var capabilities: [AMQPSymbol]?

    public init(address: String?, filter: AMQPMap? = nil) {
        self.address = address
        self.filter = filter
    }

    init(_ value: AMQPValue) throws {
        let f = try FieldReader("source", described: value, code: 0x28)
        self.init(address: nil)
        try readSharedFields(f)
        distributionMode = try f.symbol(6, "distribution-mode")
        filter = try f.map(7, "filter")
        defaultOutcome = f[8].isNull ? nil : f[8]
        outcomes = try f.symbols(9, "outcomes")
        capabilities = try f.symbols(10, "capabilities")
    }

    var encoded: AMQPValue {
        describedList(0x28, sharedFields + [
            .optional(distributionMode) { .symbol($0) }, .optional(filter) { .map($0) },
            defaultOutcome ?? .null, .symbols(outcomes), .symbols(capabilities),
        ])
    }
}

/// A link's `target` (0x29): where messages go.
public struct AMQPTarget: Hashable, Sendable, AMQPTerminus {
    public var address: String?
    public var durable: UInt32?
    public var expiryPolicy: AMQPSymbol?
    public var timeout: UInt32?
    public var dynamic: Bool?
    public var dynamicNodeProperties: AMQPMap?
    public var capabilities: [AMQPSymbol]?

    public init(address: String?) { self.address = address }

    init(_ value: AMQPValue) throws {
        let f = try FieldReader("target", described: value, code: 0x29)
        self.init(address: nil)
        try readSharedFields(f)
        capabilities = try f.symbols(6, "capabilities")
    }

    var encoded: AMQPValue {
        describedList(0x29, sharedFields + [.symbols(capabilities)])
    }
}

/// The state of a delivery: the outcomes (accepted, rejected, released, modified) and `received`.
public enum AMQPDeliveryState: Hashable, Sendable {
    case received(sectionNumber: UInt32, sectionOffset: UInt64)
    case accepted
    case rejected(AMQPRemoteError?)
    case released
    case modified(deliveryFailed: Bool?, undeliverableHere: Bool?, messageAnnotations: AMQPMap?)
    /// A state this library does not model (for example transactional-state), kept as received.
    case other(AMQPValue)

    /// True for the terminal outcomes.
    public var isOutcome: Bool {
        switch self {
        case .accepted, .rejected, .released, .modified: return true
        case .received, .other: return false
        }
    }

    init(_ value: AMQPValue) throws {
        let (code, inner) = try value.describedParts(
            orThrow: AMQPError(.decoding, "expected a delivery state, got \(value)"))
        switch code {
        case 0x23:
            let f = try FieldReader("received", inner)
            self = .received(
                sectionNumber: try f.required(f.uint(0, "section-number"), 0, "section-number"),
                sectionOffset: try f.required(f.ulong(1, "section-offset"), 1, "section-offset"))
        case 0x24: self = .accepted
        case 0x25: self = .rejected(try FieldReader("rejected", inner).error(0, "error"))
        case 0x26: self = .released
        case 0x27:
            let f = try FieldReader("modified", inner)
            self = .modified(
                deliveryFailed: try f.bool(0, "delivery-failed"),
                undeliverableHere: try f.bool(1, "undeliverable-here"),
                messageAnnotations: try f.map(2, "message-annotations"))
        default: self = .other(value)
        }
    }

    var encoded: AMQPValue {
        switch self {
        case .received(let number, let offset): return describedList(0x23, [.uint(number), .ulong(offset)])
        case .accepted: return describedList(0x24, [])
        case .rejected(let error): return describedList(0x25, [error?.encoded ?? .null])
        case .released: return describedList(0x26, [])
        case .modified(let failed, let here, let annotations):
            return describedList(0x27, [
                .optional(failed) { .bool($0) }, .optional(here) { .bool($0) }, .optional(annotations) { .map($0) },
            ])
        case .other(let value): return value
        }
    }
}
