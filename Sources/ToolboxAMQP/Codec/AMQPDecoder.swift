import Foundation
import ToolboxCore

/// Bounds on what a decoder accepts, so hostile input fails with `AMQPError(.limitExceeded)` instead of
/// exhausting memory or the stack.
public struct AMQPDecodingLimits: Sendable, Hashable {
    /// Deepest nesting of lists, maps, arrays and described values.
    public var maxDepth: Int
    /// Most elements one compound value may declare. Counts are also checked against the bytes present.
    public var maxElementCount: Int
    /// Most array elements that occupy no bytes (nulls, `true`, `uint0`) in one decode. Nothing else bounds
    /// them: each costs a whole `AMQPValue`, so at the old budget (`maxElementCount`, a million) a frame of about
    /// 20 bytes allocated tens of megabytes. The default allows a few kilobytes' worth of values.
    public var maxZeroWidthElements: Int

    public init(maxDepth: Int = 64, maxElementCount: Int = 1 << 20, maxZeroWidthElements: Int = 4096) {
        self.maxDepth = maxDepth
        self.maxElementCount = maxElementCount
        self.maxZeroWidthElements = maxZeroWidthElements
    }

    public static let `default` = AMQPDecodingLimits()
}

/// Decodes AMQP 1.0 bytes into `AMQPValue`s.
///
/// ```swift
/// var decoder = AMQPDecoder(bytes)
/// let value = try decoder.decodeValue()
/// ```
///
/// Every size and count read from the input is checked against the bytes actually present and against
/// `limits` before anything is allocated.
public struct AMQPDecoder {
    let bytes: [UInt8]
    /// Index of the next byte to read.
    public private(set) var position: Int
    let end: Int
    let limits: AMQPDecodingLimits
    private var depth = 0
    /// Array elements that occupy no bytes (null, true, uint0...), summed over the whole decode: the only
    /// elements the input's size does not bound, so they share one budget of `limits.maxZeroWidthElements`.
    private var zeroWidthElements = 0

    public init(_ bytes: [UInt8], range: Range<Int>? = nil, limits: AMQPDecodingLimits = .default) {
        self.bytes = bytes
        self.position = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
        self.limits = limits
    }

    /// Decodes exactly one value that must span all of `bytes`.
    public static func decode(_ bytes: [UInt8], limits: AMQPDecodingLimits = .default) throws -> AMQPValue {
        var decoder = AMQPDecoder(bytes, limits: limits)
        let value = try decoder.decodeValue()
        guard decoder.isAtEnd else {
            throw AMQPError(.decoding, "\(decoder.remaining) trailing bytes after value")
        }
        return value
    }

    public var isAtEnd: Bool { position >= end }
    public var remaining: Int { end - position }

    /// Decodes the next value.
    public mutating func decodeValue() throws -> AMQPValue {
        let code = try readByte()
        return try decodeValue(code: code)
    }

    mutating func decodeValue(code: UInt8) throws -> AMQPValue {
        switch code {
        case 0x00:
            try enter()
            defer { depth -= 1 }
            let descriptor = try decodeValue()
            if case .described = descriptor { throw AMQPError(.decoding, "descriptor may not be described") }
            let value = try decodeValue()
            return .described(descriptor: descriptor, value: value)
        case 0x40: return .null
        case 0x41: return .bool(true)
        case 0x42: return .bool(false)
        case 0x56:
            switch try readByte() {
            case 0: return .bool(false)
            case 1: return .bool(true)
            case let other: throw AMQPError(.decoding, "boolean byte \(other) is neither 0 nor 1")
            }
        case 0x50: return .ubyte(try readByte())
        case 0x60: return .ushort(try read16())
        case 0x70: return .uint(try read32())
        case 0x52: return .uint(UInt32(try readByte()))
        case 0x43: return .uint(0)
        case 0x80: return .ulong(try read64())
        case 0x53: return .ulong(UInt64(try readByte()))
        case 0x44: return .ulong(0)
        case 0x51: return .byte(Int8(bitPattern: try readByte()))
        case 0x61: return .short(Int16(bitPattern: try read16()))
        case 0x71: return .int(Int32(bitPattern: try read32()))
        case 0x54: return .int(Int32(Int8(bitPattern: try readByte())))
        case 0x81: return .long(Int64(bitPattern: try read64()))
        case 0x55: return .long(Int64(Int8(bitPattern: try readByte())))
        case 0x72: return .float(Float(bitPattern: try read32()))
        case 0x82: return .double(Double(bitPattern: try read64()))
        case 0x74: return .decimal32(try read32())
        case 0x84: return .decimal64(try read64())
        case 0x94: return .decimal128(AMQPDecimal128(high: try read64(), low: try read64()))
        case 0x73: return .char(try read32())
        case 0x83: return .timestamp(Int64(bitPattern: try read64()))
        case 0x98: return .uuid(try readUUID())
        case 0xa0: return .binary(try readBytes(count: Int(try readByte())))
        case 0xb0: return .binary(try readBytes(count: try readLength32()))
        case 0xa1: return .string(try readString(count: Int(try readByte())))
        case 0xb1: return .string(try readString(count: try readLength32()))
        case 0xa3: return .symbol(AMQPSymbol(try readString(count: Int(try readByte()))))
        case 0xb3: return .symbol(AMQPSymbol(try readString(count: try readLength32())))
        case 0x45: return .list([])
        case 0xc0, 0xd0: return .list(try readCompound(wide: code == 0xd0))
        case 0xc1, 0xd1:
            let items = try readCompound(wide: code == 0xd1)
            guard items.count % 2 == 0 else { throw AMQPError(.decoding, "map with an odd element count") }
            var entries: [AMQPMap.Entry] = []
            entries.reserveCapacity(items.count / 2)
            var index = 0
            while index < items.count {
                entries.append(AMQPMap.Entry(key: items[index], value: items[index + 1]))
                index += 2
            }
            return .map(AMQPMap(entries))
        case 0xe0, 0xf0: return .array(try readArray(wide: code == 0xf0))
        default:
            throw AMQPError(.decoding, "unknown format code 0x\(String(code, radix: 16))")
        }
    }

    // MARK: - Compounds

    private mutating func enter() throws {
        depth += 1
        if depth > limits.maxDepth {
            throw AMQPError(.limitExceeded, "nesting deeper than \(limits.maxDepth)")
        }
    }

    /// Reads size and count, checks them, and returns the end index of the compound's body.
    private mutating func readSizeAndCount(wide: Bool) throws -> (count: Int, bodyEnd: Int) {
        let size = wide ? try readLength32() : Int(try readByte())
        guard size <= remaining else {
            throw AMQPError(.decoding, "compound size \(size) exceeds the \(remaining) bytes present")
        }
        let bodyEnd = position + size
        let countWidth = wide ? 4 : 1
        guard size >= countWidth else { throw AMQPError(.decoding, "compound size \(size) too small for its count") }
        let count = wide ? Int(try read32()) : Int(try readByte())
        guard count <= limits.maxElementCount else {
            throw AMQPError(.limitExceeded, "compound declares \(count) elements, limit \(limits.maxElementCount)")
        }
        return (count, bodyEnd)
    }

    private mutating func readCompound(wide: Bool) throws -> [AMQPValue] {
        try enter()
        defer { depth -= 1 }
        let (count, bodyEnd) = try readSizeAndCount(wide: wide)
        // Every element takes at least one byte, which bounds the allocation by the input's size.
        guard count <= bodyEnd - position else {
            throw AMQPError(.decoding, "compound declares \(count) elements in \(bodyEnd - position) bytes")
        }
        var items: [AMQPValue] = []
        items.reserveCapacity(count)
        var inner = self
        inner.restrict(to: bodyEnd)
        for _ in 0..<count { items.append(try inner.decodeValue()) }
        guard inner.position == bodyEnd else {
            throw AMQPError(.decoding, "compound size does not match its \(count) elements")
        }
        position = bodyEnd
        zeroWidthElements = inner.zeroWidthElements
        return items
    }

    private mutating func readArray(wide: Bool) throws -> AMQPArray {
        try enter()
        defer { depth -= 1 }
        let (count, bodyEnd) = try readSizeAndCount(wide: wide)
        var inner = self
        inner.restrict(to: bodyEnd)
        var descriptor: AMQPValue?
        var code = try inner.readByte()
        if code == 0x00 {
            let d = try inner.decodeValue()
            if case .described = d { throw AMQPError(.decoding, "array descriptor may not be described") }
            descriptor = d
            code = try inner.readByte()
        }
        guard let elementType = Self.elementType(of: code) else {
            throw AMQPError(.decoding, "format code 0x\(String(code, radix: 16)) is not valid in an array")
        }
        let width = Self.minimumWidth(of: code)
        if width > 0, count > (bodyEnd - inner.position) / width {
            throw AMQPError(.decoding, "array declares \(count) elements in \(bodyEnd - inner.position) bytes")
        }
        if width == 0 {
            inner.zeroWidthElements += count
            guard inner.zeroWidthElements <= limits.maxZeroWidthElements else {
                throw AMQPError(.limitExceeded,
                                "more than \(limits.maxZeroWidthElements) empty array elements in one value")
            }
        }
        var elements: [AMQPValue] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try inner.decodeValue(code: code)) }
        guard inner.position == bodyEnd else { throw AMQPError(.decoding, "array size does not match its elements") }
        position = bodyEnd
        zeroWidthElements = inner.zeroWidthElements
        return AMQPArray(unchecked: elementType, descriptor: descriptor, elements: elements)
    }

    private mutating func restrict(to newEnd: Int) {
        self = AMQPDecoder(copying: self, end: newEnd)
    }

    private init(copying other: AMQPDecoder, end: Int) {
        bytes = other.bytes
        position = other.position
        self.end = end
        limits = other.limits
        depth = other.depth
        zeroWidthElements = other.zeroWidthElements
    }

    static func elementType(of code: UInt8) -> AMQPArray.ElementType? {
        switch code {
        case 0x40: return .null
        case 0x41, 0x42, 0x56: return .bool
        case 0x50: return .ubyte
        case 0x60: return .ushort
        case 0x70, 0x52, 0x43: return .uint
        case 0x80, 0x53, 0x44: return .ulong
        case 0x51: return .byte
        case 0x61: return .short
        case 0x71, 0x54: return .int
        case 0x81, 0x55: return .long
        case 0x72: return .float
        case 0x82: return .double
        case 0x74: return .decimal32
        case 0x84: return .decimal64
        case 0x94: return .decimal128
        case 0x73: return .char
        case 0x83: return .timestamp
        case 0x98: return .uuid
        case 0xa0, 0xb0: return .binary
        case 0xa1, 0xb1: return .string
        case 0xa3, 0xb3: return .symbol
        case 0x45, 0xc0, 0xd0: return .list
        case 0xc1, 0xd1: return .map
        case 0xe0, 0xf0: return .array
        default: return nil
        }
    }

    /// Smallest number of bytes one element with this constructor occupies (0 for the empty encodings).
    static func minimumWidth(of code: UInt8) -> Int {
        switch code {
        case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45: return 0
        default:
            let category = code >> 4
            switch category {
            case 0x5: return 1
            case 0x6: return 2
            case 0x7: return 4
            case 0x8: return 8
            case 0x9: return 16
            case 0xa, 0xc, 0xe: return 1
            default: return 4
            }
        }
    }

    /// Reads a `data` section when one comes next in its usual form (0x00 0x53 0x75, then vbin8 or vbin32) and
    /// returns its bytes, without building the described value `decodeValue` would; nil, with nothing consumed,
    /// when the next bytes are anything else (other forms of the descriptor take the generic path).
    package mutating func decodeDataSectionIfNext() throws -> [UInt8]? {
        guard remaining >= 4, bytes[position] == 0x00, bytes[position + 1] == 0x53, bytes[position + 2] == 0x75,
              bytes[position + 3] == 0xa0 || bytes[position + 3] == 0xb0 else { return nil }
        let wide = bytes[position + 3] == 0xb0
        position += 4
        return try readBytes(count: wide ? try readLength32() : Int(try readByte()))
    }

    // MARK: - Primitives

    mutating func readByte() throws -> UInt8 {
        guard position < end else { throw AMQPError(.decoding, "unexpected end of input") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func read16() throws -> UInt16 {
        guard remaining >= 2 else { throw AMQPError(.decoding, "unexpected end of input") }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    mutating func read32() throws -> UInt32 {
        guard remaining >= 4 else { throw AMQPError(.decoding, "unexpected end of input") }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[position + i]) }
        position += 4
        return value
    }

    mutating func read64() throws -> UInt64 {
        let high = try read32()
        return UInt64(high) << 32 | UInt64(try read32())
    }

    private mutating func readLength32() throws -> Int {
        let length = Int(try read32())
        guard length <= remaining else {
            throw AMQPError(.decoding, "length \(length) exceeds the \(remaining) bytes present")
        }
        return length
    }

    mutating func readBytes(count: Int) throws -> [UInt8] {
        guard count <= remaining else {
            throw AMQPError(.decoding, "length \(count) exceeds the \(remaining) bytes present")
        }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    private mutating func readString(count: Int) throws -> String {
        guard count <= remaining else {
            throw AMQPError(.decoding, "length \(count) exceeds the \(remaining) bytes present")
        }
        defer { position += count }
        guard let string = UTF8Text.decode(bytes[position..<(position + count)]) else {
            throw AMQPError(.decoding, "string or symbol is not valid UTF-8")
        }
        return string
    }

    private mutating func readUUID() throws -> UUID {
        let raw = try readBytes(count: 16)
        return UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                           raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
    }
}
