import AzureClientsToolboxTesting
import ConnectionPooling
import Dispatch
import ToolboxCore
import XCTest

/// `ConnectionSelectionPolicy`: when a pool opens another connection for concurrent leases. The connector answers
/// only when the test says so and the clock moves only when told, so every step is checked as it happens.
final class PoolSelectionPolicyTests: XCTestCase {
    typealias Pool = ConnectionPool<ScriptedConnector>

    private func makePool(_ policy: ConnectionSelectionPolicy, maxSize: Int = 3, clientLimit: Int = 100,
                          clock: ManualClock = ManualClock()) throws -> (Pool, ScriptedConnector) {
        var configuration = ConnectionPoolConfiguration()
        configuration.metricsLabel = nil
        configuration.maxSize = maxSize
        configuration.clientLimit = clientLimit
        configuration.maxConcurrentCreates = maxSize
        configuration.selectionPolicy = policy
        let connector = ScriptedConnector()
        return (try Pool(connector: connector, configuration: configuration, clock: clock), connector)
    }

    /// Completes connection `id`'s create and readiness check.
    private func open(_ connector: ScriptedConnector, _ id: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(connector.finishCreate(id, ok: true), "create \(id) was not asked for", file: file, line: line)
        XCTAssertTrue(connector.finishReady(id, ok: true), "ready \(id) was not asked for", file: file, line: line)
    }

    /// The first lease: asked for, connection 1 opened for it, delivered.
    private func firstLease(_ pool: Pool, _ connector: ScriptedConnector) throws -> ConnectionLease<ScriptedConnection> {
        let got = LockedValue<ConnectionLease<ScriptedConnection>?>(nil)
        let served = expectation(description: "first lease")
        pool.acquire { result in
            got.withLockedValue { $0 = try? result.get() }
            served.fulfill()
        }
        XCTAssertEqual(connector.createCount, 1)
        open(connector, 1)
        wait(for: [served], timeout: 10)
        return try XCTUnwrap(got.load())
    }

    private func leaseNow(_ pool: Pool, file: StaticString = #filePath, line: UInt = #line) throws
        -> ConnectionLease<ScriptedConnection>
    {
        try XCTUnwrap(pool.tryAcquireImmediately(), "no lease was free at once", file: file, line: line)
    }

    func testSpreadOpensAConnectionPerConcurrentLeaseUpToMaxSizeWithoutMakingAnyoneWait() throws {
        let (pool, connector) = try makePool(.spread, maxSize: 3)
        let a = try firstLease(pool, connector)
        XCTAssertEqual(a.connection.id, 1)

        // A second concurrent lease shares connection 1 at once and a second connection starts opening.
        let b = try leaseNow(pool)
        XCTAssertEqual(b.connection.id, 1, "nobody waits for the new connection")
        XCTAssertEqual(connector.createCount, 2)
        let c = try leaseNow(pool)
        XCTAssertEqual(c.connection.id, 1)
        XCTAssertEqual(connector.createCount, 3, "three leases, three connections (maxSize)")

        // New leases go to the new, idle connections as they become ready; never more than maxSize open.
        open(connector, 2)
        let d = try leaseNow(pool)
        XCTAssertEqual(d.connection.id, 2)
        open(connector, 3)
        let e = try leaseNow(pool)
        XCTAssertEqual(e.connection.id, 3)
        let f = try leaseNow(pool)
        XCTAssertNotEqual(f.connection.id, 1, "the least loaded connection is chosen")
        XCTAssertEqual(connector.createCount, 3)
        XCTAssertEqual(pool.snapshot.ready, 3)
        for lease in [a, b, c, d, e, f] { lease.release() }
        XCTAssertEqual(pool.snapshot.inUse, 0)

        // Spread load that falls back to one caller does not open anything more.
        for _ in 0..<5 { try leaseNow(pool).release() }
        XCTAssertEqual(connector.createCount, 3)
    }

    func testShareFirstKeepsConcurrentLeasesOnOneConnectionUntilClientLimit() throws {
        let (pool, connector) = try makePool(.shareFirst, maxSize: 3, clientLimit: 4)
        let first = try firstLease(pool, connector)
        var leases = [first]
        for _ in 1..<4 { leases.append(try leaseNow(pool)) }
        XCTAssertEqual(Set(leases.map(\.connection.id)), [1])
        XCTAssertEqual(connector.createCount, 1, "no connection opens while the first has room")
        // Full: the next caller queues and only then is a second connection opened.
        XCTAssertNil(pool.tryAcquireImmediately())
        let served = expectation(description: "fifth")
        pool.acquire { result in
            XCTAssertEqual(try? result.get().connection.id, 2)
            (try? result.get())?.release()
            served.fulfill()
        }
        XCTAssertEqual(connector.createCount, 2)
        open(connector, 2)
        wait(for: [served], timeout: 10)
        for lease in leases { lease.release() }
    }

    func testSpreadRespectsClientLimitAndQueuesBeyondIt() throws {
        let (pool, connector) = try makePool(.spread, maxSize: 2, clientLimit: 2)
        let a = try firstLease(pool, connector)
        let b = try leaseNow(pool)
        XCTAssertEqual(connector.createCount, 2)
        XCTAssertNil(pool.tryAcquireImmediately(), "connection 1 is at clientLimit and connection 2 still opening")
        open(connector, 2)
        let c = try leaseNow(pool)
        let d = try leaseNow(pool)
        XCTAssertEqual([c, d].map(\.connection.id), [2, 2])
        XCTAssertNil(pool.tryAcquireImmediately(), "maxSize × clientLimit leases are out")
        XCTAssertEqual(connector.createCount, 2)
        for lease in [a, b, c, d] { lease.release() }
    }

    func testSpreadBacksOffAfterAFailedCreate() throws {
        let clock = ManualClock()
        let (pool, connector) = try makePool(.spread, maxSize: 3, clock: clock)
        let a = try firstLease(pool, connector)
        let b = try leaseNow(pool)
        XCTAssertEqual(connector.createCount, 2)
        XCTAssertTrue(connector.finishCreate(2, ok: false))
        // A broken endpoint is not hammered once per lease: no spreading open until the back-off has passed.
        let c = try leaseNow(pool)
        XCTAssertEqual(connector.createCount, 2)
        XCTAssertEqual(c.connection.id, 1)
        c.release()
        clock.advance(by: .seconds(1))
        let d = try leaseNow(pool)
        XCTAssertEqual(d.connection.id, 1)
        XCTAssertEqual(connector.createCount, 4, "after the back-off: two opens, for three leases on one connection")
        for lease in [a, b, d] { lease.release() }
    }

    func testPolicyIsAConfigurationValueWithShareFirstAsTheDefault() {
        XCTAssertEqual(ConnectionPoolConfiguration().selectionPolicy, .shareFirst)
        XCTAssertNotEqual(ConnectionPoolConfiguration.with { $0.selectionPolicy = .spread }, ConnectionPoolConfiguration())
        XCTAssertEqual(ConnectionSelectionPolicy(rawValue: "spread"), .spread)
    }
}
