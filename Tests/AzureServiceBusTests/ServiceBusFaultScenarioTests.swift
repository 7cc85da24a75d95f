import AzureAuth
import AzureClientsToolboxTesting
import AzureEmulator
import Foundation
import MessagingFaultSupport
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// Service Bus clients against a peer that misbehaves (issue 13's fault scenarios), through a `FaultProxy`: a typed
/// error within the deadline, each completion once, nothing reported sent lost, recovery when the peer recovers.
final class ServiceBusFaultScenarioTests: XCTestCase {
    private func proxy(_ emulator: Emulator) throws -> FaultProxy {
        let proxy = try FaultProxy(upstreamPort: emulator.amqpPort)
        addTeardownBlock { proxy.stop() }
        return proxy
    }

    private func endpoint(port: UInt16, idleTimeout: Double? = 60) throws -> MessagingEndpoint {
        var endpoint = try FaultScenario.endpoint(port: port, idleTimeout: idleTimeout)
        endpoint.tokenTypeOverride = "jwt"
        return endpoint
    }

    private func options(tryTimeout: Duration, retries: Int, _ change: (inout ServiceBusClientOptions) -> Void = { _ in })
        -> ServiceBusClientOptions
    {
        ServiceBusClientOptions.with {
            $0.retry = RetryOptions(maxRetries: retries, delay: .seconds(0.02), maxDelay: .seconds(0.2), tryTimeout: tryTimeout)
            $0.readiness = .attach
            change(&$0)
        }
    }

    private func eventually(_ seconds: Double = 15, _ condition: () -> Bool) -> Bool {
        FaultScenario.eventually(seconds, condition)
    }

    /// Everything in `q1`, read directly from the emulator (not through the proxy).
    private func drain(_ emulator: Emulator) throws -> [String] {
        let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                              receiveMode: .receiveAndDelete)
        defer { try? receiver.close() }
        var bodies: [String] = []
        while true {
            let batch = try receiver.receive(maxMessages: 100, timeout: .seconds(0.5))
            if batch.isEmpty { return bodies }
            bodies += batch.compactMap { String(validating: $0.body, as: UTF8.self) }
        }
    }

    func testSendsThroughRefusedAndResetConnectionsFailTypedThenRecoverWithoutDuplicates() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        let sender = try ManagedServiceBusSender(
            endpoint: try endpoint(port: proxy.port), entityPath: "q1",
            options: options(tryTimeout: .seconds(2), retries: 2) { $0.pool.acquireTimeout = .seconds(1); $0.pool.getTimeout = .seconds(2) })
        defer { try? sender.close() }
        var succeeded: [String] = []
        for i in 0..<5 {
            try sender.send(ServiceBusMessage(body: "before \(i)"))
            succeeded.append("before \(i)")
        }
        proxy.mode = .refuse
        proxy.resetAll()
        FaultScenario.assertEachSendFails(prefix: "refused") { try sender.send(ServiceBusMessage(body: $0)) }
        proxy.mode = .forward
        let outcome = try XCTUnwrap(FaultScenario.sendConcurrently(count: 40, prefix: "during", send: { body, done in
            sender.send(ServiceBusMessage(body: body)) { result in
                if case .success = result { done(true) } else { done(false) }
            }
        }), "every send completed")
        XCTAssertTrue(outcome.eachCompletedOnce(40), "each completion ran exactly once")
        succeeded += outcome.succeeded
        let bodies = try drain(emulator)
        XCTAssertTrue(Set(succeeded).isSubset(of: Set(bodies)), "every message reported sent is stored")
        XCTAssertFalse(bodies.contains { $0.hasPrefix("refused") })
        XCTAssertEqual(bodies.count, Set(bodies).count, "no message stored twice")
    }

    func testAPeerThatIgnoresCreditCannotFloodTheReceiverAndEveryMessageIsStillReceivedOnce() throws {
        let emulator = try startServiceBusEmulator(self) { $0.lockDuration = .seconds(1) }
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        let total = 50
        for i in 0..<total { try sender.send(ServiceBusMessage(body: "m\(i)")) }
        let proxy = try proxy(emulator)
        // The broker behaves as if the client had granted 1,000 more credit than it did on every flow.
        proxy.frameRewrite = { direction, frame in
            guard direction == .toPeer, case .amqp(let channel, .flow(var flow), let payload) = frame,
                  flow.handle != nil, let credit = flow.linkCredit, credit > 0 else { return frame }
            flow.linkCredit = credit &+ 1000
            return .amqp(channel: channel, performative: .flow(flow), payload: payload)
        }
        let receiver = ServiceBusReceiver(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                          options: options(tryTimeout: .seconds(5), retries: 0))
        defer { try? receiver.close() }
        var bodies: [String] = []
        for message in try receiver.receive(maxMessages: 1, timeout: .seconds(10)) where (try? receiver.complete(message)) != nil {
            bodies.append(String(validating: message.body, as: UTF8.self) ?? "")
        }
        XCTAssertTrue(eventually { receiver.currentConnectionID == nil }, "the flooded link was abandoned")
        XCTAssertLessThanOrEqual(receiver.prefetchedCount, 1, "nothing beyond the credit was buffered")

        proxy.frameRewrite = nil
        XCTAssertTrue(eventually(60) {
            for message in (try? receiver.receive(maxMessages: 10, timeout: .seconds(0.5))) ?? [] {
                if (try? receiver.complete(message)) != nil { bodies.append(String(validating: message.body, as: UTF8.self) ?? "") }
            }
            return bodies.count >= total
        })
        XCTAssertEqual(Set(bodies), Set((0..<total).map { "m\($0)" }), "every message completed")
        XCTAssertEqual(bodies.count, total, "none completed twice")
    }

    func testAMessageOfTheEntitysMaximumSizeIsReceived() throws {
        let emulator = try startServiceBusEmulator(self)
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        // The largest message that fits the link's max-message-size (1 MiB): fill a batch's room with one body.
        let limit = try sender.createBatch().maxSizeInBytes
        var size = limit - 512
        while true {
            var probe = try sender.createBatch()
            if !probe.tryAdd(ServiceBusMessage(body: [UInt8](repeating: 0x61, count: size + 64))) { break }
            size += 64
        }
        let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try sender.send(ServiceBusMessage(body: body))
        for mode in [ServiceBusReceiveMode.peekLock] {
            let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                                  receiveMode: mode)
            defer { try? receiver.close() }
            let received = try skippingKnownFramePaddingBug { try receiver.receive(maxMessages: 1, timeout: .seconds(10)) }
            XCTAssertEqual(received.count, 1)
            XCTAssertEqual(received.first?.body, body, "all \(size) bytes intact")
            if let message = received.first { try receiver.complete(message) }
        }
    }

    func testAReceiverOnAHalfOpenConnectionReconnectsAndMissesNothing() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        let receiver = ServiceBusReceiver(endpoint: try endpoint(port: proxy.port, idleTimeout: 1), entityPath: "q1",
                                          receiveMode: .receiveAndDelete, options: options(tryTimeout: .seconds(2), retries: 0))
        defer { try? receiver.close() }
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "m0"))
        XCTAssertEqual(try receiver.receive(maxMessages: 1, timeout: .seconds(5)).map { String(validating: $0.body, as: UTF8.self) }, ["m0"])

        proxy.mode = .silent
        XCTAssertTrue(eventually { proxy.openCount == 0 }, "the receiver dropped its dead connection on its own")
        XCTAssertThrowsError(try receiver.peek(maxMessages: 1)) { error in
            let code = (error as? ServiceBusError)?.code
            XCTAssertTrue(code == .timedOut || code == .connectionLost, "management fails typed: \(error)")
        }
        proxy.mode = .forward
        try sender.send(ServiceBusMessage(body: "m1"))
        var received: [String] = []
        XCTAssertTrue(eventually {
            received += ((try? receiver.receive(maxMessages: 5, timeout: .seconds(0.3))) ?? []).compactMap { String(validating: $0.body, as: UTF8.self) }
            return !received.isEmpty
        })
        XCTAssertEqual(received, ["m1"])
        XCTAssertGreaterThanOrEqual(receiver.connectionsOpened, 2)
    }

    func testAReceiverAttachThePeerNeverAnswersFailsTheCallAndTheNextOneConnects() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        let receiver = ServiceBusReceiver(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                          receiveMode: .receiveAndDelete, options: options(tryTimeout: .seconds(0.5), retries: 0))
        defer { try? receiver.close() }
        proxy.frameFilter = FaultScenario.unansweredAttaches("/q1")
        XCTAssertThrowsError(try receiver.receive(maxMessages: 1, timeout: .seconds(5))) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .timedOut, "\(error)")
        }
        proxy.frameFilter = nil
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "m0"))
        XCTAssertEqual(try receiver.receive(maxMessages: 1, timeout: .seconds(5)).count, 1)
    }

    /// Closing a pooled sender whose connection is still opening (a peer that accepts and never answers) ends that
    /// open instead of waiting out the pool's 60 s `getTimeout` (`toolbox eventhubs send` lingered after its summary).
    func testClosingAPoolCancelsTheOpenInProgress() throws {
        try assertClosingAPoolIsPrompt("close waited for the open to time out") { $0.mode = .silent }
    }

    /// A pooled connection still proving itself ready (the entity attach, which the peer never answers) ends when
    /// the pool closes: `closeAll` waited for it up to `getTimeout` (an hour here).
    func testClosingAPoolEndsTheAttachThatProvesAConnectionReady() throws {
        try assertClosingAPoolIsPrompt("close waited for the attach") {
            $0.frameFilter = FaultScenario.unansweredAttaches("q1")
        }
    }

    /// A pooled sender whose first connection `fault` holds up (its send fails at the 0.5 s try time-out) closes
    /// within seconds, though the pool's `getTimeout` is an hour.
    private func assertClosingAPoolIsPrompt(_ why: String, file: StaticString = #filePath, line: UInt = #line,
                                            fault: (FaultProxy) -> Void) throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        fault(proxy)
        let sender = try ManagedServiceBusSender(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                                 options: options(tryTimeout: .seconds(0.5), retries: 0) {
                                                     $0.pool.getTimeout = .seconds(3600)
                                                 })
        XCTAssertThrowsError(try sender.send(ServiceBusMessage(body: "never")), file: file, line: line)
        let closed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? sender.close()
            closed.signal()
        }
        XCTAssertEqual(closed.wait(timeout: .now() + 15), .success, why, file: file, line: line)
    }

    /// Closing a basic (not pooled) sender while its connection is opening against a peer that accepted and never
    /// answered ends that open at once: it went on, socket and all, until its deadline (the try time-out).
    func testClosingABasicSenderEndsItsOpenInProgress() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        proxy.mode = .silent
        let sender = ServiceBusSender(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                      options: options(tryTimeout: .seconds(120), retries: 0))
        let failed = expectation(description: "the send failed")
        sender.send([ServiceBusMessage(body: "never")], queue: .global()) { result in
            if case .failure(let error) = result, error.code == .clientClosed { failed.fulfill() }
        }
        XCTAssertTrue(eventually { proxy.openCount == 1 }, "the open reached the peer")
        try sender.close()
        wait(for: [failed], timeout: 10)
        XCTAssertTrue(eventually { proxy.openCount == 0 }, "the open's connection outlived close")
    }

    /// Closing a receiver while it connects to a peer that accepted and never answered ends the connect at once:
    /// its socket stayed open until the connect's deadline (the try time-out).
    func testClosingAReceiverEndsItsConnectInProgress() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        proxy.mode = .silent
        let receiver = ServiceBusReceiver(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                          options: options(tryTimeout: .seconds(120), retries: 0))
        let returned = expectation(description: "the receive returned")
        receiver.receive(maxMessages: 1, timeout: .seconds(60), queue: .global()) { result in
            if case .success(let messages) = result, messages.isEmpty { returned.fulfill() }
        }
        XCTAssertTrue(eventually { proxy.openCount == 1 }, "the connect reached the peer")
        try receiver.close()
        wait(for: [returned], timeout: 10)
        XCTAssertTrue(eventually { proxy.openCount == 0 }, "the connect's socket outlived close")
    }

    /// A broker granting 2^31 or more credit (a uint, up to 2^32 - 1): sends go through. The sender took the sum
    /// for a signed serial number, saw no credit, and every send stalled until its time-out.
    func testALinkCreditOf2To31OrMoreIsCredit() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        proxy.frameRewrite = { direction, frame in
            guard direction == .toClient, case .amqp(let channel, .flow(var flow), let payload) = frame,
                  flow.handle != nil, let credit = flow.linkCredit, credit > 0 else { return frame }
            flow.linkCredit = UInt32.max
            return .amqp(channel: channel, performative: .flow(flow), payload: payload)
        }
        let sender = ServiceBusSender(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                      options: options(tryTimeout: .seconds(5), retries: 0))
        defer { try? sender.close() }
        for i in 0..<3 { try sender.send(ServiceBusMessage(body: "c\(i)")) }
        XCTAssertEqual(try drain(emulator).sorted(), ["c0", "c1", "c2"])
    }

    /// A peer that never confirms a settlement: `complete` fails with `.timedOut` after `tryTimeout` instead of
    /// waiting forever (`toolbox servicebus receive` hung, deaf to its own time-out and to SIGTERM).
    func testASettlementThePeerNeverConfirmsTimesOut() throws {
        let emulator = try startServiceBusEmulator(self)
        let proxy = try proxy(emulator)
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "m0"))
        let receiver = ServiceBusReceiver(endpoint: try endpoint(port: proxy.port), entityPath: "q1",
                                          receiveMode: .peekLock, options: options(tryTimeout: .seconds(1), retries: 0))
        defer { try? receiver.close() }
        let message = try XCTUnwrap(receiver.receive(maxMessages: 1, timeout: .seconds(10)).first)
        proxy.frameFilter = { direction, frame in
            guard direction == .toClient, case .amqp(_, .disposition, _) = frame else { return true }
            return false
        }
        XCTAssertThrowsError(try receiver.complete(message)) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .timedOut, "\(error)")
            XCTAssertTrue("\(error)".contains("did not confirm"), "\(error)")
        }
    }

    func testAReceiverWhoseTokenLapsesUnrenewedFailsWithUnauthorized() throws {
        let emulator = try startServiceBusEmulator(self)
        let credential = EmulatorTokenCredential(emulator: emulator, lifetime: 2, limit: 1)
        let receiver = ServiceBusReceiver(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, queueName: "q1",
                                          credential: credential,
                                          options: options(tryTimeout: .seconds(5), retries: 0) { $0.allowPlainTextForDevelopment = true })
        defer { try? receiver.close() }
        XCTAssertEqual(try receiver.receive(maxMessages: 1, timeout: .seconds(0.2)).count, 0)
        XCTAssertThrowsError(try receiver.receive(maxMessages: 1, timeout: .seconds(10))) { error in
            XCTAssertEqual((error as? ServiceBusError)?.code, .unauthorized, "\(error)")
        }
    }

    func testAReceiverWithShortTokensKeepsReceivingWhileTheRefreshKeepsUp() throws {
        let emulator = try startServiceBusEmulator(self)
        let credential = EmulatorTokenCredential(emulator: emulator, lifetime: 2)
        let receiver = ServiceBusReceiver(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, queueName: "q1",
                                          credential: credential,
                                          options: options(tryTimeout: .seconds(5), retries: 0) { $0.allowPlainTextForDevelopment = true })
        defer { try? receiver.close() }
        let sender = try ServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1")
        defer { try? sender.close() }
        var received: [String] = []
        let started = Date()
        var sent = 0
        while Date().timeIntervalSince(started) < 5 {
            try sender.send(ServiceBusMessage(body: "m\(sent)"))
            sent += 1
            for message in try receiver.receive(maxMessages: 1, timeout: .seconds(5)) {
                received.append(String(validating: message.body, as: UTF8.self) ?? "")
                try receiver.complete(message)
            }
            Thread.sleep(forTimeInterval: 0.25)  // pacing across token lifetimes, not synchronisation
        }
        XCTAssertEqual(received, (0..<sent).map { "m\($0)" })
        XCTAssertEqual(receiver.connectionsOpened, 1, "one connection, its token renewed")
    }
}
