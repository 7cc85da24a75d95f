import AzureClientsToolboxAsync
import AzureClientsToolboxTesting
import AzureServiceBus
import Foundation
import XCTest

final class ServiceBusAsyncTests: XCTestCase {
    func testAsyncSendScheduleReceiveSettle() async throws {
        let emulator = try TestEmulator.start(for: self, eventHubs: [:], queues: ["jobs"])
        let cs = emulator.serviceBusConnectionString
        let sender = try ManagedServiceBusSender(connectionString: cs, queueName: "jobs")
        try await sender.send(ServiceBusMessage(body: "one"))
        try await sender.send([ServiceBusMessage(body: "two"), ServiceBusMessage(body: "three")])
        let scheduled = try await sender.schedule([ServiceBusMessage(body: "later")], at: Date().addingTimeInterval(3600))
        try await sender.cancelScheduled(scheduled)

        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "jobs")
        let peeked = try await receiver.peek(maxMessages: 10)
        XCTAssertEqual(peeked.count, 3)
        let messages = try await receiver.receive(maxMessages: 3, timeout: .seconds(10))
        XCTAssertEqual(messages.map { $0.message.bodyAsString ?? "" }, ["one", "two", "three"])
        _ = try await receiver.renewLock(messages[0])
        try await receiver.complete(messages[0])
        try await receiver.deadLetter(messages[1], reason: "r", description: "d")
        try await receiver.defer(messages[2])
        let deferred = try await receiver.receiveDeferred(sequenceNumbers: [messages[2].sequenceNumber])
        try await receiver.complete(deferred[0])
        let none = try await receiver.receive(maxMessages: 1, timeout: .seconds(0.2))
        XCTAssertEqual(none.count, 0)
        await receiver.close()
        await sender.close()
    }
}
