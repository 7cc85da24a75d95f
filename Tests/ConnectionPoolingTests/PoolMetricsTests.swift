import AzureClientsToolboxTesting
import ConnectionPooling
import Foundation
import ToolboxCore
import XCTest

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
        XCTAssertTrue(eventually { metrics.value("toolbox_pool_ready_connections", ["pool": label]) == 1 })
        XCTAssertEqual(metrics.value("toolbox_pool_creates_total", ["pool": label]), 2)
        XCTAssertEqual(metrics.value("toolbox_pool_create_failures_total", ["pool": label]), 1)
        XCTAssertEqual(metrics.value("toolbox_pool_expirations_total", ["pool": label]), 1)
        XCTAssertNotNil(metrics.value("toolbox_pool_acquire_wait", ["pool": label]))
        try pool.closeAll()
    }
}
