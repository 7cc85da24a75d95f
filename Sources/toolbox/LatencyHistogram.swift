/// A log-linear latency histogram (HDR-style): exact below 1,024, then 64 sub-buckets per power of two
/// (under 1.6% error). Constant memory however many samples; merge per-thread histograms at the end.
struct LatencyHistogram {
    private static let linearLimit: UInt64 = 1024
    private static let subBuckets = 64
    private var linear = [UInt64](repeating: 0, count: Int(linearLimit))
    private var logarithmic = [UInt64](repeating: 0, count: 54 * subBuckets)
    private(set) var count: UInt64 = 0

    mutating func record(_ value: UInt64) {
        count += 1
        if value < Self.linearLimit {
            linear[Int(value)] += 1
            return
        }
        let exponent = 63 - value.leadingZeroBitCount  // >= 10
        let sub = Int((value >> UInt64(exponent - 6)) & 63)
        logarithmic[(exponent - 10) * Self.subBuckets + sub] += 1
    }

    mutating func merge(_ other: LatencyHistogram) {
        for i in linear.indices { linear[i] += other.linear[i] }
        for i in logarithmic.indices { logarithmic[i] += other.logarithmic[i] }
        count += other.count
    }

    /// The value at quantile `q` (0...1), or 0 when empty.
    func percentile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, UInt64((Double(count) * q).rounded(.up)))
        var seen: UInt64 = 0
        for (value, n) in linear.enumerated() {
            seen += n
            if seen >= rank { return UInt64(value) }
        }
        for (index, n) in logarithmic.enumerated() {
            seen += n
            if seen >= rank {
                let exponent = index / Self.subBuckets + 10
                let sub = UInt64(index % Self.subBuckets)
                return (UInt64(1) << UInt64(exponent)) | (sub << UInt64(exponent - 6))
            }
        }
        return 0
    }
}
