import AzureAuth
import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureEventHubs
import AzureServiceBus
import XCTest

final class EventHubsAsyncTests: XCTestCase {
    func testAsyncSendBatchAndReadBack() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: ["orders": 2])
        let cs = emulator.eventHubsConnectionString("orders")
        let producer = try ManagedEventHubProducer(connectionString: cs)
        try await producer.send(EventData(body: "a1"), options: SendEventOptions(partitionID: "1"))
        var batch = try await producer.createBatch(options: SendEventOptions(partitionID: "1"))
        XCTAssertTrue(batch.tryAdd(EventData(body: "a2")))
        try await producer.send(batch)
        let ids = try await producer.partitionIDs()
        XCTAssertEqual(ids, ["0", "1"])
        let receiver = try PartitionReceiver(connectionString: cs, partitionID: "1", startingPosition: .earliest)
        let events = try await receiver.receive(maxEvents: 2, timeout: .seconds(10))
        XCTAssertEqual(events.map { $0.event.bodyAsString ?? "" }, ["a1", "a2"])
        await receiver.close()
        await producer.close()
    }

    func testTaskCancellationCancelsAWaitingReceive() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: ["orders": 1])
        let receiver = try PartitionReceiver(connectionString: emulator.eventHubsConnectionString("orders"),
                                             partitionID: "0", startingPosition: .earliest)
        let task = Task { try await receiver.receive(maxEvents: 10, timeout: .seconds(30)) }
        // Cancel once the receive has connected (it is then waiting for events): wait on that, polling.
        let connectedBy = ContinuousClock.now + .seconds(10)
        while emulator.emulator.connectionCount == 0, ContinuousClock.now < connectedBy {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertEqual(emulator.emulator.connectionCount, 1, "the receive never connected")
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled receive returned")
        } catch let error as EventHubsError {
            XCTAssertEqual(error.code, .cancelled)
        }
        await receiver.close()
    }

    func testFakeCredentialIsAskedForTheEventHubsScope() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: ["orders": 1])
        let credential = FakeTokenCredential(token: "not-a-sas-token")
        let producer = EventHubProducer(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, eventHubName: "orders",
                                        credential: credential,
                                        options: .with { $0.allowPlainTextForDevelopment = true; $0.retry.maxRetries = 0 })
        do {
            try await producer.send(EventData(body: "x"))
        } catch {
            // The emulator verifies SAS signatures only; what matters here is what the client asked for.
        }
        XCTAssertEqual(credential.requestedScopes.first, [AzureScope.eventHubs])
        await producer.close()
    }

    func testAFailingCredentialSurfacesAsUnauthorizedWithoutRetrying() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: ["orders": 1])
        let credential = FakeTokenCredential(failure: AuthError(.authenticationFailed, "AADSTS7000215: invalid client secret"))
        let producer = EventHubProducer(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, eventHubName: "orders",
                                        credential: credential, options: .with { $0.allowPlainTextForDevelopment = true })
        do {
            try await producer.send(EventData(body: "x"))
            XCTFail("sent without a token")
        } catch {
            XCTAssertEqual(error.code, .unauthorized, "\(error)")
            XCTAssertFalse(error.isTransient)
        }
        XCTAssertEqual(credential.requestedScopes.count, 1, "a refused credential is not retried")
        await producer.close()
    }

    func testServiceBusAsksForTheServiceBusScope() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: [:], queues: ["jobs"])
        let credential = FakeTokenCredential()
        let sender = ServiceBusSender(fullyQualifiedNamespace: emulator.fullyQualifiedNamespace, queueName: "jobs",
                                      credential: credential,
                                      options: .with { $0.allowPlainTextForDevelopment = true; $0.retry.maxRetries = 0 })
        try? await sender.send(ServiceBusMessage(body: "x"))
        XCTAssertEqual(credential.requestedScopes.first, [AzureScope.serviceBus])
        await sender.close()
    }
}
