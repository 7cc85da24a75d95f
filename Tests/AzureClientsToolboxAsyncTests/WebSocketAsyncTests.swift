import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureEventHubs
import AzureServiceBus
import XCTest

/// The async forms over AMQP-over-WebSockets: the shim needs nothing of its own for them.
final class WebSocketAsyncTests: XCTestCase {
    func testAsyncSendAndReceiveOverWebSockets() async throws {
        let test = try TestEmulator.start(eventHubs: ["orders": 2], queues: ["jobs"]) { $0.amqpWebSocketPort = 0 }
        defer { test.stop() }
        let port = try XCTUnwrap(test.emulator.amqpWebSocketPort)
        let producer = try ManagedEventHubProducer(
            connectionString: test.eventHubsConnectionString("orders"),
            options: EventHubProducerOptions.with {
                $0.transport = .amqpOverWebSockets
                $0.customEndpointAddress = "127.0.0.1:\(port)"
            })
        try await producer.send(EventData(body: "async over ws"), options: SendEventOptions(partitionID: "0"))
        let ids = try await producer.partitionIDs()
        XCTAssertEqual(ids, ["0", "1"])
        await producer.close()

        let options = ServiceBusClientOptions.with {
            $0.transport = .amqpOverWebSockets
            $0.customEndpointAddress = "127.0.0.1:\(port)"
        }
        let sender = try ServiceBusSender(connectionString: test.serviceBusConnectionString, queueName: "jobs", options: options)
        try await sender.send(ServiceBusMessage(body: "job"))
        await sender.close()
        let receiver = try ServiceBusReceiver(connectionString: test.serviceBusConnectionString, queueName: "jobs",
                                              options: options)
        let got = try await receiver.receive(maxMessages: 1, timeout: .seconds(10))
        XCTAssertEqual(got.first?.message.bodyAsString, "job")
        if let message = got.first { try await receiver.complete(message) }
        await receiver.close()
    }
}
