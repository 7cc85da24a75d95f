import Foundation

/// An AMQP 1.0 symbol: an ASCII name from a constrained domain (`amqp:accepted:list`, `x-opt-partition-key`).
///
/// Symbols and strings are different types on the wire (0xa3/0xb3 versus 0xa1/0xb1); Azure and RabbitMQ
/// compare them by type, so the distinction is kept in the type system.
public struct AMQPSymbol: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The symbol's characters.
    public var rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { ":" + rawValue }
}

/// The raw 128 bits of an IEEE 754 decimal128, kept unconverted (Swift has no decimal128).
public struct AMQPDecimal128: Hashable, Sendable {
    /// The first eight bytes on the wire, big-endian.
    public var high: UInt64
    /// The last eight bytes on the wire, big-endian.
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}

/// A value of the AMQP 1.0 type system (OASIS AMQP 1.0, part 1).
///
/// ```swift
/// let value: AMQPValue = .map(["status-code": .int(202)])
/// let bytes = AMQPEncoder.encode(value)
/// let back = try AMQPDecoder.decode(bytes)
/// ```
///
/// Decoding then encoding gives back an equal value. Encoding always uses the smallest encoding of each
/// value; the decoder accepts every encoding the specification defines (for example `0x56 0x01` as well as
/// `0x41` for `true`). Decimal values are kept as their raw IEEE 754 bits.
public indirect enum AMQPValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case ubyte(UInt8)
    case ushort(UInt16)
    case uint(UInt32)
    case ulong(UInt64)
    case byte(Int8)
    case short(Int16)
    case int(Int32)
    case long(Int64)
    case float(Float)
    case double(Double)
    /// IEEE 754 decimal32, raw bits.
    case decimal32(UInt32)
    /// IEEE 754 decimal64, raw bits.
    case decimal64(UInt64)
    /// IEEE 754 decimal128, raw bits.
    case decimal128(AMQPDecimal128)
    /// A UTF-32 code point; kept as a number because hostile input may carry a non-scalar value.
    case char(UInt32)
    /// Milliseconds since the Unix epoch.
    case timestamp(Int64)
    case uuid(UUID)
    case binary([UInt8])
    case string(String)
    case symbol(AMQPSymbol)
    case list([AMQPValue])
    case map(AMQPMap)
    case array(AMQPArray)
    /// A described type: a descriptor (ulong code or symbol) and the value it describes.
    case described(descriptor: AMQPValue, value: AMQPValue)

    /// True for `.null`.
    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

extension AMQPValue: ExpressibleByStringLiteral, ExpressibleByNilLiteral, ExpressibleByBooleanLiteral {
    /// A string literal is an AMQP *string*; write `.symbol("x")` for symbols.
    public init(stringLiteral value: String) { self = .string(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension AMQPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return "\(v)"
        case .ubyte(let v): return "ubyte(\(v))"
        case .ushort(let v): return "ushort(\(v))"
        case .uint(let v): return "uint(\(v))"
        case .ulong(let v): return "ulong(\(v))"
        case .byte(let v): return "byte(\(v))"
        case .short(let v): return "short(\(v))"
        case .int(let v): return "int(\(v))"
        case .long(let v): return "long(\(v))"
        case .float(let v): return "float(\(v))"
        case .double(let v): return "double(\(v))"
        case .decimal32(let v): return "decimal32(0x\(String(v, radix: 16)))"
        case .decimal64(let v): return "decimal64(0x\(String(v, radix: 16)))"
        case .decimal128(let v): return "decimal128(0x\(String(v.high, radix: 16)),0x\(String(v.low, radix: 16)))"
        case .char(let v): return "char(\(v))"
        case .timestamp(let v): return "timestamp(\(v))"
        case .uuid(let v): return "uuid(\(v.uuidString.lowercased()))"
        case .binary(let v): return "binary(\(v.count) bytes)"
        case .string(let v): return "\"\(v)\""
        case .symbol(let v): return v.description
        case .list(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .map(let v): return v.description
        case .array(let v): return "array" + "[" + v.elements.map(\.description).joined(separator: ", ") + "]"
        case .described(let d, let v): return "@\(d)(\(v))"
        }
    }
}

/// An AMQP map: ordered key/value pairs (order is preserved on the wire and in equality).
public struct AMQPMap: Hashable, Sendable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One key/value pair.
    public struct Entry: Hashable, Sendable {
        public var key: AMQPValue
        public var value: AMQPValue
        public init(key: AMQPValue, value: AMQPValue) {
            self.key = key
            self.value = value
        }
    }

    /// The pairs in wire order.
    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(dictionaryLiteral elements: (AMQPValue, AMQPValue)...) {
        entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    /// The value for `key`, or nil. Setting nil removes the pair; setting a new key appends it.
    public subscript(key: AMQPValue) -> AMQPValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public var description: String {
        "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
    }
}

/// An AMQP array: elements that all share one type (and optionally one descriptor).
public struct AMQPArray: Hashable, Sendable {
    /// The primitive type every element has.
    public enum ElementType: Hashable, Sendable {
        case null, bool, ubyte, ushort, uint, ulong, byte, short, int, long, float, double
        case decimal32, decimal64, decimal128, char, timestamp, uuid, binary, string, symbol
        case list, map, array
    }

    /// The descriptor shared by every element, for arrays of described values.
    public let descriptor: AMQPValue?
    public let elementType: ElementType
    /// The elements, without their descriptor.
    public let elements: [AMQPValue]

    /// Creates an array, checking that every element has `elementType`.
    public init(elementType: ElementType, descriptor: AMQPValue? = nil, elements: [AMQPValue]) throws {
        for element in elements where ElementType.of(element) != elementType {
            throw AMQPError(.encoding, "array of \(elementType) cannot hold \(element)")
        }
        self.init(unchecked: elementType, descriptor: descriptor, elements: elements)
    }

    init(unchecked elementType: ElementType, descriptor: AMQPValue?, elements: [AMQPValue]) {
        self.elementType = elementType
        self.descriptor = descriptor
        self.elements = elements
    }

    /// An array of symbols, the common case (`sasl-server-mechanisms`, `offered-capabilities`, `outcomes`).
    public static func symbols(_ symbols: [AMQPSymbol]) -> AMQPArray {
        AMQPArray(unchecked: .symbol, descriptor: nil, elements: symbols.map { .symbol($0) })
    }
}

extension AMQPArray.ElementType {
    /// The element type of a value, or nil for a described value (which arrays hold via their descriptor).
    static func of(_ value: AMQPValue) -> AMQPArray.ElementType? {
        switch value {
        case .null: return .null
        case .bool: return .bool
        case .ubyte: return .ubyte
        case .ushort: return .ushort
        case .uint: return .uint
        case .ulong: return .ulong
        case .byte: return .byte
        case .short: return .short
        case .int: return .int
        case .long: return .long
        case .float: return .float
        case .double: return .double
        case .decimal32: return .decimal32
        case .decimal64: return .decimal64
        case .decimal128: return .decimal128
        case .char: return .char
        case .timestamp: return .timestamp
        case .uuid: return .uuid
        case .binary: return .binary
        case .string: return .string
        case .symbol: return .symbol
        case .list: return .list
        case .map: return .map
        case .array: return .array
        case .described: return nil
        }
    }
}
