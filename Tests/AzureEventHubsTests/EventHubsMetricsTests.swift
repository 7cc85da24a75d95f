import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import XCTest

@testable import AzureEventHubs

/// The managed producer's swift-metrics: its operations (dimension `client`) and its pool (dimension `pool`).
final class EventHubsMetricsTests: XCTestCase {
    func testManagedProducerReportsOperationsAndPoolGauges() throws {
        let metrics = RecordingMetrics.shared
        let emulator = try startEventHubsEmulator(self)
        let label = "eh-metrics-\(UUID().uuidString)"
        let producer = try ManagedEventHubProducer(
            connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
            options: fastRetryOptions { $0.pool.metricsLabel = label })
        defer { try? producer.close() }
        for i in 0..<3 { try producer.send(EventData(body: "metric \(i)")) }
        _ = try producer.partitionIDs()

        let operations = metrics.series("azure_messaging_operations_total").filter { $0.key.contains("client=\(label)") }
        let successes = operations.filter { $0.key.contains("result=success") }.values.reduce(0, +)
        XCTAssertEqual(successes, 4, "three sends and one management read, all successful: \(operations)")
        XCTAssertTrue(operations.keys.allSatisfy { !$0.contains("SharedAccessKey") })
        XCTAssertNotNil(metrics.series("azure_messaging_operation_duration").first { $0.key.contains("client=\(label)") })
        XCTAssertEqual(metrics.value("toolbox_pool_ready_connections", ["pool": label]), 1)
        XCTAssertEqual(metrics.value("toolbox_pool_creates_total", ["pool": label]), 1)
    }
}
