/// Conversions of values that come from outside (peers, token endpoints, files, configuration) that can never
/// trap: `Int64(x)` on a `Double` traps for NaN, infinities and anything beyond ±2⁶³, and `Int32(x)` on a larger
/// integer traps when it does not fit. These clamp instead, for values whose range is then checked, or whose
/// clamped meaning is right ("never" for an infinite time-out).
extension Int64 {
    /// `value` rounded to the nearest whole number, clamped to `Int64`'s range; NaN becomes `nan`.
    package init(clampingRounded value: Double, nan: Int64 = 0) {
        if value.isNaN {
            self = nan
        } else if value >= 0x1p63 {
            self = .max
        } else if value < -0x1p63 {
            self = .min
        } else {
            self = Int64(value.rounded())
        }
    }

    /// `seconds` as whole milliseconds (an AMQP timestamp or duration), clamped; NaN becomes 0.
    package init(clampingMilliseconds seconds: Double) {
        self.init(clampingRounded: seconds * 1000)
    }

    /// `self + other`, or the nearest bound when that overflows.
    package func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

extension Int {
    /// `self + other`, or the nearest bound when that overflows.
    package func saturatingAdd(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

extension UInt32 {
    /// `value` rounded to the nearest whole number, clamped to `0...UInt32.max`; NaN becomes 0.
    package init(clampingRounded value: Double) {
        self.init(clamping: Int64(clampingRounded: value))
    }
}
