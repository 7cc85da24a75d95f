import ConnectionPooling
import CoreMetrics
import Foundation
import ToolboxCore
import XCTest

/// A swift-metrics back end that keeps the last value of every gauge and the total of every counter.
final class RecordingMetrics: MetricsFactory, @unchecked Sendable {
    // @unchecked Sendable: `values` is guarded by `lock`.
    static let shared: RecordingMetrics = {
        let factory = RecordingMetrics()
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    let lock = Lock()
    var values: [String: Double] = [:]

    func value(_ label: String, pool: String) -> Double? { lock.withLock { values["\(label)|\(pool)"] } }

    final class Handler: CounterHandler, RecorderHandler, TimerHandler, FloatingPointCounterHandler,
        @unchecked Sendable
    {
        // @unchecked Sendable: writes go through the factory's lock.
        let key: String
        let factory: RecordingMetrics
        let accumulates: Bool
        init(key: String, factory: RecordingMetrics, accumulates: Bool) {
            self.key = key
            self.factory = factory
            self.accumulates = accumulates
        }
        func store(_ value: Double) {
            factory.lock.withLock {
                factory.values[key] = accumulates ? (factory.values[key] ?? 0) + value : value
            }
        }
        func increment(by amount: Int64) { store(Double(amount)) }
        func increment(by amount: Double) { store(amount) }
        func reset() { factory.lock.withLock { factory.values[key] = 0 } }
        func record(_ value: Int64) { store(Double(value)) }
        func record(_ value: Double) { store(value) }
        func recordNanoseconds(_ duration: Int64) { store(Double(duration)) }
    }

    private func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        "\(label)|\(dimensions.first { $0.0 == "pool" }?.1 ?? "")"
    }
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: key(label, dimensions), factory: self, accumulates: true)
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(key: key(label, dimensions), factory: self, accumulates: true)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: key(label, dimensions), factory: self, accumulates: false)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: key(label, dimensions), factory: self, accumulates: false)
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

final class PoolMetricsTests: XCTestCase {
    func testSnapshotAndSwiftMetricsReportPoolActivity() throws {
        let metrics = RecordingMetrics.shared
        let connector = FakeConnector()
        connector.createFails = { $0 == 2 }
        let label = "metrics-test-\(UUID().uuidString)"
        let pool = try ConnectionPool(connector: connector, configuration: .with {
            $0.clientLimit = 1; $0.maxSize = 3; $0.metricsLabel = label
        })
        let a = try pool.acquire()
        XCTAssertThrowsError(try pool.acquire())
        let b = try pool.acquire()
        var snapshot = pool.snapshot
        XCTAssertEqual(snapshot.ready, 2)
        XCTAssertEqual(snapshot.inUse, 2)
        XCTAssertEqual(snapshot.creates, 2)
        XCTAssertEqual(snapshot.createFailures, 1)
        XCTAssertEqual(snapshot.leases, 2)
        XCTAssertEqual(snapshot.waitedAcquires, 2, "the second and third acquires waited for a create")
        XCTAssertGreaterThan(snapshot.maxAcquireWaitSeconds, 0)
        b.release(.discard)
        a.release()
        XCTAssertTrue(eventually { pool.snapshot.closes == 1 })
        snapshot = pool.snapshot
        XCTAssertEqual(snapshot.expirations, 1)
        XCTAssertEqual(snapshot.ready, 1)
        XCTAssertEqual(snapshot.open, 1)
        XCTAssertTrue(eventually { metrics.value("toolbox_pool_ready_connections", pool: label) == 1 })
        XCTAssertEqual(metrics.value("toolbox_pool_creates_total", pool: label), 2)
        XCTAssertEqual(metrics.value("toolbox_pool_create_failures_total", pool: label), 1)
        XCTAssertEqual(metrics.value("toolbox_pool_expirations_total", pool: label), 1)
        XCTAssertNotNil(metrics.value("toolbox_pool_acquire_wait", pool: label))
        try pool.closeAll()
    }
}
