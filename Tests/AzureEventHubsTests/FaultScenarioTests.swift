import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import Logging
import MessagingFaultSupport
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEventHubs

/// Event Hubs clients against a peer that misbehaves (issue 13's fault scenarios): the caller gets a typed error
/// within its deadline, every completion runs once, nothing reported sent is lost, and the client recovers when the
/// peer does. The faults come from a `FaultProxy` between the client and the emulator.
final class FaultScenarioTests: XCTestCase {
    private func proxy(_ emulator: Emulator) throws -> FaultProxy {
        let proxy = try FaultProxy(upstreamPort: emulator.amqpPort)
        addTeardownBlock { proxy.stop() }
        return proxy
    }

    private func endpoint(port: UInt16, idleTimeout: Double? = 60, tls: Bool = false) throws -> MessagingEndpoint {
        try FaultScenario.endpoint(port: port, idleTimeout: idleTimeout, tls: tls)
    }

    private func options(tryTimeout: Duration, retries: Int, _ change: (inout EventHubProducerOptions) -> Void = { _ in })
        -> EventHubProducerOptions
    {
        EventHubProducerOptions.with {
            $0.retry = RetryOptions(maxRetries: retries, delay: .seconds(0.02), maxDelay: .seconds(0.2), tryTimeout: tryTimeout)
            $0.readiness = .attach
            change(&$0)
        }
    }

    private func eventually(_ seconds: Double = 15, _ condition: () -> Bool) -> Bool {
        FaultScenario.eventually(seconds, condition)
    }

    private func stored(_ emulator: Emulator, partitions: Int, atLeast expected: Int) throws -> [String] {
        try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: partitions,
                    expected: expected, timeout: 5).compactMap { $0.event.bodyAsString }
    }

    // MARK: Refused and reset connections

    func testSendsThroughRefusedAndResetConnectionsFailTypedThenRecover() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 2)
        let proxy = try proxy(emulator)
        let producer = try ManagedEventHubProducer(
            endpoint: try endpoint(port: proxy.port), eventHubName: "eh1",
            options: options(tryTimeout: .seconds(2), retries: 2) { $0.pool.acquireTimeout = .seconds(1); $0.pool.getTimeout = .seconds(2) })
        defer { try? producer.close() }
        var succeeded: [String] = []
        for i in 0..<5 {
            try producer.send(EventData(body: "before \(i)"))
            succeeded.append("before \(i)")
        }

        // One outage by default; TOOLBOX_FAULT_CYCLES=N repeats it N times (a soak of a few minutes at N = 100).
        let cycles = ProcessInfo.processInfo.environment["TOOLBOX_FAULT_CYCLES"].flatMap { Int($0) } ?? 1
        for cycle in 0..<max(1, cycles) {
            proxy.mode = .refuse
            proxy.resetAll()
            FaultScenario.assertEachSendFails(prefix: "refused \(cycle).") { try producer.send(EventData(body: $0)) }

            // Concurrent sends while the endpoint comes back and then resets every connection once more.
            proxy.mode = .forward
            let outcome = try XCTUnwrap(FaultScenario.sendConcurrently(count: 60, prefix: "during \(cycle).", send: { body, done in
                producer.send(EventData(body: body)) { result in
                    if case .success = result { done(true) } else { done(false) }
                }
            }, during: { i in if i == 30 { proxy.resetAll() } }), "every send completed")
            XCTAssertTrue(outcome.eachCompletedOnce(60), "each completion ran exactly once")
            succeeded += outcome.succeeded
        }

        for i in 0..<5 {
            try producer.send(EventData(body: "after \(i)"))
            succeeded.append("after \(i)")
        }
        let bodies = try stored(emulator, partitions: 2, atLeast: succeeded.count)
        XCTAssertTrue(Set(succeeded).isSubset(of: Set(bodies)), "every event reported sent is stored")
        XCTAssertFalse(bodies.contains { $0.hasPrefix("refused") }, "nothing went through a refused connection")
        XCTAssertGreaterThan(proxy.acceptedCount, 2, "the client kept reconnecting")
    }

    func testSendsToAClosedPortFailWithConnectionLost() throws {
        let producer = EventHubProducer(endpoint: try endpoint(port: try freePort()), eventHubName: "eh1",
                                        options: options(tryTimeout: .seconds(5), retries: 2))
        defer { try? producer.close() }
        for _ in 0..<3 {
            XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
                XCTAssertEqual((error as? EventHubsError)?.code, .connectionLost, "\(error)")
            }
        }
    }

    // MARK: Handshakes that never complete

    func testATLSHandshakeThatNeverCompletesFailsWithinThePoolsAcquireTimeout() throws {
        let emulator = try startEventHubsEmulator(self)
        let proxy = try proxy(emulator)
        proxy.mode = .silent
        // The try may take 60 s and a connection 3 s to open, but a caller waits only the pool's acquireTimeout.
        let producer = try ManagedEventHubProducer(
            endpoint: try endpoint(port: proxy.port, tls: true), eventHubName: "eh1",
            options: options(tryTimeout: .seconds(60), retries: 0) { $0.pool.acquireTimeout = .seconds(0.5); $0.pool.getTimeout = .seconds(3) })
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
            let error = error as? EventHubsError
            XCTAssertEqual(error?.code, .timedOut, "\(String(describing: error))")
            // The pool's acquire time-out, not the try's; and it says the connection never opened (it said no lease
            // became free and to raise the pool's limits, which would not have helped).
            XCTAssertTrue(error?.message.contains("no connection was ready within 0.5") == true
                          && error?.message.contains("still opening") == true, "\(String(describing: error))")
        }
    }

    // MARK: Half-open connections and peers that stop reading

    func testAHalfOpenConnectionIsDroppedByTheIdleTimeoutAndSendReceiveAndManagementRecover() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try proxy(emulator)
        let producer = EventHubProducer(endpoint: try endpoint(port: proxy.port, idleTimeout: 1), eventHubName: "eh1",
                                        options: options(tryTimeout: .seconds(1.5), retries: 1))
        defer { try? producer.close() }
        let receiver = PartitionReceiver(endpoint: try endpoint(port: proxy.port, idleTimeout: 1), eventHubName: "eh1",
                                         partitionID: "0", startingPosition: .earliest,
                                         logger: Logger(label: "test"), clock: SystemClock(), connectTimeout: .seconds(2))
        defer { try? receiver.close() }
        try producer.send(EventData(body: "e0"))
        XCTAssertEqual(try receiver.receive(maxEvents: 1, timeout: .seconds(5)).map(\.sequenceNumber), [0])
        XCTAssertEqual(proxy.openCount, 2)

        proxy.mode = .silent
        XCTAssertTrue(eventually { proxy.openCount == 0 }, "both clients dropped their dead connection on their own")
        XCTAssertThrowsError(try producer.send(EventData(body: "lost"))) { error in
            let code = (error as? EventHubsError)?.code
            XCTAssertTrue(code == .timedOut || code == .connectionLost, "\(error)")
        }
        XCTAssertThrowsError(try producer.partitionProperties(partitionID: "0")) { error in
            let code = (error as? EventHubsError)?.code
            XCTAssertTrue(code == .timedOut || code == .connectionLost, "\(error)")
        }
        XCTAssertEqual(try receiver.receive(maxEvents: 1, timeout: .seconds(0.5)), [], "a receive during the outage is empty")

        proxy.mode = .forward
        try producer.send(EventData(body: "e1"))
        XCTAssertGreaterThanOrEqual(try producer.partitionProperties(partitionID: "0").lastEnqueuedSequenceNumber, 1)
        var received: [ReceivedEventData] = []
        XCTAssertTrue(eventually { received += (try? receiver.receive(maxEvents: 5, timeout: .seconds(0.3))) ?? []; return received.count >= 1 })
        let sequences = received.map(\.sequenceNumber)
        XCTAssertEqual(sequences, Array(1...Int64(sequences.count)), "the receiver resumed after e0: nothing skipped or repeated")
        XCTAssertEqual(received.last?.event.bodyAsString, "e1")
    }

    func testAConnectionWhosePeerStopsReadingIsRetiredAfterRepeatedTimeouts() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try proxy(emulator)
        // Heartbeats keep flowing from the peer, so only the client's own time-outs can tell the connection is stuck.
        let producer = try ManagedEventHubProducer(
            endpoint: try endpoint(port: proxy.port, idleTimeout: 1), eventHubName: "eh1",
            options: options(tryTimeout: .seconds(0.5), retries: 3) { $0.pool.acquireTimeout = .seconds(0.5); $0.pool.getTimeout = .seconds(1) })
        defer { try? producer.close() }
        try producer.send(EventData(body: "first"))
        proxy.mode = .stopReadingClient
        XCTAssertThrowsError(try producer.send(EventData(body: "stuck"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .timedOut, "\(error)")
        }
        XCTAssertGreaterThanOrEqual(producer.health.reconnectCount, 1, "the stuck connection was retired, not reused forever")
        proxy.mode = .forward
        proxy.resetAll()
        try producer.send(EventData(body: "after"))
        let bodies = try stored(emulator, partitions: 1, atLeast: 2)
        XCTAssertTrue(bodies.contains("first") && bodies.contains("after"), "\(bodies)")
    }

    // MARK: Attaches the peer never answers

    /// A basic producer (one-second tries, no retries) behind a proxy, connected by a first send of "hub".
    private func connectedProducer() throws -> (Emulator, FaultProxy, EventHubProducer) {
        let emulator = try startEventHubsEmulator(self, partitions: 2)
        let proxy = try proxy(emulator)
        let producer = EventHubProducer(endpoint: try endpoint(port: proxy.port), eventHubName: "eh1",
                                        options: options(tryTimeout: .seconds(1), retries: 0))
        addTeardownBlock { try? producer.close() }
        try producer.send(EventData(body: "hub"))
        return (emulator, proxy, producer)
    }

    func testASenderAttachThePeerNeverAnswersFailsTheTryAndTheNextAttachWorks() throws {
        let (emulator, proxy, producer) = try connectedProducer()
        proxy.frameFilter = FaultScenario.unansweredAttaches("/Partitions/")
        XCTAssertThrowsError(try producer.send(EventData(body: "never"), options: SendEventOptions(partitionID: "1"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .timedOut, "\(error)")
        }
        proxy.frameFilter = nil
        try producer.send(EventData(body: "answered"), options: SendEventOptions(partitionID: "1"))
        let bodies = try stored(emulator, partitions: 2, atLeast: 2)
        XCTAssertEqual(Set(bodies), ["hub", "answered"])
    }

    func testAManagementAttachThePeerNeverAnswersFailsTheTryAndTheNextAttachWorks() throws {
        let (_, proxy, producer) = try connectedProducer()
        proxy.frameFilter = FaultScenario.unansweredAttaches("$management")
        XCTAssertThrowsError(try producer.eventHubProperties()) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .timedOut, "\(error)")
        }
        proxy.frameFilter = nil
        XCTAssertEqual(try producer.eventHubProperties().partitionIDs, ["0", "1"])
    }

    /// Closing a partition receiver while it connects to a peer that accepted and never answered ends the connect
    /// at once: its socket stayed open until the connect's deadline.
    func testClosingAReceiverEndsItsConnectInProgress() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try proxy(emulator)
        proxy.mode = .silent
        let receiver = PartitionReceiver(endpoint: try endpoint(port: proxy.port), eventHubName: "eh1", partitionID: "0",
                                         startingPosition: .earliest, logger: Logger(label: "test"),
                                         clock: SystemClock(), connectTimeout: .seconds(120))
        let returned = expectation(description: "the receive returned")
        receiver.receive(maxEvents: 1, timeout: .seconds(60), queue: .global()) { result in
            if case .success(let events) = result, events.isEmpty { returned.fulfill() }
        }
        XCTAssertTrue(eventually { proxy.openCount == 1 }, "the connect reached the peer")
        try receiver.close()
        wait(for: [returned], timeout: 10)
        XCTAssertTrue(eventually { proxy.openCount == 0 }, "the connect's socket outlived close")
    }

    func testAReceiverAttachThePeerNeverAnswersDoesNotLeaveTheReceiverConnecting() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try proxy(emulator)
        let receiver = PartitionReceiver(endpoint: try endpoint(port: proxy.port), eventHubName: "eh1", partitionID: "0",
                                         startingPosition: .earliest, logger: Logger(label: "test"),
                                         clock: SystemClock(), connectTimeout: .seconds(0.5))
        defer { try? receiver.close() }
        proxy.frameFilter = FaultScenario.unansweredAttaches("/ConsumerGroups/")
        XCTAssertEqual(try receiver.receive(maxEvents: 1, timeout: .seconds(1)), [])
        proxy.frameFilter = nil
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        try producer.send(EventData(body: "e0"))
        var received: [ReceivedEventData] = []
        XCTAssertTrue(eventually { received += (try? receiver.receive(maxEvents: 1, timeout: .seconds(0.5))) ?? []; return !received.isEmpty },
                      "the receiver connected again once attaches were answered")
        XCTAssertEqual(received.map { $0.event.bodyAsString }, ["e0"])
    }

    // MARK: A peer that ignores credit

    func testAPeerThatIgnoresCreditCannotGrowTheReceiversBufferAndNothingIsLostOrRepeated() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        let total = 1500
        var next = 0
        while next < total {
            var batch = try producer.createBatch()
            while next < total, batch.tryAdd(EventData(body: "e\(next)")) { next += 1 }
            try producer.send(batch)
        }
        let proxy = try proxy(emulator)
        // The broker behaves as if the client had granted 1,000 more credit than it did on every flow.
        proxy.frameRewrite = { direction, frame in
            guard direction == .toPeer, case .amqp(let channel, .flow(var flow), let payload) = frame,
                  flow.handle != nil, let credit = flow.linkCredit else { return frame }
            flow.linkCredit = credit &+ 1000
            return .amqp(channel: channel, performative: .flow(flow), payload: payload)
        }
        let receiver = PartitionReceiver(endpoint: try endpoint(port: proxy.port), eventHubName: "eh1", partitionID: "0",
                                         startingPosition: .earliest, logger: Logger(label: "test"),
                                         clock: SystemClock(), connectTimeout: .seconds(5))
        defer { try? receiver.close() }
        var received = try receiver.receive(maxEvents: 1, timeout: .seconds(10))
        XCTAssertTrue(eventually { receiver.lastError?.condition == "amqp:link:transfer-limit-exceeded" },
                      "the overrun was noticed: \(String(describing: receiver.lastError))")
        XCTAssertLessThanOrEqual(receiver.bufferedCount, PartitionReceiver.prefetch, "the buffer stayed bounded")

        proxy.frameRewrite = nil
        XCTAssertTrue(eventually(60) {
            received += (try? receiver.receive(maxEvents: 500, timeout: .seconds(0.5))) ?? []
            return received.count >= total
        })
        XCTAssertEqual(received.map(\.sequenceNumber), (0..<Int64(total)).map { $0 }, "every event once, in order")
    }

    // MARK: Large events

    func testAnEventOfTheHubsMaximumSizeIsReceived() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        // The largest event that fits the link's max-message-size (1 MiB) on its own.
        let limit = try producer.createBatch().maxSizeInBytes
        var size = limit - 1024
        while true {
            var probe = try producer.createBatch()
            if !probe.tryAdd(EventData(body: [UInt8](repeating: 0x61, count: size + 64))) { break }
            size += 64
        }
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try producer.send(EventData(body: body))
        let receiver = try PartitionReceiver(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
                                             partitionID: "0", startingPosition: .earliest)
        defer { try? receiver.close() }
        let received = try skippingKnownFramePaddingBug { try receiver.receive(maxEvents: 1, timeout: .seconds(10)) }
        XCTAssertEqual(received.count, 1)
        XCTAssertEqual(received.first?.body, body, "all \(size) bytes intact")
    }

    // MARK: Reconnect backoff

    func testPartitionReceiverReconnectsWithCappedExponentialBackoff() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try proxy(emulator)
        proxy.mode = .refuse  // every connect fails with a transient error (reset during the handshake)
        let clock = ManualClock()
        let receiver = PartitionReceiver(endpoint: try endpoint(port: proxy.port), eventHubName: "eh1",
                                         partitionID: "0", logger: Logger(label: "test"), clock: clock)
        defer { try? receiver.close() }
        receiver.receive(maxEvents: 1, timeout: .seconds(600)) { _ in }
        var delays: [Double] = []
        for _ in 0..<10 {
            // On the clock: the receive's 600 s time-out, a connect's 60 s deadline while one is in flight, and the
            // reconnect delay (at most 36 s) once it failed.
            XCTAssertTrue(eventually { clock.nextDeadline.map { $0.seconds(since: clock.now()) < 50 } ?? false },
                          "a reconnect is scheduled on the clock")
            guard let next = clock.nextDeadline else { break }
            delays.append(next.seconds(since: clock.now()))
            clock.advance(to: next)
        }
        XCTAssertEqual(delays.count, 10)
        for (index, delay) in delays.enumerated() {
            let base = min(30, 0.2 * Double(1 << index))
            XCTAssertGreaterThanOrEqual(delay, base * 0.8 - 0.001, "delay \(index): \(delays)")
            XCTAssertLessThanOrEqual(delay, base * 1.2 + 0.001, "delay \(index): \(delays)")
        }
    }
}

