/// Reading encoded AMQP values in place, by their constructors and sizes only (OASIS AMQP 1.0 part 1, 1.2 and
/// 1.6), for the emulator's hot paths that look at a few bytes of a frame or message instead of decoding it.
enum EncodedAMQP {
    /// How deep described values may nest (a descriptor or value that is itself described) before `end` gives
    /// up: a value this scan cannot vouch for is left to the decoder.
    static let maxDescribedDepth = 4

    /// The index after the value whose constructor is at `start`, or nil when its constructor is not one this scan
    /// knows, it is nested deeper than `maxDescribedDepth`, or its size runs past `limit`.
    static func end(_ bytes: [UInt8], at start: Int, limit: Int) -> Int? {
        end(bytes[...], at: start, limit: limit, depth: 0)
    }

    /// `end(_:at:limit:)` over a slice (indices are the slice's own, i.e. those of the array it views).
    static func end(_ bytes: ArraySlice<UInt8>, at start: Int, limit: Int, depth: Int = 0) -> Int? {
        guard start >= bytes.startIndex, start < limit, limit <= bytes.endIndex else { return nil }
        let code = bytes[start]
        let body = start + 1
        let end: Int
        switch code {
        case 0x00:
            guard depth < maxDescribedDepth,
                  let descriptorEnd = self.end(bytes, at: body, limit: limit, depth: depth + 1)
            else { return nil }
            return self.end(bytes, at: descriptorEnd, limit: limit, depth: depth + 1)
        case 0x40...0x45: end = body
        case 0xa0, 0xa1, 0xa3, 0xc0, 0xc1, 0xe0:
            guard body < limit else { return nil }
            end = body + 1 + Int(bytes[body])
        case 0xb0, 0xb1, 0xb3, 0xd0, 0xd1, 0xf0:
            guard limit - body >= 4 else { return nil }
            end = body + 4 + bigEndian32(bytes, at: body)
        default:
            switch code >> 4 {
            case 0x5: end = body + 1
            case 0x6: end = body + 2
            case 0x7: end = body + 4
            case 0x8: end = body + 8
            case 0x9: end = body + 16
            default: return nil
            }
        }
        return end <= limit ? end : nil
    }

    /// The four bytes at `index` as a big-endian unsigned number (at most `UInt32.max`, which fits an `Int` here).
    static func bigEndian32(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int {
        Int(bytes[index]) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
    }

    /// Appends `value` (a length or count, at most `UInt32.max` for anything an AMQP frame can carry) big-endian.
    static func append32(_ bytes: inout [UInt8], _ value: Int) {
        let clamped = UInt32(clamping: value)
        withUnsafeBytes(of: clamped.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
