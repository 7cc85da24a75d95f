/// Capped exponential backoff with jitter, for loops that retry on their own (a receiver reconnecting, a token
/// refresh): `initial`, doubled after each failure up to `maximum`, each delay drawn from ±`jitter` of that
/// value so many clients that failed together do not retry in step. `reset()` after a success.
///
/// ```swift
/// var backoff = Backoff(initial: 0.2, maximum: 30)
/// let delay = backoff.next()   // 0.16...0.24, then 0.32...0.48, ... up to 24...36
/// ```
public struct Backoff: Sendable, Equatable {
    public let initial: Double
    public let maximum: Double
    /// The fraction of each delay drawn at random either way (0.2: ±20 %).
    public let jitter: Double
    /// Failures since the last `reset()`.
    public private(set) var failures = 0

    public init(initial: Double, maximum: Double, jitter: Double = 0.2) {
        self.initial = initial.isFinite && initial > 0 ? initial : 0.001
        self.maximum = maximum.isFinite ? max(self.initial, maximum) : max(self.initial, 3600)
        self.jitter = jitter.isFinite ? min(max(jitter, 0), 1) : 0
    }

    /// The delay before the next try (and counts a failure).
    public mutating func next() -> Double {
        let base = min(maximum, initial * Double(1 << min(failures, 30)))
        failures += 1
        return jitter == 0 ? base : base * Double.random(in: (1 - jitter)...(1 + jitter))
    }

    /// Back to `initial` after a success.
    public mutating func reset() { failures = 0 }
}
