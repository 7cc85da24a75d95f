#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// A point on the monotonic clock, in nanoseconds since an arbitrary origin (boot on Linux).
///
/// Wall-clock changes never move it, so deadlines and expiry computed from it are immune to NTP steps.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let nanoseconds: UInt64

    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current instant.
    @inlinable
    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// This instant moved forward by `seconds` (negative values move it back, never below zero).
    @inlinable
    public func advanced(bySeconds seconds: Double) -> MonotonicInstant {
        if seconds.isNaN { return self }   // garbage in: no time at all, rather than a trap or forever
        if seconds > 1e9 { return .distantFuture }
        let delta = max(seconds, -1e9) * 1e9
        if delta >= 0 {
            let (sum, overflow) = nanoseconds.addingReportingOverflow(UInt64(delta))
            return overflow ? .distantFuture : MonotonicInstant(nanoseconds: sum)
        }
        let back = UInt64(-delta)
        return MonotonicInstant(nanoseconds: back > nanoseconds ? 0 : nanoseconds - back)
    }

    /// Seconds from `other` to `self` (negative when `self` is earlier).
    @inlinable
    public func seconds(since other: MonotonicInstant) -> Double {
        if self >= other { return Double(nanoseconds - other.nanoseconds) / 1e9 }
        return -Double(other.nanoseconds - nanoseconds) / 1e9
    }

    /// The matching `DispatchTime`, for scheduling timers.
    public var dispatchTime: DispatchTime {
        if self == .distantFuture { return .distantFuture }
        let now = MonotonicInstant.now()
        let delta = self.seconds(since: now)
        if delta <= 0 { return .now() }
        return .now() + .nanoseconds(Int(min(delta, 1e9) * 1e9))
    }

    public static let distantFuture = MonotonicInstant(nanoseconds: UInt64.max)

    @inlinable
    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public var description: String {
        self == .distantFuture ? "distantFuture" : "\(Double(nanoseconds) / 1e9)s"
    }
}

/// When an operation must have finished; every operation in the library takes one (or a timeout that makes one).
public struct Deadline: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let instant: MonotonicInstant

    public init(_ instant: MonotonicInstant) { self.instant = instant }

    /// A deadline `seconds` from now.
    public static func after(seconds: Double) -> Deadline {
        Deadline(MonotonicInstant.now().advanced(bySeconds: seconds))
    }

    public static let never = Deadline(.distantFuture)

    /// Whether the deadline has passed.
    public var hasPassed: Bool { instant <= MonotonicInstant.now() }

    /// Seconds left before the deadline (zero or negative once passed; `.infinity` for `.never`).
    public var secondsRemaining: Double {
        if instant == .distantFuture { return .infinity }
        return instant.seconds(since: .now())
    }

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.instant < rhs.instant }

    public var description: String {
        instant == .distantFuture ? "never" : "in \((secondsRemaining * 1000).rounded() / 1000)s"
    }
}

extension MonotonicInstant {
    /// The monotonic clock at tick resolution (a few ms on Linux), at a fraction of the cost of `now()`.
    ///
    /// Good for bookkeeping measured in seconds (idle and lifespan expiry); use `now()` for latencies.
    @inlinable
    public static func coarseNow() -> MonotonicInstant {
        #if os(Linux)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
        #else
        return now()
        #endif
    }
}
