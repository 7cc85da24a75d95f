import AzureEmulator
import Dispatch
import Foundation
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureServiceBus

func startServiceBusEmulator(_ test: XCTestCase, queues: [String] = ["q1"],
                             _ change: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
    var configuration = EmulatorConfiguration()
    configuration.queues = queues
    change(&configuration)
    let emulator = try Emulator.start(configuration)
    test.addTeardownBlock { emulator.stop() }
    return emulator
}

func fastOptions(_ change: (inout ServiceBusClientOptions) -> Void = { _ in }) -> ServiceBusClientOptions {
    ServiceBusClientOptions.with {
        $0.retry = RetryOptions(maxRetries: 5, delay: .seconds(0.02), maxDelay: .seconds(0.5), tryTimeout: .seconds(10))
        change(&$0)
    }
}

final class ServiceBusTests: XCTestCase {
    func testSendEveryFieldAndCompleteInPeekLock() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        var message = ServiceBusMessage(body: "hello sb", messageID: "mid-1", applicationProperties: ["k": "v", "n": .int(3)])
        message.contentType = "text/plain"
        message.correlationID = "corr-1"
        message.subject = "subj"
        message.partitionKey = "sess-1"  // with a session id, the partition key must be the same (the SDKs refuse others)
        message.sessionID = "sess-1"
        message.replyTo = "replyq"
        message.to = "dest"
        message.timeToLive = .seconds(300)
        try sender.send(message)

        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        let received = try receiver.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(received.count, 1)
        let got = try XCTUnwrap(received.first)
        XCTAssertEqual(got.message.bodyAsString, "hello sb")
        XCTAssertEqual(got.message.messageID, "mid-1")
        XCTAssertEqual(got.message.contentType, "text/plain")
        XCTAssertEqual(got.message.correlationID, "corr-1")
        XCTAssertEqual(got.message.subject, "subj")
        XCTAssertEqual(got.message.partitionKey, "sess-1")
        XCTAssertEqual(got.message.sessionID, "sess-1")
        XCTAssertEqual(got.message.replyTo, "replyq")
        XCTAssertEqual(got.message.to, "dest")
        XCTAssertEqual(got.message.timeToLive, .seconds(300))
        XCTAssertEqual(got.message.applicationProperties["n"], .int(3))
        XCTAssertNotNil(got.lockToken)
        XCTAssertNotNil(got.lockedUntil)
        XCTAssertGreaterThan(got.sequenceNumber, 0)
        XCTAssertEqual(got.deliveryCount, 0)
        XCTAssertGreaterThan(try receiver.renewLock(got).timeIntervalSinceNow, 0)
        try receiver.complete(got)
        XCTAssertEqual(try receiver.receive(maxMessages: 1, timeout: .seconds(0.3)).count, 0, "completed messages are gone")
    }

    /// Ids, session ids and partition keys over 128 characters, or a partition key other than the session id, are
    /// refused before anything is sent, as azure-servicebus refuses them (the emulator took them; Azure does not).
    func testPropertiesTheServiceRefusesAreRefusedBeforeSending() throws {
        let emulator = try startServiceBusEmulator(self)
        let sender = try ManagedServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                                 options: fastOptions())
        defer { try? sender.close() }
        var longID = ServiceBusMessage(body: "x", messageID: String(repeating: "i", count: 129))
        var longKey = ServiceBusMessage(body: "x")
        longKey.partitionKey = String(repeating: "k", count: 129)
        var mismatch = ServiceBusMessage(body: "x")
        mismatch.sessionID = "s1"
        mismatch.partitionKey = "p1"
        for (message, words) in [(longID, "message id has 129"), (longKey, "partition key has 129"), (mismatch, "differs")] {
            XCTAssertThrowsError(try sender.send(message)) { error in
                XCTAssertEqual((error as? ServiceBusError)?.code, .invalidArgument)
                XCTAssertTrue("\(error)".contains(words), "\(error)")
            }
        }
        XCTAssertThrowsError(try sender.send([ServiceBusMessage(body: "ok"), longID])) { error in
            XCTAssertTrue("\(error)".contains("message 1: the message id"), "\(error)")
        }
        XCTAssertThrowsError(try sender.schedule([longKey], at: Date().addingTimeInterval(60)))
        longID.messageID = String(repeating: "i", count: 128)
        try sender.send(longID)
        mismatch.partitionKey = "s1"
        try sender.send(mismatch)
    }

    func testBatchAbandonDeadLetterAndDefer() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        try sender.send(["a", "b", "c"].map { ServiceBusMessage(body: $0) })
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        let three = try receiver.receive(maxMessages: 3, timeout: .seconds(10))
        XCTAssertEqual(three.map { $0.message.bodyAsString ?? "" }, ["a", "b", "c"])

        try receiver.abandon(three[0])
        try receiver.deadLetter(three[1], reason: "bad", description: "could not parse")
        try receiver.defer(three[2])

        let again = try receiver.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(again.first?.message.bodyAsString, "a")
        XCTAssertEqual(again.first?.deliveryCount, 1)
        try receiver.complete(try XCTUnwrap(again.first))

        let deferred = try receiver.receiveDeferred(sequenceNumbers: [three[2].sequenceNumber])
        XCTAssertEqual(deferred.map { $0.message.bodyAsString ?? "" }, ["c"])
        try receiver.complete(try XCTUnwrap(deferred.first))

        let dlq = try ServiceBusReceiver(connectionString: cs, queueName: "q1", deadLetterQueue: true)
        defer { try? dlq.close() }
        let dead = try dlq.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(dead.first?.message.bodyAsString, "b")
        XCTAssertEqual(dead.first?.deadLetterReason, "bad")
        XCTAssertEqual(dead.first?.deadLetterErrorDescription, "could not parse")
        try dlq.complete(try XCTUnwrap(dead.first))
    }

    func testScheduleCancelDelayAndPeek() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ManagedServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        let far = try sender.schedule([ServiceBusMessage(body: "never")], at: Date().addingTimeInterval(3600))
        XCTAssertEqual(far.count, 1)
        try sender.cancelScheduled(far)
        let soon = try sender.send([ServiceBusMessage(body: "soon")], delay: .seconds(0))
        XCTAssertEqual(soon.count, 1)
        try sender.send(ServiceBusMessage(body: "now"))

        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? receiver.close() }
        let peeked = try receiver.peek(maxMessages: 10)
        XCTAssertEqual(Set(peeked.map { $0.message.bodyAsString ?? "" }), ["soon", "now"])
        XCTAssertTrue(peeked.allSatisfy { $0.lockToken == nil })
        XCTAssertEqual(try receiver.peek(maxMessages: 10).count, 0, "peek continues after the last peeked message")
        let received = try receiver.receive(maxMessages: 2, timeout: .seconds(10))
        XCTAssertEqual(Set(received.map { $0.message.bodyAsString ?? "" }), ["soon", "now"])
    }

    func testReceiveAndDelete() throws {
        let emulator = try startServiceBusEmulator(self)
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        for i in 0..<5 { try sender.send(ServiceBusMessage(body: "m\(i)")) }
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", receiveMode: .receiveAndDelete)
        defer { try? receiver.close() }
        let got = try receiver.receive(maxMessages: 5, timeout: .seconds(10))
        XCTAssertEqual(got.map { $0.message.bodyAsString ?? "" }, (0..<5).map { "m\($0)" })
        XCTAssertNil(got[0].lockToken)
        XCTAssertThrowsError(try receiver.complete(got[0])) {
            XCTAssertEqual(($0 as? ServiceBusError)?.code, .invalidArgument)
        }
        try receiver.close()
        let peekLock = try ServiceBusReceiver(connectionString: cs, queueName: "q1")
        defer { try? peekLock.close() }
        XCTAssertEqual(try peekLock.receive(maxMessages: 1, timeout: .seconds(0.3)).count, 0)
    }

    func testCompletionHandlersAndUnknownQueue() throws {
        let emulator = try startServiceBusEmulator(self) { $0.strictEntities = true }
        let cs = emulator.serviceBusConnectionString
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1")
        defer { try? sender.close() }
        let done = expectation(description: "sent")
        let queue = DispatchQueue(label: "sb.test")
        sender.send(ServiceBusMessage(body: "cb"), queue: queue) { result in
            dispatchPrecondition(condition: .onQueue(queue))
            if case .failure(let error) = result { XCTFail("\(error)") }
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        let missing = try ServiceBusSender(connectionString: cs, queueName: "nope", options: fastOptions())
        defer { try? missing.close() }
        XCTAssertThrowsError(try missing.send(ServiceBusMessage(body: "x"))) {
            XCTAssertEqual(($0 as? ServiceBusError)?.code, .notFound, "\($0)")
        }
    }

    /// A full queue refuses a send and a schedule with `amqp:resource-limit-exceeded`: the client fails at once with
    /// `.quotaExceeded` (the Azure SDKs' QuotaExceeded, not retried). With an hour's retry delay, a retry would
    /// hold each completion far past the wait below.
    func testAFullQueueFailsAtOnceWithQuotaExceeded() throws {
        let emulator = try startServiceBusEmulator(self) { $0.limits.maxMessagesPerQueue = 2 }
        let options = ServiceBusClientOptions.with {
            $0.retry = RetryOptions(maxRetries: 3, delay: .seconds(3600), maxDelay: .seconds(3600), tryTimeout: .seconds(30))
        }
        let sender = try ManagedServiceBusSender(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                                 options: options)
        defer { try? sender.close() }
        try sender.send(ServiceBusMessage(body: "one"))
        try sender.send(ServiceBusMessage(body: "two"))
        let sent = expectation(description: "send refused")
        sender.send(ServiceBusMessage(body: "three"), queue: .global()) { result in
            guard case .failure(let error) = result else { return XCTFail("a send to a full queue succeeded") }
            XCTAssertEqual(error.code, .quotaExceeded, "\(error)")
            XCTAssertEqual(error.condition, "amqp:resource-limit-exceeded")
            XCTAssertTrue(error.conditionDescription?.contains("limit of 2") == true, "\(error)")
            sent.fulfill()
        }
        let scheduled = expectation(description: "schedule refused")
        sender.schedule([ServiceBusMessage(body: "later")], at: Date().addingTimeInterval(600), queue: .global()) { result in
            guard case .failure(let error) = result else { return XCTFail("a schedule on a full queue succeeded") }
            XCTAssertEqual(error.code, .quotaExceeded, "\(error)")
            scheduled.fulfill()
        }
        wait(for: [sent, scheduled], timeout: 60)
    }

    func testManagedSenderDefaultsAndDroppedConnections() throws {
        XCTAssertEqual(ServiceBusClientOptions().pool.maxIdle, .seconds(200))
        let emulator = try startServiceBusEmulator(self) { $0.faults.dropProbability = 0.01 }
        let cs = emulator.serviceBusConnectionString
        let sender = try ManagedServiceBusSender(connectionString: cs, queueName: "q1", options: fastOptions {
            $0.retry.maxRetries = 30
            $0.pool.clientLimit = 8
            $0.pool.maxSize = 4
        })
        defer { try? sender.close() }
        let sent = LockedValue<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: 32) { caller in
            for i in 0..<25 {
                let id = "c\(caller)-\(i)"
                if (try? sender.send(ServiceBusMessage(body: id, messageID: id))) != nil {
                    _ = sent.withLockedValue { $0.insert(id) }
                }
            }
        }
        let reported = sent.load()
        XCTAssertGreaterThan(reported.count, 700)
        XCTAssertGreaterThan(sender.health.reconnectCount, 0, "the fault never hit: \(sender.health)")
        var bodies = Set<String>()
        let deadline = Date().addingTimeInterval(60)
        while !reported.isSubset(of: bodies) && Date() < deadline {
            let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", receiveMode: .receiveAndDelete)
            while let batch = try? receiver.receive(maxMessages: 200, timeout: .seconds(0.5)), !batch.isEmpty {
                bodies.formUnion(batch.compactMap { $0.message.bodyAsString })
            }
            try? receiver.close()
        }
        let missing = reported.subtracting(bodies)
        XCTAssertTrue(missing.isEmpty, "\(missing.count) messages reported sent were not received: \(missing.prefix(5))")
    }
}
