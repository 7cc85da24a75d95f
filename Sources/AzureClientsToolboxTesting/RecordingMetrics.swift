import CoreMetrics
import ToolboxCore

/// A swift-metrics back end for tests that remembers what was recorded, so a test can assert on metrics.
///
/// swift-metrics can be bootstrapped once per process; `RecordingMetrics.shared` does it the first time it is
/// used and every test then reads from the same instance. Give each test's client or pool its own metrics label
/// so tests do not see each other's values.
///
/// ```swift
/// let metrics = RecordingMetrics.shared
/// let producer = try ManagedEventHubProducer(connectionString: cs, options: .with { $0.pool.metricsLabel = "t1" })
/// try producer.send(EventData(body: "x"))
/// XCTAssertEqual(metrics.value("azure_messaging_operations_total",
///                              ["client": "t1", "operation": "send", "result": "success"]), 1)
/// ```
///
/// Counters hold their running total, gauges and recorders their last value, timers their last duration in ns.
public final class RecordingMetrics: MetricsFactory, @unchecked Sendable {
    // @unchecked Sendable: `values` is read and written only inside `lock`.
    /// The process-wide instance, bootstrapped into `MetricsSystem` on first use.
    public static let shared: RecordingMetrics = {
        let factory = RecordingMetrics()
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    private let lock = Lock()
    private var values: [String: Double] = [:]

    private init() {}

    /// The value recorded for `label` with exactly these dimensions, or nil if none was.
    public func value(_ label: String, _ dimensions: [String: String]) -> Double? {
        lock.withLock { values[Self.key(label, dimensions.map { ($0.key, $0.value) })] }
    }

    /// Every recorded series whose label is `label`, keyed by its dimensions rendered as `k=v,k=v` (sorted).
    public func series(_ label: String) -> [String: Double] {
        lock.withLock {
            var result: [String: Double] = [:]
            for (key, value) in values where key.hasPrefix(label + "|") {
                result[String(key.dropFirst(label.count + 1))] = value
            }
            return result
        }
    }

    fileprivate func store(_ key: String, _ value: Double, accumulate: Bool) {
        lock.withLock { values[key] = accumulate ? (values[key] ?? 0) + value : value }
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + "|" + dimensions.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
    }

    private final class Handler: CounterHandler, FloatingPointCounterHandler, RecorderHandler, TimerHandler,
        @unchecked Sendable
    {
        // @unchecked Sendable: immutable; every write goes through the factory's lock.
        let key: String
        let accumulate: Bool
        unowned let factory: RecordingMetrics

        init(key: String, accumulate: Bool, factory: RecordingMetrics) {
            self.key = key
            self.accumulate = accumulate
            self.factory = factory
        }

        func increment(by amount: Int64) { factory.store(key, Double(amount), accumulate: true) }
        func increment(by amount: Double) { factory.store(key, amount, accumulate: true) }
        func reset() { factory.store(key, 0, accumulate: false) }
        func record(_ value: Int64) { factory.store(key, Double(value), accumulate: accumulate) }
        func record(_ value: Double) { factory.store(key, value, accumulate: accumulate) }
        func recordNanoseconds(_ duration: Int64) { factory.store(key, Double(duration), accumulate: false) }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), accumulate: true, factory: self)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(key: Self.key(label, dimensions), accumulate: true, factory: self)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), accumulate: false, factory: self)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), accumulate: false, factory: self)
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}
