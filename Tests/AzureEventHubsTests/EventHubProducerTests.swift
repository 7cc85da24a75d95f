import AzureAuth
import AzureEmulator
import Dispatch
import Foundation
import MessagingFaultSupport
import ToolboxAMQP
import ToolboxCore
import XCTest

@testable import AzureEventHubs

final class EventHubProducerTests: XCTestCase {
    /// A connection string with EntityPath names its entity: another name is refused, as the Azure SDKs refuse it
    /// (it silently sent to the other entity, which the emulator then created). The same name in another case, or
    /// a subscription or dead-letter queue of it, is that entity.
    func testAnEntityNameThatContradictsEntityPathIsRefused() throws {
        let scoped = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=hub1"
        XCTAssertThrowsError(try EventHubProducer(connectionString: scoped, eventHubName: "other")) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .invalidArgument)
            XCTAssertTrue("\(error)".contains("'other'") && "\(error)".contains("'hub1'"), "\(error)")
            XCTAssertFalse("\(error)".contains("c2VjcmV0"))
        }
        XCTAssertThrowsError(try ManagedEventHubProducer(connectionString: scoped, eventHubName: "hub2"))
        try EventHubProducer(connectionString: scoped, eventHubName: "HUB1").close()
        try EventHubProducer(connectionString: scoped).close()
        let options = MessagingClientOptions<EventHubReadiness>()
        XCTAssertEqual(try options.endpoint(connectionString: scoped, entity: "hub1/Subscriptions/s",
                                            named: ("queue name", "queueName")).entityPath, "hub1/Subscriptions/s")
        XCTAssertEqual(try options.endpoint(connectionString: scoped, entity: "hub1/$DeadLetterQueue",
                                            named: ("queue name", "queueName")).entityPath, "hub1/$DeadLetterQueue")
    }

    func testBlockingSendOneManyAndByPartitionAreReadBack() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try EventHubProducer(connectionString: cs)
        defer { try? producer.close() }

        var first = EventData(body: "one", contentType: "text/plain", messageID: "m-1", correlationID: "c-1")
        first.properties = ["color": "red", "n": .int(7)]
        try producer.send(first, options: SendEventOptions(partitionID: "2"))
        try producer.send([EventData(body: "two"), EventData(body: "three")], options: SendEventOptions(partitionID: "2"))

        let receiver = try PartitionReceiver(connectionString: cs, partitionID: "2", startingPosition: .earliest)
        defer { try? receiver.close() }
        let events = try receiver.receive(maxEvents: 3, timeout: .seconds(10))
        XCTAssertEqual(events.map { $0.event.bodyAsString }, ["one", "two", "three"])
        XCTAssertEqual(events[0].event.contentType, "text/plain")
        XCTAssertEqual(events[0].event.messageID, "m-1")
        XCTAssertEqual(events[0].event.correlationID, "c-1")
        XCTAssertEqual(events[0].event.properties["color"], .string("red"))
        XCTAssertEqual(events[0].event.properties["n"], .int(7))
        XCTAssertEqual(events.map(\.sequenceNumber), [events[0].sequenceNumber, events[0].sequenceNumber + 1,
                                                      events[0].sequenceNumber + 2])
        XCTAssertEqual(producer.health.connectionsOpened, 1, "the basic producer shares one connection")
    }

    func testPartitionKeyIsStickyAndCarried() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try EventHubProducer(connectionString: cs)
        defer { try? producer.close() }
        for i in 0..<6 { try producer.send(EventData(body: "k\(i)"), options: SendEventOptions(partitionKey: "customer-42")) }
        let events = try readAll(connectionString: cs, partitions: 4, expected: 6, timeout: 10)
        XCTAssertEqual(events.count, 6)
        XCTAssertEqual(Set(events.map(\.partitionKey)), ["customer-42"])
        XCTAssertEqual(events.map { $0.event.bodyAsString ?? "" }, (0..<6).map { "k\($0)" }, "one partition, in order")
    }

    func testCompletionHandlerFormsDeliverOnTheGivenQueue() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        let queue = DispatchQueue(label: "test.callbacks")
        let key = DispatchSpecificKey<Int>()
        queue.setSpecific(key: key, value: 42)
        let sent = expectation(description: "sent")
        producer.send(EventData(body: "cb"), queue: queue) { result in
            XCTAssertEqual(DispatchQueue.getSpecific(key: key), 42)
            if case .failure(let error) = result { XCTFail("\(error)") }
            sent.fulfill()
        }
        let batched = expectation(description: "batch")
        producer.createBatch(options: SendEventOptions(partitionKey: "p"), queue: queue) { result in
            guard case .success(var batch) = result else { return XCTFail("\(result)") }
            XCTAssertEqual(batch.maxSizeInBytes, 1_048_576, "the emulator's max-message-size")
            XCTAssertTrue(batch.tryAdd(EventData(body: "b1")))
            XCTAssertTrue(batch.tryAdd(EventData(body: "b2")))
            producer.send(batch, queue: queue) { result in
                if case .failure(let error) = result { XCTFail("\(error)") }
                batched.fulfill()
            }
        }
        let properties = expectation(description: "properties")
        producer.eventHubProperties(queue: queue) { result in
            XCTAssertEqual(try? result.get().partitionIDs, ["0", "1", "2", "3"])
            properties.fulfill()
        }
        wait(for: [sent, batched, properties], timeout: 20)
    }

    func testManagementReads() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        XCTAssertEqual(try producer.partitionIDs(), ["0", "1", "2", "3"])
        let empty = try producer.partitionProperties(partitionID: "1")
        XCTAssertTrue(empty.isEmpty)
        try producer.send([EventData(body: "a"), EventData(body: "b")], options: SendEventOptions(partitionID: "1"))
        let props = try producer.partitionProperties(partitionID: "1")
        XCTAssertFalse(props.isEmpty)
        XCTAssertEqual(props.id, "1")
        XCTAssertEqual(props.lastEnqueuedSequenceNumber - props.beginningSequenceNumber, 1)
        XCTAssertThrowsError(try producer.partitionProperties(partitionID: "99")) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .notFound)
        }
        // Partition ids are names: "01" and "+1" are not partition "1" (the emulator read them as numbers).
        for id in ["01", "+1", " 1"] {
            XCTAssertThrowsError(try producer.partitionProperties(partitionID: id), id) { error in
                XCTAssertEqual((error as? EventHubsError)?.code, .notFound, id)
            }
            XCTAssertThrowsError(try producer.send(EventData(body: "x"), options: SendEventOptions(partitionID: id)), id) {
                XCTAssertEqual(($0 as? EventHubsError)?.code, .notFound, "\(id): \($0)")
            }
        }
    }

    func testTooLargeEventsFailWithoutRetry() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: [UInt8](repeating: 1, count: 1_100_000)))) { error in
            let error = error as? EventHubsError
            XCTAssertEqual(error?.code, .messageSizeExceeded)
            XCTAssertEqual(error?.condition, "amqp:link:message-size-exceeded")
            XCTAssertFalse(error?.isTransient ?? true)
        }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"), options: SendEventOptions(partitionKey: "k", partitionID: "0"))) {
            XCTAssertEqual(($0 as? EventHubsError)?.code, .invalidArgument)
        }
    }

    func testWrongKeyIsUnauthorizedAndKeyNeverAppearsInTheError() throws {
        let emulator = try startEventHubsEmulator(self)
        let cs = "Endpoint=sb://127.0.0.1:\(emulator.amqpPort);SharedAccessKeyName=RootManageSharedAccessKey;"
            + "SharedAccessKey=not-the-key-SECRET123;EntityPath=eh1;UseDevelopmentEmulator=true"
        let producer = try EventHubProducer(connectionString: cs, options: fastRetryOptions())
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
            let error = error as? EventHubsError
            XCTAssertEqual(error?.code, .unauthorized, "\(String(describing: error))")
            XCTAssertFalse("\(String(describing: error))".contains("SECRET123"))
            XCTAssertFalse("\(String(describing: error))".contains("sig="))
        }
        XCTAssertNotNil(producer.health.lastError)
        XCTAssertNotNil(producer.health.lastErrorAt)
    }

    func testUnknownHubIsNotFound() throws {
        let emulator = try startEventHubsEmulator(self) { $0.strictEntities = true }
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "nope"),
                                            options: fastRetryOptions())
        defer { try? producer.close() }
        XCTAssertThrowsError(try producer.send(EventData(body: "x"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .notFound, "\(error)")
            XCTAssertEqual((error as? EventHubsError)?.condition, "amqp:not-found")
        }
    }

    func testServerBusyIsRetriedThenSucceeds() throws {
        let emulator = try startEventHubsEmulator(self) { $0.faults.serverBusyRate = 0.3 }
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try EventHubProducer(connectionString: cs, options: fastRetryOptions { $0.retry.maxRetries = 20 })
        defer { try? producer.close() }
        for i in 0..<30 { try producer.send(EventData(body: "busy-\(i)"), options: SendEventOptions(partitionID: "0")) }
        let events = try PartitionReceiver(connectionString: cs, partitionID: "0", startingPosition: .earliest)
            .receive(maxEvents: 30, timeout: .seconds(10))
        XCTAssertEqual(events.map { $0.event.bodyAsString ?? "" }, (0..<30).map { "busy-\($0)" })
        XCTAssertEqual(producer.health.lastError?.contains("server-busy"), true, "\(producer.health)")
    }

    func testBlockingFormFailsFastOnALibraryQueue() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        defer { try? producer.close() }
        let done = expectation(description: "callback")
        producer.send(EventData(body: "x")) { _ in
            do {
                try producer.send(EventData(body: "nested"))
                XCTFail("the blocking send returned on a library queue")
            } catch {
                XCTAssertEqual((error as? EventHubsError)?.code, .blockingCallOnLibraryQueue)
            }
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
    }

    func testSendAfterCloseFails() throws {
        let emulator = try startEventHubsEmulator(self)
        let producer = try EventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"))
        try producer.send(EventData(body: "x"))
        try producer.close()
        XCTAssertThrowsError(try producer.send(EventData(body: "y"))) {
            XCTAssertEqual(($0 as? EventHubsError)?.code, .clientClosed)
        }
    }

    func testTLSWithTheEmulatorsCAAndRejectionWithoutIt() throws {
        let emulator = try startEventHubsEmulator(self) { $0.amqpsPort = 0 }
        let port = try XCTUnwrap(emulator.amqpsPort)
        let cs = "Endpoint=sb://127.0.0.1:\(port);SharedAccessKeyName=RootManageSharedAccessKey;"
            + "SharedAccessKey=SAS_KEY_VALUE;EntityPath=eh1"
        let trusted = try EventHubProducer(connectionString: cs, options: fastRetryOptions { $0.caFile = emulator.caFile })
        defer { try? trusted.close() }
        try trusted.send(EventData(body: "over tls"))
        XCTAssertEqual(try trusted.partitionIDs().count, 4)

        let untrusted = try EventHubProducer(connectionString: cs, options: fastRetryOptions())
        defer { try? untrusted.close() }
        XCTAssertThrowsError(try untrusted.send(EventData(body: "x"))) { error in
            XCTAssertEqual((error as? EventHubsError)?.code, .certificateRejected, "\(error)")
        }
        XCTAssertEqual(untrusted.health.connectionsOpened, 0)
    }

    /// Tokens are put again on the live connection before they expire: a link attached after the first token's
    /// expiry (the emulator checks it) still succeeds.
    func testTokensAreRefreshedOnTheLiveConnection() throws {
        let emulator = try startEventHubsEmulator(self)
        var sas = SASTokenProvider(keyName: "RootManageSharedAccessKey", key: Secret("SAS_KEY_VALUE"))
        sas.lifetime = 2
        let endpoint = MessagingEndpoint(host: "127.0.0.1", port: emulator.amqpPort, useTLS: false,
                                         tokenProvider: .sharedAccessSignature(sas))
        let producer = EventHubProducer(endpoint: endpoint, eventHubName: "eh1", options: fastRetryOptions { $0.retry.maxRetries = 0 })
        defer { try? producer.close() }
        try producer.send(EventData(body: "before"), options: SendEventOptions(partitionID: "0"))
        Thread.sleep(forTimeInterval: 3)
        try producer.send(EventData(body: "after"), options: SendEventOptions(partitionID: "1"))
        XCTAssertEqual(producer.health.connectionsOpened, 1, "the same connection, with a refreshed token")
    }

    /// The receiver's buffer stays bounded while the caller is idle, and a large receive still gets all it asked for.
    func testPartitionReceiverBufferIsBoundedAndLargeReceivesComplete() throws {
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let cs = emulator.eventHubsConnectionString(eventHub: "eh1")
        let producer = try EventHubProducer(connectionString: cs)
        defer { try? producer.close() }
        for chunk in 0..<20 {
            try producer.send((0..<100).map { EventData(body: "e\(chunk * 100 + $0)") })
        }
        let receiver = try PartitionReceiver(connectionString: cs, partitionID: "0", startingPosition: .earliest)
        defer { try? receiver.close() }
        XCTAssertEqual(try receiver.receive(maxEvents: 1, timeout: .seconds(10)).count, 1)
        // The prefetch fills the buffer while the caller is idle (waiting on that, not on a fixed sleep) ...
        XCTAssertTrue(FaultScenario.eventually { receiver.bufferedCount >= PartitionReceiver.prefetch - 1 },
                      "buffered \(receiver.bufferedCount)")
        // ... and stops there: the credit granted never exceeds what the buffer may hold.
        XCTAssertLessThanOrEqual(receiver.bufferedCount, PartitionReceiver.prefetch)
        let big = try receiver.receive(maxEvents: 1500, timeout: .seconds(30))
        XCTAssertEqual(big.count, 1500)
        XCTAssertEqual(big.first?.event.bodyAsString, "e1")
        XCTAssertEqual(big.last?.event.bodyAsString, "e1500")
    }
}
