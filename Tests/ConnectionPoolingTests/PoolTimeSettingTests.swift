import AzureClientsToolboxTesting
import ConnectionPooling
import Dispatch
import ToolboxCore
import XCTest

/// The pool's times are `Duration`s, checked once: a negative or absurd setting is `.invalidConfiguration` naming
/// the field (never a trap in the nanosecond arithmetic), and a per-call time-out out of range is clamped.
final class PoolTimeSettingTests: XCTestCase {
    typealias Pool = ConnectionPool<FakeConnector>

    private func makePool(
        _ clock: ManualClock = ManualClock(), _ change: (inout ConnectionPoolConfiguration) -> Void = { _ in }
    ) throws -> Pool {
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        change(&configuration)
        return try Pool(connector: FakeConnector(), configuration: configuration, clock: clock)
    }

    private func assertRejected(
        _ field: String, file: StaticString = #filePath, line: UInt = #line,
        _ change: (inout ConnectionPoolConfiguration) -> Void
    ) {
        XCTAssertThrowsError(try makePool(ManualClock(), change), file: file, line: line) { error in
            XCTAssertEqual((error as? ConnectionPoolError)?.code, .invalidConfiguration, file: file, line: line)
            XCTAssertTrue("\(error)".contains(field), "\(error) does not name \(field)", file: file, line: line)
        }
    }

    func testDefaultsAreThoseOfThePythonLibrary() {
        let configuration = ConnectionPoolConfiguration()
        XCTAssertEqual(configuration.maxIdle, .seconds(300))
        XCTAssertNil(configuration.maxLifespan)
        XCTAssertEqual(configuration.acquireTimeout, .seconds(10))
        XCTAssertEqual(configuration.getTimeout, .seconds(60))
        XCTAssertEqual(configuration.refreshAhead, .seconds(10))
    }

    func testNegativeAndAbsurdTimesAreRejectedByName() {
        let absurd = Duration.seconds(Int64.max)
        assertRejected("maxIdle") { $0.maxIdle = .seconds(-1) }
        assertRejected("maxIdle") { $0.maxIdle = .zero }
        assertRejected("maxIdle") { $0.maxIdle = absurd }
        assertRejected("maxLifespan") { $0.maxLifespan = .milliseconds(-1) }
        assertRejected("maxLifespan") { $0.maxLifespan = absurd }
        assertRejected("acquireTimeout") { $0.acquireTimeout = .nanoseconds(-1) }
        assertRejected("acquireTimeout") { $0.acquireTimeout = absurd }
        assertRejected("getTimeout") { $0.getTimeout = .zero }
        assertRejected("getTimeout") { $0.getTimeout = absurd }
        assertRejected("refreshAhead") { $0.refreshAhead = .seconds(-10) }
        assertRejected("refreshAhead") { $0.refreshAhead = absurd }
    }

    func testTheLongestTimeIsAccepted() throws {
        let clock = ManualClock()
        let longest = ConnectionPoolConfiguration.longestTime
        let pool = try makePool(clock) {
            $0.maxIdle = longest; $0.maxLifespan = longest; $0.acquireTimeout = longest; $0.getTimeout = longest
            $0.refreshAhead = .zero
        }
        XCTAssertNoThrow(try ConnectionPoolConfiguration.with { $0.acquireTimeout = .zero }.validate())
        try pool.acquire().release()
        clock.advance(by: .seconds(1_000_000))
        XCTAssertEqual(pool.snapshot.ready, 1, "a connection with a 31-year idle limit is still there")
    }

    func testAPerCallTimeOutOutOfRangeIsClampedNotTrapped() throws {
        let clock = ManualClock()
        let pool = try makePool(clock) { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        // Negative: fails at once, as zero does, rather than queueing.
        XCTAssertEqual((Result { try pool.acquire(timeout: .seconds(-5)) }.failureValue as? ConnectionPoolError)?.code, .timedOut)
        // Int64.max seconds: waits (as long as the clock can count) instead of overflowing into the past.
        let served = expectation(description: "served after a long wait")
        pool.acquire(timeout: .seconds(Int64.max)) { result in
            XCTAssertNotNil(try? result.get())
            try? result.get().release()
            served.fulfill()
        }
        clock.advance(by: .seconds(1_000_000))
        XCTAssertEqual(pool.snapshot.waiters, 1, "still queued a million seconds later")
        held.release()
        wait(for: [served], timeout: 10)
    }
}
