import Foundation

/// Encodes `AMQPValue`s into AMQP 1.0 bytes, always choosing the smallest encoding of each value.
///
/// ```swift
/// var encoder = AMQPEncoder()
/// encoder.encode(.uint(0))          // 0x43
/// encoder.encode(.symbol("PLAIN"))  // 0xa3 0x05 "PLAIN"
/// ```
public struct AMQPEncoder: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Encodes one value and returns its bytes.
    public static func encode(_ value: AMQPValue) -> [UInt8] {
        var encoder = AMQPEncoder()
        encoder.encode(value)
        return encoder.bytes
    }

    /// Runs `body` with an encoder that appends to `bytes` in place (no copy: the buffer moves into the encoder
    /// and back).
    package static func appending<T>(to bytes: inout [UInt8], _ body: (inout AMQPEncoder) throws -> T) rethrows -> T {
        var encoder = AMQPEncoder(reservingCapacity: 0)
        swap(&encoder.bytes, &bytes)
        defer { swap(&encoder.bytes, &bytes) }
        return try body(&encoder)
    }

    /// Appends raw bytes (already-encoded sections, frame payloads).
    public mutating func append(raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// Appends the smallest encoding of `value`.
    public mutating func encode(_ value: AMQPValue) {
        switch value {
        case .null: bytes.append(0x40)
        case .bool(let v): bytes.append(v ? 0x41 : 0x42)
        case .ubyte(let v): bytes.append(0x50); bytes.append(v)
        case .ushort(let v): bytes.append(0x60); put(v)
        case .uint(let v):
            if v == 0 { bytes.append(0x43) } else if v <= 0xff { bytes.append(0x52); bytes.append(UInt8(v)) } else {
                bytes.append(0x70); put(v)
            }
        case .ulong(let v):
            if v == 0 { bytes.append(0x44) } else if v <= 0xff { bytes.append(0x53); bytes.append(UInt8(v)) } else {
                bytes.append(0x80); put(v)
            }
        case .byte(let v): bytes.append(0x51); bytes.append(UInt8(bitPattern: v))
        case .short(let v): bytes.append(0x61); put(UInt16(bitPattern: v))
        case .int(let v):
            if (-128...127).contains(v) { bytes.append(0x54); bytes.append(UInt8(bitPattern: Int8(v))) } else {
                bytes.append(0x71); put(UInt32(bitPattern: v))
            }
        case .long(let v):
            if (-128...127).contains(v) { bytes.append(0x55); bytes.append(UInt8(bitPattern: Int8(v))) } else {
                bytes.append(0x81); put(UInt64(bitPattern: v))
            }
        case .float(let v): bytes.append(0x72); put(v.bitPattern)
        case .double(let v): bytes.append(0x82); put(v.bitPattern)
        case .decimal32(let v): bytes.append(0x74); put(v)
        case .decimal64(let v): bytes.append(0x84); put(v)
        case .decimal128(let v): bytes.append(0x94); put(v.high); put(v.low)
        case .char(let v): bytes.append(0x73); put(v)
        case .timestamp(let v): bytes.append(0x83); put(UInt64(bitPattern: v))
        case .uuid(let v): bytes.append(0x98); putUUID(v)
        case .binary(let v): variable(v, small: 0xa0, large: 0xb0)
        case .string(let v): variable(Array(v.utf8), small: 0xa1, large: 0xb1)
        case .symbol(let v): variable(Array(v.rawValue.utf8), small: 0xa3, large: 0xb3)
        case .list(let items):
            if items.isEmpty { bytes.append(0x45); return }
            compound(count: items.count, small: 0xc0, large: 0xd0) { encoder in
                for item in items { encoder.encode(item) }
            }
        case .map(let map):
            compound(count: map.entries.count * 2, small: 0xc1, large: 0xd1) { encoder in
                for entry in map.entries {
                    encoder.encode(entry.key)
                    encoder.encode(entry.value)
                }
            }
        case .array(let array): encodeArray(array)
        case .described(let descriptor, let inner):
            bytes.append(0x00)
            encode(descriptor)
            encode(inner)
        }
    }

    /// Appends a described list with a ulong descriptor, dropping trailing nulls as the specification allows.
    public mutating func encodeDescribedList(code: UInt64, fields: [AMQPValue]) {
        var count = fields.count
        while count > 0, fields[count - 1].isNull { count -= 1 }
        bytes.append(0x00)
        encode(.ulong(code))
        encode(.list(Array(fields[0..<count])))
    }

    /// Appends a `data` body section (descriptor 0x00 0x53 0x75, then vbin8 or vbin32): the bytes
    /// `encode(.described(descriptor: .ulong(0x75), value: .binary(payload)))` writes, without building that value
    /// (an indirect enum case, so an allocation per section).
    package mutating func encodeDataSection(_ payload: [UInt8]) {
        bytes.append(0x00)
        bytes.append(0x53)
        bytes.append(0x75)
        variable(payload, small: 0xa0, large: 0xb0)
    }

    // MARK: - Pieces

    mutating func put(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    mutating func put(_ v: UInt32) {
        bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xff))
        bytes.append(UInt8((v >> 8) & 0xff)); bytes.append(UInt8(v & 0xff))
    }
    mutating func put(_ v: UInt64) { put(UInt32(v >> 32)); put(UInt32(v & 0xffff_ffff)) }

    mutating func putUUID(_ v: UUID) {
        withUnsafeBytes(of: v.uuid) { bytes.append(contentsOf: $0) }
    }

    private mutating func variable(_ payload: [UInt8], small: UInt8, large: UInt8) {
        if payload.count <= 0xff {
            bytes.append(small); bytes.append(UInt8(payload.count))
        } else {
            bytes.append(large); put(UInt32(payload.count))
        }
        bytes.append(contentsOf: payload)
    }

    /// Writes a list/map/array header with a placeholder 32-bit size, the body, then shrinks to the 8-bit
    /// form when size and count allow (avoids encoding the body twice).
    private mutating func compound(count: Int, small: UInt8, large: UInt8, body: (inout AMQPEncoder) -> Void) {
        let start = bytes.count
        bytes.append(large)
        put(UInt32(0))
        put(UInt32(count))
        body(&self)
        let bodyLength = bytes.count - start - 9
        if bodyLength + 1 <= 0xff && count <= 0xff {
            bytes.replaceSubrange(start..<(start + 9), with: [small, UInt8(bodyLength + 1), UInt8(count)])
        } else {
            let size = UInt32(bodyLength + 4)
            bytes[start + 1] = UInt8(size >> 24)
            bytes[start + 2] = UInt8((size >> 16) & 0xff)
            bytes[start + 3] = UInt8((size >> 8) & 0xff)
            bytes[start + 4] = UInt8(size & 0xff)
        }
    }

    private mutating func encodeArray(_ array: AMQPArray) {
        let count = array.elements.count
        let start = bytes.count
        // Arrays always use the 32-bit form here: simpler and always valid; the size is patched afterwards.
        bytes.append(0xf0)
        put(UInt32(0))
        put(UInt32(count))
        if let descriptor = array.descriptor {
            bytes.append(0x00)
            encode(descriptor)
        }
        let code = elementCode(array)
        bytes.append(code)
        for element in array.elements { encodeElementPayload(element, code: code) }
        let size = UInt32(bytes.count - start - 5)
        bytes[start + 1] = UInt8(size >> 24)
        bytes[start + 2] = UInt8((size >> 16) & 0xff)
        bytes[start + 3] = UInt8((size >> 8) & 0xff)
        bytes[start + 4] = UInt8(size & 0xff)
    }

    private func elementCode(_ array: AMQPArray) -> UInt8 {
        func fitsSmall(_ length: (AMQPValue) -> Int) -> Bool { array.elements.allSatisfy { length($0) <= 0xff } }
        switch array.elementType {
        case .null: return 0x40
        case .bool: return 0x56
        case .ubyte: return 0x50
        case .ushort: return 0x60
        case .uint: return 0x70
        case .ulong: return 0x80
        case .byte: return 0x51
        case .short: return 0x61
        case .int: return 0x71
        case .long: return 0x81
        case .float: return 0x72
        case .double: return 0x82
        case .decimal32: return 0x74
        case .decimal64: return 0x84
        case .decimal128: return 0x94
        case .char: return 0x73
        case .timestamp: return 0x83
        case .uuid: return 0x98
        case .binary: return fitsSmall { if case .binary(let b) = $0 { b.count } else { 0 } } ? 0xa0 : 0xb0
        case .string: return fitsSmall { if case .string(let s) = $0 { s.utf8.count } else { 0 } } ? 0xa1 : 0xb1
        case .symbol:
            return fitsSmall { if case .symbol(let s) = $0 { s.rawValue.utf8.count } else { 0 } } ? 0xa3 : 0xb3
        case .list: return 0xd0
        case .map: return 0xd1
        case .array: return 0xf0
        }
    }

    /// Writes an element without its constructor, in the array's (wide) format.
    private mutating func encodeElementPayload(_ value: AMQPValue, code: UInt8) {
        var scratch = AMQPEncoder()
        switch value {
        case .null: return
        case .bool(let v): bytes.append(v ? 1 : 0); return
        case .uint(let v): put(v); return
        case .ulong(let v): put(v); return
        case .int(let v): put(UInt32(bitPattern: v)); return
        case .long(let v): put(UInt64(bitPattern: v)); return
        case .binary(let v): lengthPrefixed(v, wide: code == 0xb0); return
        case .string(let v): lengthPrefixed(Array(v.utf8), wide: code == 0xb1); return
        case .symbol(let v): lengthPrefixed(Array(v.rawValue.utf8), wide: code == 0xb3); return
        case .list(let items):
            scratch.bytes.append(0xd0); scratch.put(UInt32(0)); scratch.put(UInt32(items.count))
            for item in items { scratch.encode(item) }
            scratch.patchWideSize()
        case .map(let map):
            scratch.bytes.append(0xd1); scratch.put(UInt32(0)); scratch.put(UInt32(map.entries.count * 2))
            for entry in map.entries { scratch.encode(entry.key); scratch.encode(entry.value) }
            scratch.patchWideSize()
        case .array(let inner): scratch.encodeArray(inner)
        default:
            // Fixed-width types whose smallest encoding is already their only encoding.
            scratch.encode(value)
        }
        bytes.append(contentsOf: scratch.bytes.dropFirst())
    }

    private mutating func lengthPrefixed(_ payload: [UInt8], wide: Bool) {
        if wide { put(UInt32(payload.count)) } else { bytes.append(UInt8(payload.count)) }
        bytes.append(contentsOf: payload)
    }

    private mutating func patchWideSize() {
        let size = UInt32(bytes.count - 5)
        bytes[1] = UInt8(size >> 24)
        bytes[2] = UInt8((size >> 16) & 0xff)
        bytes[3] = UInt8((size >> 8) & 0xff)
        bytes[4] = UInt8(size & 0xff)
    }
}
