@_spi(Testing) import ConnectionPooling
import Dispatch
import Foundation
import ToolboxCore
import XCTest

final class ConnectionPoolTests: XCTestCase {
    typealias Pool = ConnectionPool<FakeConnector>

    func makePool(
        _ connector: FakeConnector = FakeConnector(), _ change: (inout ConnectionPoolConfiguration) -> Void = { _ in }
    ) throws -> (Pool, FakeConnector) {
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        change(&configuration)
        return (try Pool(connector: connector, configuration: configuration), connector)
    }

    func testCompletionFormDeliversOnTheGivenQueue() throws {
        let (pool, connector) = try makePool()
        let queue = DispatchQueue(label: "caller")
        let key = DispatchSpecificKey<Int>()
        queue.setSpecific(key: key, value: 42)
        let done = expectation(description: "acquired")
        pool.acquire(queue: queue) { result in
            XCTAssertEqual(DispatchQueue.getSpecific(key: key), 42)
            guard case .success(let lease) = result else { return XCTFail("\(result)") }
            XCTAssertFalse(lease.connection.isClosed)
            lease.release()
            done.fulfill()
        }
        wait(for: [done], timeout: 5)
        XCTAssertEqual(connector.snapshot.created, 1)
        XCTAssertEqual(connector.snapshot.readyCalls, 1, "readiness is checked once per connection")
        XCTAssertEqual(pool.snapshot.inUse, 0)
    }

    func testBlockingFormAndReuseOfOneConnection() throws {
        let (pool, connector) = try makePool()
        for _ in 0..<50 {
            let lease = try pool.acquire()
            XCTAssertEqual(lease.connection.id, 1)
            lease.release()
        }
        XCTAssertEqual(connector.snapshot.created, 1)
        XCTAssertEqual(connector.snapshot.readyCalls, 1)
        XCTAssertEqual(pool.snapshot.leases, 50)
    }

    func testBlockingFormRefusesToWaitOnALibraryQueue() throws {
        let (pool, connector) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        connector.createDelay = 0.05
        let held = try pool.acquire()
        let queue = LibraryQueues.makeQueue(label: "library-test")
        let result = queue.sync { Result { try pool.acquire(timeout: .seconds(1)) } }
        guard case .failure(let error as CoreError) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(error.code, .blockingCallOnLibraryQueue)
        held.release()
        // With a free lease the blocking form does not wait, so it is fine there.
        let lease = try queue.sync { try pool.acquire(timeout: .seconds(1)) }
        lease.release()
    }

    func testClientLimitSharesAConnectionAndQueuesTheRestInOrder() throws {
        let (pool, connector) = try makePool { $0.clientLimit = 3; $0.maxSize = 1 }
        let leases = try (0..<3).map { _ in try pool.acquire() }
        XCTAssertEqual(Set(leases.map(\.connection.id)), [1])
        let order = Collector<Int>()
        let served = expectation(description: "served")
        served.expectedFulfillmentCount = 3
        for i in 0..<3 {
            pool.acquire { result in
                if case .success(let lease) = result {
                    order.append(i)
                    served.fulfill()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 0.01) { lease.release() }
                }
            }
            XCTAssertTrue(eventually { pool.snapshot.waiters == i + 1 })
        }
        XCTAssertEqual(pool.snapshot.waiters, 3)
        leases[0].release()
        wait(for: [served], timeout: 5)
        leases[1].release()
        leases[2].release()
        XCTAssertEqual(order.all, [0, 1, 2], "waiters are served first in, first out")
        XCTAssertEqual(connector.snapshot.created, 1)
    }

    func testOpensNewConnectionsWhenReadyOnesAreFullWithinMaxSize() throws {
        let (pool, connector) = try makePool { $0.clientLimit = 2; $0.maxSize = 3 }
        let leases = try (0..<6).map { _ in try pool.acquire() }
        XCTAssertEqual(Set(leases.map(\.connection.id)).count, 3)
        XCTAssertEqual(connector.snapshot.created, 3)
        let timedOut = Result { try pool.acquire(timeout: .seconds(0.05)) }
        guard case .failure(let error as ConnectionPoolError) = timedOut else { return XCTFail("\(timedOut)") }
        XCTAssertEqual(error.code, .timedOut)
        XCTAssertTrue(error.description.contains("maxSize 3"), error.description)
        XCTAssertEqual(connector.snapshot.maxOpen, 3)
        leases.forEach { $0.release() }
    }

    func testSelectionPrefersTheLeastLoadedReadyConnection() throws {
        let (pool, _) = try makePool { $0.clientLimit = 10; $0.maxSize = 2 }
        try pool.warmUp(count: 2)
        let a = try pool.acquire()
        let b = try pool.acquire()
        XCTAssertNotEqual(a.connection.id, b.connection.id, "second lease goes to the idle connection")
        let c = try pool.acquire()
        a.release()
        let d = try pool.acquire()
        XCTAssertEqual(d.connection.id, a.connection.id, "the connection with fewer leases is chosen")
        [b, c, d].forEach { $0.release() }
    }

    func testMaxConcurrentCreatesIsRespected() throws {
        let connector = FakeConnector()
        connector.createDelay = 0.1
        let (pool, _) = try makePool(connector) { $0.clientLimit = 1; $0.maxSize = 6; $0.maxConcurrentCreates = 2 }
        let got = Collector<ConnectionLease<FakeConnection>>()
        let all = expectation(description: "all")
        all.expectedFulfillmentCount = 6
        for _ in 0..<6 {
            pool.acquire { result in
                if case .success(let lease) = result { got.append(lease) }
                all.fulfill()
            }
        }
        wait(for: [all], timeout: 10)
        XCTAssertEqual(Set(got.all.map(\.connection.id)).count, 6)
        got.all.forEach { $0.release() }
        XCTAssertEqual(connector.snapshot.maxOpening, 2)
        XCTAssertEqual(ConnectionPoolConfiguration.with { $0.maxSize = 10 }.effectiveMaxConcurrentCreates, 3)
        XCTAssertEqual(ConnectionPoolConfiguration.with { $0.maxSize = 2 }.effectiveMaxConcurrentCreates, 1)
    }

    func testZeroTimeoutFailsAtOnceAndMaxWaitersGivesExhausted() throws {
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1; $0.maxWaiters = 1 }
        let held = try pool.acquire()
        let noWait = Result { try pool.acquire(timeout: .seconds(0)) }
        XCTAssertEqual((noWait.failureValue as? ConnectionPoolError)?.code, .timedOut)
        let queued = expectation(description: "queued one times out")
        // Long enough to still be queued when the next acquire comes, through a pause of a shared machine.
        pool.acquire(timeout: .seconds(2)) { result in
            XCTAssertEqual(result.failureValue?.code, .timedOut)
            queued.fulfill()
        }
        XCTAssertTrue(eventually { pool.snapshot.waiters == 1 })
        let second = Result { try pool.acquire(timeout: .seconds(5)) }
        let error = second.failureValue as? ConnectionPoolError
        XCTAssertEqual(error?.code, .exhausted)
        XCTAssertTrue(error?.description.contains("maxWaiters 1") == true)
        wait(for: [queued], timeout: 5)
        XCTAssertEqual(pool.snapshot.acquireTimeouts, 2)
        held.release()
    }

    func testFailedCreateFailsAllItsWaitersAtOnceWithTheCause() throws {
        let connector = FakeConnector()
        // All five acquires are queued long before the create fails (a 0.1 s delay left one pause of room).
        connector.createDelay = 0.5
        connector.createFails = { _ in true }
        let (pool, _) = try makePool(connector) { $0.clientLimit = 10; $0.acquireTimeout = .seconds(30) }
        let failures = Collector<ConnectionPoolError>()
        let all = expectation(description: "all failed")
        all.expectedFulfillmentCount = 5
        let started = Date()
        for _ in 0..<5 {
            pool.acquire { result in
                if let error = result.failureValue { failures.append(error) }
                all.fulfill()
            }
        }
        wait(for: [all], timeout: 5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 25, "failed long before the 30 s acquire timeout")
        XCTAssertEqual(failures.all.map(\.code), Array(repeating: .connectionFailed, count: 5))
        XCTAssertEqual(failures.all.first?.cause as? FakeError, FakeError(what: "create 1"))
        XCTAssertEqual(connector.snapshot.createCalls, 1, "one connection was tried for all five waiters")
        XCTAssertEqual(pool.snapshot.createFailures, 1)
        XCTAssertTrue(pool.invariantViolations().isEmpty, "\(pool.invariantViolations())")
    }

    func testFailedReadinessClosesTheConnectionAndFailsWaiters() throws {
        let connector = FakeConnector()
        connector.readyFails = { $0 == 1 }
        let (pool, _) = try makePool(connector)
        let first = Result { try pool.acquire() }
        let error = first.failureValue as? ConnectionPoolError
        XCTAssertEqual(error?.code, .connectionFailed)
        XCTAssertEqual(error?.cause as? FakeError, FakeError(what: "ready 1"))
        XCTAssertTrue(eventually { connector.snapshot.closes == 1 }, "a half-open connection is closed")
        XCTAssertTrue(connector.allConnections[0].isClosed)
        let second = try pool.acquire()
        XCTAssertEqual(second.connection.id, 2)
        second.release()
    }

    func testFailedCreateReroutesWaitersCoveredByAnotherOpeningConnection() throws {
        let connector = FakeConnector()
        connector.createDelay = 0.1
        connector.createFails = { $0 == 1 }
        let (pool, _) = try makePool(connector) {
            $0.clientLimit = 2; $0.maxSize = 2; $0.maxConcurrentCreates = 2
        }
        let outcomes = Collector<Bool>()
        let all = expectation(description: "all")
        all.expectedFulfillmentCount = 4
        for _ in 0..<4 {
            pool.acquire { result in
                if case .success(let lease) = result {
                    outcomes.append(true)
                    // Held well past the other create's end, whichever of the two ends first: released after 50 ms,
                    // a late failing create found room on the open connection for its waiters too.
                    DispatchQueue.global().asyncAfter(deadline: .now() + 1) { lease.release() }
                } else {
                    outcomes.append(false)
                }
                all.fulfill()
            }
        }
        wait(for: [all], timeout: 5)
        XCTAssertEqual(outcomes.all.filter { $0 }.count, 2, "two waiters re-routed to the connection that opened")
        XCTAssertEqual(outcomes.all.filter { !$0 }.count, 2, "two waiters failed with the failed create")
    }

    func testGetTimeoutAbandonsASlowCreateAndClosesWhatArrivesLate() throws {
        let connector = FakeConnector()
        connector.createDelay = 2  // arrives well after the snapshot below, even through a pause
        let (pool, _) = try makePool(connector) { $0.getTimeout = .seconds(0.1); $0.maxSize = 1 }
        let result = Result { try pool.acquire(timeout: .seconds(5)) }
        let error = result.failureValue as? ConnectionPoolError
        XCTAssertEqual(error?.code, .connectionFailed)
        XCTAssertEqual((error?.cause as? CoreError)?.code, .timedOut)
        XCTAssertEqual(pool.snapshot.open, 1, "the slow slot still counts against maxSize")
        XCTAssertTrue(eventually { connector.snapshot.closes == 1 }, "the late connection is closed")
        XCTAssertTrue(eventually { pool.snapshot.open == 0 })
        XCTAssertEqual(connector.snapshot.readyCalls, 0)
    }

    func testExpireRetiresAConnectionAfterItsLastLease() throws {
        let (pool, connector) = try makePool { $0.clientLimit = 5 }
        let a = try pool.acquire()
        let b = try pool.acquire()
        XCTAssertEqual(a.connection.id, b.connection.id)
        pool.expire(a)
        let c = try pool.acquire()
        XCTAssertNotEqual(c.connection.id, a.connection.id, "no new lease goes to an expired connection")
        a.release()
        XCTAssertFalse(a.connection.isClosed, "b still uses it")
        b.release()
        XCTAssertTrue(eventually { a.connection.isClosed })
        c.release(.discard)
        XCTAssertTrue(eventually { c.connection.isClosed })
        XCTAssertEqual(pool.snapshot.expirations, 2)
        XCTAssertEqual(connector.snapshot.open, 0)
    }

    func testWarmUpOpensConnectionsAheadOfNeed() throws {
        let (pool, connector) = try makePool { $0.maxSize = 4; $0.maxConcurrentCreates = 2 }
        XCTAssertEqual(try pool.warmUp(count: 3), 3)
        XCTAssertEqual(connector.snapshot.created, 3)
        XCTAssertEqual(pool.snapshot.ready, 3)
        XCTAssertEqual(pool.snapshot.leases, 0)
        XCTAssertEqual(try pool.warmUp(count: 99), 4, "capped at maxSize")
    }

    func testWarmUpReportsAFailedCreate() throws {
        let connector = FakeConnector()
        connector.createFails = { _ in true }
        let (pool, _) = try makePool(connector)
        let result = Result { try pool.warmUp(count: 2) }
        XCTAssertEqual((result.failureValue as? ConnectionPoolError)?.code, .connectionFailed)
    }

    func testCloseAllDrainsLeasesInFlightAndRefusesNewAcquires() throws {
        let (pool, connector) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        let queued = expectation(description: "queued waiter fails")
        pool.acquire { result in
            XCTAssertEqual(result.failureValue?.code, .poolClosed)
            queued.fulfill()
        }
        XCTAssertTrue(eventually { pool.snapshot.waiters == 1 })
        let closed = expectation(description: "closed")
        let closedFlag = LockedValue(false)
        pool.closeAll {
            closedFlag.withLockedValue { $0 = true }
            closed.fulfill()
        }
        wait(for: [queued], timeout: 5)
        let refused = Result { try pool.acquire() }
        XCTAssertEqual((refused.failureValue as? ConnectionPoolError)?.code, .poolClosed)
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertFalse(closedFlag.load(), "waits for the lease in flight")
        XCTAssertFalse(held.connection.isClosed)
        held.release()
        wait(for: [closed], timeout: 5)
        XCTAssertTrue(held.connection.isClosed)
        XCTAssertEqual(connector.snapshot.open, 0)
        XCTAssertEqual(pool.snapshot.expirations, 0, "shutting down is not an expiration")
        XCTAssertEqual(pool.snapshot.closes, 1)
    }

    func testCancellingAQueuedAcquire() throws {
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        let cancelled = expectation(description: "cancelled")
        let handle = pool.acquire { result in
            XCTAssertEqual(result.failureValue?.code, .cancelled)
            cancelled.fulfill()
        }
        XCTAssertTrue(eventually { pool.snapshot.waiters == 1 })
        handle.cancel()
        handle.cancel()
        wait(for: [cancelled], timeout: 5)
        XCTAssertEqual(pool.snapshot.waiters, 0)
        held.release()
        try pool.acquire().release()
    }

    func testInlineDeliveryRunsOnTheThreadThatResolvesTheWait() throws {
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        try pool.acquire().release()  // the connection is open and free
        // A free lease: delivered on the caller's thread before the call returns.
        let immediate = LockedValue<ConnectionPool<FakeConnector>.Lease?>(nil)
        pool.acquireDeliveringInline(timeoutSeconds: 5) { result in
            immediate.withLockedValue { $0 = try? result.get() }
        }
        guard let held = immediate.load() else { return XCTFail("a free lease is delivered before the call returns") }
        // A queued wait: delivered on the thread that releases the lease, before `release` returns.
        let releaser = DispatchQueue(label: "releaser")
        let key = DispatchSpecificKey<Int>()
        releaser.setSpecific(key: key, value: 7)
        let servedOn = LockedValue<Int?>(nil)
        let served = LockedValue<ConnectionPool<FakeConnector>.Lease?>(nil)
        pool.acquireDeliveringInline(timeoutSeconds: 5) { result in
            servedOn.withLockedValue { $0 = DispatchQueue.getSpecific(key: key) ?? -1 }
            served.withLockedValue { $0 = try? result.get() }
        }
        XCTAssertEqual(pool.snapshot.waiters, 1)
        XCTAssertNil(servedOn.load())
        let seenRightAfterRelease: Int? = releaser.sync {
            held.release()
            return servedOn.load()
        }
        XCTAssertEqual(seenRightAfterRelease, 7, "the waiter ran on the releasing queue, inside release()")
        // A wait that times out is failed too (from the pool's timer).
        let failed = expectation(description: "timed out")
        pool.acquireDeliveringInline(timeoutSeconds: 0.05) { result in
            XCTAssertEqual(result.failureValue?.code, .timedOut)
            failed.fulfill()
        }
        wait(for: [failed], timeout: 5)
        served.load()?.release()
        XCTAssertEqual(pool.snapshot.inUse, 0)
    }

    func testAnUnreleasedLeaseIsReturnedWhenDropped() throws {
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        do { _ = try pool.acquire() }
        XCTAssertEqual(pool.snapshot.inUse, 0)
        let lease = try pool.acquire(timeout: .seconds(0.5))
        lease.release()
        lease.release()
        XCTAssertEqual(pool.snapshot.inUse, 0, "a second release is ignored")
    }

    func testWithConnectionDiscardsOnRequest() throws {
        let (pool, connector) = try makePool()
        let id = try pool.withConnection { $0.id }
        XCTAssertEqual(id, 1)
        XCTAssertThrowsError(try pool.withConnection { _ in throw LeaseDiscardingError(FakeError(what: "broken")) })
        XCTAssertTrue(eventually { connector.snapshot.closes == 1 })
        XCTAssertEqual(try pool.withConnection { $0.id }, 2)
    }

    func testDroppingThePoolDrainsAndClosesItsConnections() throws {
        let connector = FakeConnector()
        var pool: Pool? = try makePool(connector) { $0.clientLimit = 2 }.0
        let held = try pool!.acquire()
        try pool!.warmUp(count: 2)
        pool = nil
        XCTAssertTrue(eventually { connector.snapshot.closes == 1 }, "the idle connection closes at once")
        XCTAssertFalse(held.connection.isClosed, "a lease in flight keeps its connection")
        held.release()
        XCTAssertTrue(eventually { connector.snapshot.open == 0 })
    }

    func testWaitersWithDifferentTimeoutsExpireInDeadlineOrder() throws {
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        let order = Collector<String>()
        let both = expectation(description: "both timed out")
        both.expectedFulfillmentCount = 2
        for (name, timeout) in [("slow", 0.4), ("fast", 0.1)] {
            pool.acquire(timeout: .seconds(timeout)) { result in
                XCTAssertEqual(result.failureValue?.code, .timedOut)
                order.append(name)
                both.fulfill()
            }
        }
        wait(for: [both], timeout: 5)
        XCTAssertEqual(order.all, ["fast", "slow"])
        XCTAssertEqual(pool.snapshot.acquireTimeouts, 2)
        held.release()
    }

    func testAServedWaiterReleasesItsCompletionAtOnceNotAtItsTimeout() throws {
        final class Token: Sendable {}
        let (pool, _) = try makePool { $0.clientLimit = 1; $0.maxSize = 1 }
        let held = try pool.acquire()
        weak var weakToken: Token?
        let served = expectation(description: "served")
        do {
            let token = Token()
            weakToken = token
            pool.acquire(timeout: .seconds(60)) { result in
                _ = token
                if case .success(let lease) = result { lease.release() }
                served.fulfill()
            }
        }
        XCTAssertTrue(eventually { pool.snapshot.waiters == 1 })
        held.release()
        wait(for: [served], timeout: 5)
        XCTAssertTrue(eventually { weakToken == nil }, "nothing keeps the completion until the 60 s timeout")
    }

    func testInvalidConfigurationNamesTheSetting() {
        XCTAssertThrowsError(try makePool { $0.clientLimit = 0 }) { error in
            XCTAssertEqual((error as? ConnectionPoolError)?.code, .invalidConfiguration)
            XCTAssertTrue("\(error)".contains("clientLimit"))
        }
        XCTAssertThrowsError(try makePool { $0.minReady = 20 }) { error in
            XCTAssertTrue("\(error)".contains("minReady"))
        }
        XCTAssertThrowsError(try makePool { $0.maxIdle = .seconds(-1) })
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
