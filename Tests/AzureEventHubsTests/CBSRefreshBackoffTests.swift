import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

/// A failing CBS refresh backs off (issue 13): the retry delay doubles from `retryDelay` up to `maxRetryDelay`,
/// within ±20 % jitter, instead of retrying every 5 s forever.
final class CBSRefreshBackoffTests: XCTestCase {
    func testAFailingRefreshRetriesWithCappedExponentialBackoff() throws {
        let emulator = try startEventHubsEmulator(self)
        let connection = AMQPConnection(transport: AMQPSocketTransport(host: "127.0.0.1", port: emulator.amqpPort),
                                        configuration: AMQPConnectionConfiguration(sasl: .anonymous))
        try connection.open()
        defer { try? connection.close() }
        let cbs = try AMQPCBSClient.attach(session: try connection.beginSession())
        let clock = ManualClock()
        let requests = LockedValue(0)
        let refresher = AMQPCBSTokenRefresher(cbs: cbs, audience: "sb://127.0.0.1/eh1", retryDelay: .seconds(1), maxRetryDelay: .seconds(8),
                                              clock: clock) { _, done in
            requests.withLockedValue { $0 += 1 }
            done(.failure(CBSTestError()))
        }
        defer { refresher.cancel() }
        let first = expectation(description: "first put-token reported")
        refresher.start { result in
            if case .success = result { XCTFail("the provider always fails") }
            first.fulfill()
        }
        wait(for: [first], timeout: 10)
        var delays: [Double] = []
        for attempt in 0..<6 {
            let deadline = Date().addingTimeInterval(10)
            while clock.pendingJobCount == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            guard let next = clock.nextDeadline else { return XCTFail("no retry scheduled after failure \(attempt + 1)") }
            delays.append(next.seconds(since: clock.now()))
            clock.advance(to: next)
        }
        for (index, delay) in delays.enumerated() {
            let base = min(8, Double(1 << index))
            XCTAssertTrue((base * 0.8 - 0.001...base * 1.2 + 0.001).contains(delay), "retry \(index): \(delays)")
        }
        XCTAssertGreaterThanOrEqual(requests.load(), 6)
    }

    func testTheRetryDelayStaysWithinHalfTheCurrentTokensRemainingLife() {
        XCTAssertEqual(AMQPCBSTokenRefresher.retryDelay(afterFailures: 5, initial: 5, maximum: 60, untilExpiry: nil), 60)
        XCTAssertEqual(AMQPCBSTokenRefresher.retryDelay(afterFailures: 5, initial: 5, maximum: 60, untilExpiry: 20), 10)
        XCTAssertEqual(AMQPCBSTokenRefresher.retryDelay(afterFailures: 0, initial: 5, maximum: 60, untilExpiry: 0.5), 1)
        XCTAssertEqual(AMQPCBSTokenRefresher.retryDelay(afterFailures: Int.max, initial: 5, maximum: 60, untilExpiry: .nan), 60)
    }
}

private struct CBSTestError: Error {}
