import AzureClientsToolboxTesting
import ConnectionPooling
import Dispatch
import ToolboxCore
import XCTest

/// The pool's timers (idle and lifespan expiry, acquire deadlines, create time-outs, minReady refresh) on a
/// `ManualClock`: time moves only when the test says so, and when `advance` returns, everything due has run.
final class PoolClockTests: XCTestCase {
    typealias Pool = ConnectionPool<FakeConnector>

    func makePool(
        _ clock: ManualClock, _ connector: FakeConnector = FakeConnector(),
        _ change: (inout ConnectionPoolConfiguration) -> Void = { _ in }
    ) throws -> (Pool, FakeConnector) {
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        change(&configuration)
        return (try Pool(connector: connector, configuration: configuration, clock: clock), connector)
    }

    func testAnIdleConnectionIsRetiredExactlyAtMaxIdle() throws {
        let clock = ManualClock()
        let (pool, connector) = try makePool(clock) { $0.maxIdle = .seconds(300) }
        try pool.acquire().release()
        clock.advance(bySeconds: 299.9)
        XCTAssertEqual(pool.snapshot.ready, 1, "not idle long enough yet")
        clock.advance(bySeconds: 0.1)
        XCTAssertEqual(pool.snapshot.ready, 0, "the sweep ran at maxIdle, before advance returned")
        XCTAssertEqual(pool.snapshot.expirations, 1)
        XCTAssertTrue(eventually { connector.snapshot.closes == 1 })
        let lease = try pool.acquire()
        XCTAssertEqual(lease.connection.id, 2)
        lease.release()
    }

    func testLifespanRetiresAConnectionOnceItsLeasesReturn() throws {
        let clock = ManualClock()
        let (pool, connector) = try makePool(clock) { $0.maxLifespan = .seconds(60); $0.clientLimit = 5 }
        let held = try pool.acquire()
        clock.advance(by: .seconds(60))
        let next = try pool.acquire()
        XCTAssertNotEqual(next.connection.id, held.connection.id, "no new lease on a connection past its lifespan")
        XCTAssertFalse(held.connection.isClosed, "its lease is still out")
        held.release()
        XCTAssertTrue(eventually { held.connection.isClosed })
        next.release()
        XCTAssertEqual(connector.snapshot.created, 2)
    }

    func testAQueuedAcquireFailsExactlyAtItsDeadline() throws {
        let clock = ManualClock()
        let (pool, _) = try makePool(clock) { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        let failed = expectation(description: "timed out")
        pool.acquire(timeout: .seconds(5)) { result in
            XCTAssertEqual(result.failureValue?.code, .timedOut)
            failed.fulfill()
        }
        XCTAssertEqual(pool.snapshot.waiters, 1)
        clock.advance(bySeconds: 4.999)
        XCTAssertEqual(pool.snapshot.waiters, 1, "still waiting before its deadline")
        clock.advance(bySeconds: 0.001)
        XCTAssertEqual(pool.snapshot.waiters, 0, "failed at its deadline, before advance returned")
        XCTAssertEqual(pool.snapshot.acquireTimeouts, 1)
        wait(for: [failed], timeout: 10)
        held.release()
    }

    func testAServedWaiterLeavesNoTimerBehind() throws {
        let clock = ManualClock()
        let (pool, _) = try makePool(clock) { $0.clientLimit = 1; $0.maxSize = 1; $0.maxIdle = .seconds(1000) }
        let held = try pool.acquire()
        let served = expectation(description: "served")
        pool.acquire(timeout: .seconds(5)) { result in
            if case .success(let lease) = result { lease.release() }
            served.fulfill()
        }
        held.release()
        wait(for: [served], timeout: 10)
        clock.advance(bySeconds: 10)
        XCTAssertEqual(pool.snapshot.acquireTimeouts, 0)
        XCTAssertEqual(pool.snapshot.ready, 1)
    }

    func testACreateSlowerThanGetTimeoutFailsItsWaitersAtGetTimeout() throws {
        let clock = ManualClock()
        let connector = FakeConnector()
        connector.createDelay = nil  // the create never answers
        let (pool, _) = try makePool(clock, connector) { $0.getTimeout = .seconds(30); $0.maxSize = 1 }
        let failed = expectation(description: "failed")
        pool.acquire(timeout: .seconds(600)) { result in
            let error = result.failureValue
            XCTAssertEqual(error?.code, .connectionFailed)
            XCTAssertEqual((error?.underlying as? ToolboxError)?.code, .timedOut)
            failed.fulfill()
        }
        clock.advance(bySeconds: 29)
        XCTAssertEqual(pool.snapshot.waiters, 1)
        clock.advance(bySeconds: 1)
        XCTAssertEqual(pool.snapshot.waiters, 0)
        wait(for: [failed], timeout: 10)
        XCTAssertEqual(pool.snapshot.open, 1, "the slot still counts against maxSize until the connector answers")
    }

    func testMinReadyRefreshesConnectionsBeforeTheyExpire() throws {
        let clock = ManualClock()
        let (pool, connector) = try makePool(clock) {
            $0.minReady = 2; $0.maxLifespan = .seconds(60); $0.refreshAhead = .seconds(10); $0.maxSize = 4
        }
        XCTAssertTrue(eventually { pool.snapshot.ready == 2 }, "opened without any acquire")
        XCTAssertEqual(connector.snapshot.created, 2)
        clock.advance(bySeconds: 49)
        XCTAssertEqual(connector.snapshot.createCalls, 2, "nothing to refresh yet")
        clock.advance(bySeconds: 1)
        XCTAssertTrue(eventually { pool.snapshot.ready == 4 }, "replacements opened refreshAhead before expiry")
        XCTAssertEqual(connector.snapshot.closes, 0)
        clock.advance(bySeconds: 10)
        XCTAssertTrue(eventually { connector.snapshot.closes == 2 }, "the old ones closed at their expiry")
        XCTAssertEqual(pool.snapshot.ready, 2)
        XCTAssertEqual(connector.snapshot.created, 4)
        try pool.closeAll()
        XCTAssertEqual(connector.snapshot.open, 0)
    }
}

final class ManualClockTests: XCTestCase {
    func testAdvanceRunsDueJobsInDeadlineOrderOnTheirQueues() {
        let clock = ManualClock(start: MonotonicInstant(nanoseconds: 1_000_000_000))
        let queue = DispatchQueue(label: "jobs")
        let order = LockedValue<[String]>([])
        let start = clock.now()
        clock.schedule(at: start.advanced(bySeconds: 2), on: queue) {
            dispatchPrecondition(condition: .onQueue(queue))
            order.withLockedValue { $0.append("b@\(clock.now().seconds(since: start))") }
        }
        clock.schedule(at: start.advanced(bySeconds: 1), on: queue) {
            order.withLockedValue { $0.append("a@\(clock.now().seconds(since: start))") }
            // Scheduled while advancing, due inside the step: runs in the same advance.
            clock.schedule(at: start.advanced(bySeconds: 1.5), on: queue) { order.withLockedValue { $0.append("c") } }
        }
        let cancelled = clock.schedule(at: start.advanced(bySeconds: 1), on: queue) {
            order.withLockedValue { $0.append("cancelled") }
        }
        cancelled.cancel()
        clock.advance(bySeconds: 0.5)
        XCTAssertEqual(order.load(), [])
        clock.advance(bySeconds: 5)
        XCTAssertEqual(order.load(), ["a@1.0", "c", "b@2.0"])
        XCTAssertEqual(clock.now(), start.advanced(bySeconds: 5.5))
        XCTAssertEqual(clock.pendingJobCount, 0)
    }

    func testAJobAlreadyDueWaitsForTheNextAdvance() {
        let clock = ManualClock()
        let ran = LockedValue(false)
        clock.schedule(at: clock.now(), on: DispatchQueue(label: "jobs")) { ran.withLockedValue { $0 = true } }
        XCTAssertFalse(ran.load())
        XCTAssertEqual(clock.nextDeadline, clock.now())
        clock.advance(by: .zero)
        XCTAssertTrue(ran.load())
    }
}
