@_spi(Testing) import ConnectionPooling
import Dispatch
import Foundation
import ToolboxCore
import XCTest

/// Many threads, random connector failures and expirations: the invariants of DESIGN §5 must hold throughout.
/// Run under ThreadSanitizer by `.ci/run` (`swift test --sanitize=thread --filter PoolStressTests`).
final class PoolStressTests: XCTestCase {
    func testInvariantsHoldUnderContentionFailuresAndExpiry() throws {
        let threads = 64
        let targetLeases = 100_000
        let clientLimit = 4
        let maxSize = 8
        let maxCreates = 3

        let connector = FakeConnector()
        connector.createDelay = 0.001
        connector.readyDelay = 0.0005
        connector.createFails = { _ in Int.random(in: 0..<100) < 5 }
        connector.readyFails = { _ in Int.random(in: 0..<100) < 5 }
        let pool = try ConnectionPool(connector: connector, configuration: .with {
            $0.clientLimit = clientLimit
            $0.maxSize = maxSize
            $0.maxConcurrentCreates = maxCreates
            $0.acquireTimeout = .seconds(60)
            $0.maxIdle = .seconds(0.05)
            $0.metricsLabel = nil
        })

        let leases = LockedValue(0)
        let failures = LockedValue(0)
        let completions = LockedValue([Int: Int]())
        let violations = LockedValue([String]())
        let nextID = LockedValue(0)
        let group = DispatchGroup()

        @Sendable func note(_ problem: String) { violations.withLockedValue { if $0.count < 20 { $0.append(problem) } } }

        @Sendable func use(_ lease: ConnectionLease<FakeConnection>) {
            let users = lease.connection.beginUse()
            if users > clientLimit { note("connection \(lease.connection.id) has \(users) users") }
            if lease.connection.isClosed { note("leased a closed connection \(lease.connection.id)") }
            let roll = Int.random(in: 0..<1000)
            lease.connection.endUse()
            if roll < 5 {
                lease.release(.discard)
            } else if roll < 10 {
                pool.expire(lease)
                lease.release()
            } else {
                lease.release()
            }
        }

        for thread in 0..<threads {
            group.enter()
            let worker = Thread {
                let callbackQueue = DispatchQueue(label: "stress-\(thread)")
                while leases.load() < targetLeases {
                    let id = nextID.withLockedValue { $0 += 1; return $0 }
                    if id % 2 == 0 {
                        let done = DispatchSemaphore(value: 0)
                        pool.acquire(queue: callbackQueue) { result in
                            completions.withLockedValue { $0[id, default: 0] += 1 }
                            switch result {
                            case .success(let lease):
                                use(lease)
                                leases.withLockedValue { $0 += 1 }
                            case .failure:
                                failures.withLockedValue { $0 += 1 }
                            }
                            done.signal()
                        }
                        done.wait()
                    } else {
                        do {
                            let lease = try pool.acquire()
                            completions.withLockedValue { $0[id, default: 0] += 1 }
                            use(lease)
                            leases.withLockedValue { $0 += 1 }
                        } catch {
                            completions.withLockedValue { $0[id, default: 0] += 1 }
                            failures.withLockedValue { $0 += 1 }
                        }
                    }
                    if id % 997 == 0 {
                        let problems = pool.invariantViolations()
                        if !problems.isEmpty { note("invariants: \(problems)") }
                        let counts = connector.snapshot
                        if counts.open > maxSize { note("\(counts.open) open connections > maxSize") }
                        if pool.snapshot.opening > maxCreates { note("opening > maxConcurrentCreates") }
                    }
                }
                group.leave()
            }
            worker.stackSize = 1 << 20
            worker.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 600), .success, "stress run did not finish")

        XCTAssertEqual(violations.load(), [])
        let issued = nextID.load()
        let counted = completions.load()
        XCTAssertEqual(counted.count, issued, "every acquire completed")
        XCTAssertEqual(counted.values.filter { $0 != 1 }.count, 0, "every acquire completed exactly once")
        XCTAssertGreaterThanOrEqual(leases.load(), targetLeases)
        XCTAssertEqual(leases.load() + failures.load(), issued)

        let counts = connector.snapshot
        XCTAssertLessThanOrEqual(counts.maxOpen, maxSize)
        XCTAssertLessThanOrEqual(counts.maxOpening, maxCreates)
        XCTAssertTrue(connector.allConnections.allSatisfy { $0.maxUsers <= clientLimit })

        let snapshot = pool.snapshot
        print("stress: \(issued) acquires, \(failures.load()) failed, \(snapshot.creates) creates, "
            + "\(snapshot.createFailures) create failures, \(snapshot.expirations) expirations, "
            + "\(snapshot.waitedAcquires) waited")
        XCTAssertGreaterThan(snapshot.createFailures, 0, "the run exercised failed creates")
        XCTAssertGreaterThan(snapshot.expirations, 0, "the run exercised expiry")
        XCTAssertGreaterThan(snapshot.waitedAcquires, 0, "the run exercised queued waiters")
        XCTAssertEqual(snapshot.inUse, 0, "no lease lost")
        XCTAssertEqual(snapshot.waiters, 0)
        XCTAssertEqual(pool.invariantViolations(), [])
        try pool.closeAll()
        XCTAssertTrue(eventually { connector.snapshot.open == 0 }, "every created connection was closed")
        XCTAssertEqual(connector.snapshot.closes, connector.snapshot.created)
    }
}
