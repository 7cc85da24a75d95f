import AzureEmulator
import Dispatch
import Foundation
import ToolboxCore
import XCTest

@testable import AzureEventHubs

final class ManagedEventHubProducerTests: XCTestCase {
    func testDefaultsMatchTheIssue() {
        let options = EventHubProducerOptions()
        XCTAssertEqual(options.pool.clientLimit, 100)
        XCTAssertEqual(options.pool.maxSize, 10)
        XCTAssertEqual(options.pool.maxIdle, .seconds(220))
        XCTAssertEqual(options.readiness, .managementRead)
    }

    func testConcurrentSendsShareFewConnectionsAndAreAllReadBack() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try ManagedEventHubProducer(connectionString: cs, options: fastRetryOptions {
            $0.pool.clientLimit = 8
            $0.pool.maxSize = 3
        })
        defer { try? producer.close() }
        XCTAssertEqual(try producer.warmUp(connections: 1), 1)
        XCTAssertEqual(producer.health.readyConnections, 1)

        let group = DispatchGroup()
        let failures = LockedValue<[String]>([])
        for i in 0..<200 {
            group.enter()
            producer.send(EventData(body: "e-\(i)")) { result in
                if case .failure(let error) = result { failures.withLockedValue { $0.append("\(error)") } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), [])
        let health = producer.health
        XCTAssertLessThanOrEqual(health.connectionsOpened, 3, "\(health)")
        XCTAssertEqual(health.inUseLeases, 0)
        XCTAssertEqual(health.reconnectCount, 0)
        let events = try readAll(connectionString: cs, partitions: 4, expected: 200)
        XCTAssertEqual(Set(events.map { $0.event.bodyAsString ?? "" }), Set((0..<200).map { "e-\($0)" }))
    }

    func testReadyMessageReadinessWritesOneEventPerConnection() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try ManagedEventHubProducer(connectionString: cs, options: fastRetryOptions {
            $0.readiness = .readyMessage(EventData(body: "Connection established"))
        })
        defer { try? producer.close() }
        try producer.send(EventData(body: "real"))
        let events = try PartitionReceiver(connectionString: cs, partitionID: "0", startingPosition: .earliest)
            .receive(maxEvents: 2, timeout: .seconds(10))
        XCTAssertEqual(events.map { $0.event.bodyAsString ?? "" }, ["Connection established", "real"])
    }

    func testManagementReadReadinessWritesNothing() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try ManagedEventHubProducer(connectionString: cs)
        defer { try? producer.close() }
        XCTAssertEqual(try producer.warmUp(connections: 2), 2)
        XCTAssertTrue(try producer.partitionProperties(partitionID: "0").isEmpty)
    }

    func testFailedReadinessFailsCallersWithTheCause() throws {
        let emulator = try startEventHubsEmulator(self) { $0.strictEntities = true }
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "missing"),
                                                   options: fastRetryOptions())
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .notFound, "\(error)")
        }
    }

    /// Many concurrent senders while the emulator drops connections at random: every event reported sent is
    /// read back (at-least-once: duplicates allowed, losses not).
    func testEveryEventReportedSentSurvivesDroppedConnections() throws {
        let emulator = try startEventHubsEmulator(self) { $0.faults.dropProbability = 0.01 }
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try ManagedEventHubProducer(connectionString: cs, options: fastRetryOptions {
            $0.retry.maxRetries = 30
            $0.pool.clientLimit = 16
            $0.pool.maxSize = 4
        })
        defer { try? producer.close() }
        let callers = 64
        let perCaller = Int(ProcessInfo.processInfo.environment["TOOLBOX_FAULT_EVENTS_PER_CALLER"] ?? "") ?? 40
        let sent = LockedValue<Set<String>>([])
        let failed = LockedValue<[String]>([])
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for i in 0..<perCaller {
                let body = "c\(caller)-\(i)"
                do {
                    try producer.send(EventData(body: body))
                    _ = sent.withLockedValue { $0.insert(body) }
                } catch {
                    failed.withLockedValue { $0.append("\(error)") }
                }
            }
        }
        let reported = sent.load()
        XCTAssertGreaterThan(reported.count, callers * perCaller * 9 / 10, "failures: \(failed.load().prefix(3))")
        XCTAssertGreaterThan(producer.health.reconnectCount, 0, "the fault never hit: \(producer.health)")

        // Read back without faults on the reading side: a fresh emulator cannot share state, so read through
        // reconnecting receivers (they resume from the last sequence number after a drop).
        let events = try readAll(connectionString: cs, partitions: 4, expected: reported.count, timeout: 60)
        let bodies = Set(events.map { $0.event.bodyAsString ?? "" })
        let missing = reported.subtracting(bodies)
        XCTAssertTrue(missing.isEmpty, "\(missing.count) events reported sent were not read back: \(missing.prefix(5))")
    }

    /// A pooled connection that died while idle is replaced on the next call without spending a retry.
    func testAConnectionThatDiedIdleIsReplacedWithoutAnError() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
                                                   options: fastRetryOptions { $0.retry.maxRetries = 0 })
        defer { try? producer.close() }
        try producer.send(EventData(body: "first"))
        let closed = expectation(description: "closed")
        let provider = producer.core.provider
        provider.acquire(timeout: 5, queue: .global()) { result in
            guard case .success(let handle) = result else { return XCTFail("\(result)") }
            provider.connection(of: handle).messaging.amqp.close(timeout: .seconds(1)) { _ in
                handle.release(discard: false)
                closed.fulfill()
            }
        }
        wait(for: [closed], timeout: 10)
        try producer.send(EventData(body: "second"))
        XCTAssertNil(producer.health.lastError, "\(producer.health)")
        XCTAssertEqual(producer.health.reconnectCount, 1)
        XCTAssertEqual(producer.health.connectionsOpened, 2)
    }

    func testCancellingASendDeliversCancelledOnce() throws {
        let emulator = try startEventHubsEmulator(self) { $0.faults.connectionSetupDelay = .seconds(2) }
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        let calls = LockedValue(0)
        let done = expectation(description: "completion")
        let handle = producer.send(EventData(body: "x")) { result in
            calls.withLockedValue { $0 += 1 }
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("sent") }
            done.fulfill()
        }
        handle.cancel()
        handle.cancel()
        wait(for: [done], timeout: 5)
        // Closing ends the send still in flight; a second completion would then be queued on the callback queue,
        // which a barrier block drains.
        try producer.close()
        LibraryQueues.defaultCallbackQueue.sync(flags: .barrier) {}
        XCTAssertEqual(calls.load(), 1)
    }

    /// One failed connection shared by many callers is replaced once for all of them.
    func testManyCallersOnAFailedConnectionShareOneReconnect() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
                                                   options: fastRetryOptions { $0.pool.maxSize = 1 })
        defer { try? producer.close() }
        XCTAssertEqual(try producer.warmUp(connections: 1), 1)
        let closed = expectation(description: "closed")
        let provider = producer.core.provider
        provider.acquire(timeout: 5, queue: .global()) { result in
            guard case .success(let handle) = result else { return XCTFail("\(result)") }
            provider.connection(of: handle).messaging.amqp.close(timeout: .seconds(1)) { _ in
                handle.release(discard: false)
                closed.fulfill()
            }
        }
        wait(for: [closed], timeout: 10)
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: 50) { i in
            if (try? producer.send(EventData(body: "after-\(i)"))) == nil { failures.withLockedValue { $0 += 1 } }
        }
        XCTAssertEqual(failures.load(), 0)
        XCTAssertEqual(producer.health.reconnectCount, 1, "\(producer.health)")
        XCTAssertEqual(producer.health.connectionsOpened, 2, "\(producer.health)")
    }
}
