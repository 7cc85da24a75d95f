/// Capped exponential backoff with jitter, for loops that retry on their own (a receiver reconnecting, a token
/// refresh): `initial`, doubled after each failure up to `maximum`, each delay drawn from ±`jitter` of that
/// value so many clients that failed together do not retry in step. `reset()` after a success.
///
/// ```swift
/// var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
/// let delay = backoff.next()   // 0.16...0.24 s, then 0.32...0.48 s, ... up to 24...36 s
/// ```
///
/// A zero or negative `initial` is taken as 1 ms, and `maximum` is at least `initial` and at most 10⁹ s.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    /// The fraction of each delay drawn at random either way (0.2: ±20 %).
    public let jitter: Double
    /// Failures since the last `reset()`.
    public private(set) var failures = 0

    public init(initial: Duration, maximum: Duration, jitter: Double = 0.2) {
        let longest = Duration.seconds(1_000_000_000)
        self.initial = initial > .zero ? min(initial, longest) : .milliseconds(1)
        self.maximum = min(max(self.initial, maximum), longest)
        self.jitter = jitter.isFinite ? min(max(jitter, 0), 1) : 0
    }

    /// The delay before the next try (and counts a failure).
    public mutating func next() -> Duration {
        let base = min(maximum.toolboxSeconds, initial.toolboxSeconds * Double(1 << min(failures, 30)))
        failures += 1
        return .clampingSeconds(jitter == 0 ? base : base * Double.random(in: (1 - jitter)...(1 + jitter)))
    }

    /// Back to `initial` after a success.
    public mutating func reset() { failures = 0 }
}
