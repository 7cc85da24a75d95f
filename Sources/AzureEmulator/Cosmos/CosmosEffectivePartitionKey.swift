/// Where a partition key value lives in a container's key space: Cosmos DB's effective partition key (EPK) for
/// hash partitioning version 2, computed as the SDKs compute it (MurmurHash3 x64 128 of the value's binary
/// encoding, bytes reversed, the top two bits cleared, upper-case hex). Partition key ranges are
/// `[minInclusive, maxExclusive)` intervals of these strings, compared as strings; `""` is the minimum and `"FF"`
/// the maximum.
enum CosmosEffectivePartitionKey {
    /// The EPK of one partition key component; nil `value` means undefined (the document lacks the path).
    static func hash(_ value: CosmosValue?) -> String {
        var bytes: [UInt8] = []
        switch value {
        case nil: bytes.append(0x00)
        case .null?: bytes.append(0x01)
        case .bool(false)?: bytes.append(0x02)
        case .bool(true)?: bytes.append(0x03)
        case .number(let number)?:
            bytes.append(0x05)
            withUnsafeBytes(of: number.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .string(let text)?:
            bytes.append(0x08)
            bytes.append(contentsOf: text.utf8)
            bytes.append(0xFF)
        case .array?, .object?:
            // Not valid partition key values; the store refuses them before hashing.
            bytes.append(0x00)
        }
        var digest = murmurHash3x64_128(bytes)
        digest.reverse()
        digest[0] &= 0x3F
        return digest.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    /// The middle of `[min, max)` as a 32-digit EPK (for splitting a range in two).
    static func midpoint(min: String, max: String) -> String {
        let low = value(of: min, isMax: false)
        let high = value(of: max, isMax: true)
        // (low + high) / 2 on 128-bit numbers held as (hi, lo); both are below 2^127, so the sum fits.
        let (lo, carry) = low.lo.addingReportingOverflow(high.lo)
        let hi = low.hi &+ high.hi &+ (carry ? 1 : 0)
        let midLo = (lo >> 1) | (hi << 63)
        let midHi = hi >> 1
        return hex64(midHi) + hex64(midLo)
    }

    private static func value(of epk: String, isMax: Bool) -> (hi: UInt64, lo: UInt64) {
        if epk.isEmpty { return (0, 0) }
        if epk == "FF" { return (0x4000_0000_0000_0000, 0) }
        let padded = Array((epk + String(repeating: "0", count: Swift.max(0, 32 - epk.count))).prefix(32))
        let hi = UInt64(String(padded[0..<16]), radix: 16) ?? 0
        let lo = UInt64(String(padded[16..<32]), radix: 16) ?? 0
        return (hi, lo)
    }

    private static func hex64(_ value: UInt64) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// MurmurHash3 x64 128 with seed 0; the result as the SDK lays it out (low 64 bits little-endian, then high).
    static func murmurHash3x64_128(_ data: [UInt8]) -> [UInt8] {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5
        let c2: UInt64 = 0x4cf5_ad43_2745_937f
        var h1: UInt64 = 0
        var h2: UInt64 = 0
        let blocks = data.count / 16

        func word(_ offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(data[offset + index]) << (8 * UInt64(index)) }
            return value
        }
        func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
        func fmix(_ value: UInt64) -> UInt64 {
            var k = value
            k ^= k >> 33
            k = k &* 0xff51_afd7_ed55_8ccd
            k ^= k >> 33
            k = k &* 0xc4ce_b9fe_1a85_ec53
            k ^= k >> 33
            return k
        }

        for block in 0..<blocks {
            var k1 = word(block * 16)
            var k2 = word(block * 16 + 8)
            k1 = k1 &* c1; k1 = rotl(k1, 31); k1 = k1 &* c2; h1 ^= k1
            h1 = rotl(h1, 27); h1 = h1 &+ h2; h1 = h1 &* 5 &+ 0x52dc_e729
            k2 = k2 &* c2; k2 = rotl(k2, 33); k2 = k2 &* c1; h2 ^= k2
            h2 = rotl(h2, 31); h2 = h2 &+ h1; h2 = h2 &* 5 &+ 0x3849_5ab5
        }

        let tail = blocks * 16
        let remaining = data.count - tail
        var k1: UInt64 = 0
        var k2: UInt64 = 0
        if remaining > 8 {
            for index in stride(from: remaining - 1, through: 8, by: -1) {
                k2 ^= UInt64(data[tail + index]) << (8 * UInt64(index - 8))
            }
            k2 = k2 &* c2; k2 = rotl(k2, 33); k2 = k2 &* c1; h2 ^= k2
        }
        if remaining > 0 {
            for index in stride(from: Swift.min(remaining, 8) - 1, through: 0, by: -1) {
                k1 ^= UInt64(data[tail + index]) << (8 * UInt64(index))
            }
            k1 = k1 &* c1; k1 = rotl(k1, 31); k1 = k1 &* c2; h1 ^= k1
        }

        let length = UInt64(data.count)
        h1 ^= length
        h2 ^= length
        h1 = h1 &+ h2
        h2 = h2 &+ h1
        h1 = fmix(h1)
        h2 = fmix(h2)
        h1 = h1 &+ h2
        h2 = h2 &+ h1

        var out: [UInt8] = []
        out.reserveCapacity(16)
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: h1 >> UInt64(shift))) }
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: h2 >> UInt64(shift))) }
        return out
    }
}
