import AzureClientsToolboxTesting
import ConnectionPooling
import Dispatch
import ToolboxCore
import XCTest

/// The deprecated `Double`-seconds overloads still behave as the old API did.
final class DeprecatedSecondsTimeoutTests: XCTestCase {
    func testDoubleSecondsStillWorkAsBefore() throws {
        // Called through a protocol: the deprecated body compiles without a warning (the project has none).
        try (OldSecondsAPI() as any OldSecondsAPIScenario).run(self)
    }
}

private protocol OldSecondsAPIScenario {
    func run(_ test: XCTestCase) throws
}

private struct OldSecondsAPI: OldSecondsAPIScenario {
    @available(*, deprecated, message: "exercises the deprecated Double-seconds overloads")
    func run(_ test: XCTestCase) throws {
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        configuration.clientLimit = 1
        configuration.maxSize = 1
        let clock = ManualClock()
        let pool = try ConnectionPool(connector: FakeConnector(), configuration: configuration, clock: clock)
        let held = try pool.acquire(timeout: 5.0)
        XCTAssertEqual((Result { try pool.acquire(timeout: 0.0) }.failureValue as? ConnectionPoolError)?.code, .timedOut)
        XCTAssertEqual((Result { try pool.acquire(timeout: -Double.nan) }.failureValue as? ConnectionPoolError)?.code,
                       .timedOut)
        let timedOut = test.expectation(description: "timed out at 2 s")
        pool.acquire(timeout: 2.0) { result in
            XCTAssertEqual(result.failureValue?.code, .timedOut)
            timedOut.fulfill()
        }
        let served = test.expectation(description: "an infinite wait is served")
        pool.acquire(timeout: Double.infinity) { result in
            XCTAssertNotNil(try? result.get())
            try? result.get().release()
            served.fulfill()
        }
        clock.advance(by: .seconds(2))
        test.wait(for: [timedOut], timeout: 10)
        clock.advance(by: .seconds(1_000_000))
        XCTAssertEqual(pool.snapshot.waiters, 1)
        held.release()
        test.wait(for: [served], timeout: 10)
    }
}
