/// How Event Hubs and Service Bus clients retry transient failures (DESIGN §6).
///
/// Server-busy and time-outs are retried after an exponential, jittered delay; a detached link is
/// re-attached and a lost connection re-opened before the next try. Permanent failures (unauthorized,
/// not found, message too large, entity disabled) are never retried.
public struct RetryOptions: Sendable, Equatable {
    /// Tries after the first one. Default 3 (the Azure SDKs' default).
    public var maxRetries: Int = 3
    /// The first retry delay, doubled on each retry. Default 0.2 s.
    public var delay: Duration = .milliseconds(200)
    /// The longest delay between tries. Default 10 s.
    public var maxDelay: Duration = .seconds(10)
    /// How long one try may take before it counts as timed out. Default 60 s (the SDKs' `send_timeout`). Everything
    /// the try starts (attach, CBS put-token, transfer, request) carries this deadline and is cancelled when it
    /// passes; a connection on which two tries in a row time out is retired.
    public var tryTimeout: Duration = .seconds(60)

    /// Retry settings; the defaults are the Azure SDKs'.
    ///
    /// - Parameters:
    ///   - maxRetries: tries after the first one.
    ///   - delay: the first retry delay, doubled on each retry.
    ///   - maxDelay: the longest delay between tries.
    ///   - tryTimeout: how long one try may take.
    public init(maxRetries: Int = 3, delay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(10),
                tryTimeout: Duration = .seconds(60)) {
        self.maxRetries = maxRetries
        self.delay = delay
        self.maxDelay = maxDelay
        self.tryTimeout = tryTimeout
    }

    /// The delay before retry number `retry` (0-based), with ±20 % jitter so callers do not retry in step.
    ///
    /// - Parameter retry: how many retries came before this one.
    /// - Returns: the delay, never negative.
    public func delay(beforeRetry retry: Int) -> Duration {
        let base = min(maxDelay.toolboxSeconds, delay.toolboxSeconds * Double(1 << min(max(retry, 0), 20)))
        return .seconds(max(0, base) * Double.random(in: 0.8...1.2))
    }
}
