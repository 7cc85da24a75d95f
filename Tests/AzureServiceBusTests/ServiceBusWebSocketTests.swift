import AzureEmulator
import Dispatch
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import XCTest

@testable import AzureServiceBus

/// Service Bus senders and the receiver over AMQP-over-WebSockets: send, receive, settle and `$management`
/// (peek) through a real proxy to the emulator's wss listener, and the managed sender's pool over ws.
final class ServiceBusWebSocketTests: XCTestCase {
    func testSendPeekReceiveCompleteOverWSSThroughTinyproxy() throws {
        let emulator = try startServiceBusEmulator(self) { $0.amqpsWebSocketPort = 0 }
        let port = try XCTUnwrap(emulator.amqpsWebSocketPort)
        let proxy = try TinyproxyFixture.start()
        defer { proxy.stop() }
        let cs = "Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"
        let options = fastOptions {
            $0.caFile = emulator.caFile
            $0.transport = .amqpOverWebSockets
            $0.proxy = try? HTTPProxy(url: proxy.url)
            $0.customEndpointAddress = "sb://localhost:\(port)"
        }
        let sender = try ServiceBusSender(connectionString: cs, queueName: "q1", options: options)
        defer { try? sender.close() }
        try sender.send([ServiceBusMessage(body: "a"), ServiceBusMessage(body: "b")])
        let receiver = try ServiceBusReceiver(connectionString: cs, queueName: "q1", options: options)
        defer { try? receiver.close() }
        XCTAssertEqual(try receiver.peek(maxMessages: 2).compactMap { $0.message.bodyAsString }, ["a", "b"])
        var received: [ServiceBusReceivedMessage] = []
        let deadline = Date().addingTimeInterval(20)
        while received.count < 2 && Date() < deadline {
            received += try receiver.receive(maxMessages: 2 - received.count, timeout: .seconds(2))
        }
        XCTAssertEqual(received.compactMap { $0.message.bodyAsString }, ["a", "b"])
        for message in received { try receiver.complete(message) }
        XCTAssertEqual(try receiver.peek(maxMessages: 2).count, 0)
        XCTAssertTrue(proxy.log.contains("CONNECT"), proxy.log)
    }

    func testManagedSenderPoolsWebSocketConnections() throws {
        let emulator = try startServiceBusEmulator(self) { $0.amqpWebSocketPort = 0 }
        let port = try XCTUnwrap(emulator.amqpWebSocketPort)
        let sender = try ManagedServiceBusSender(
            connectionString: emulator.serviceBusConnectionString, queueName: "q1",
            options: fastOptions {
                $0.transport = .amqpOverWebSockets
                $0.customEndpointAddress = "127.0.0.1:\(port)"
            })
        defer { try? sender.close() }
        XCTAssertEqual(try sender.warmUp(connections: 3), 3)
        let group = DispatchGroup()
        let failures = LockedValue(0)
        for index in 0..<30 {
            group.enter()
            sender.send(ServiceBusMessage(body: "m\(index)")) { result in
                if case .failure = result { failures.withLockedValue { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), 0)
        XCTAssertEqual(emulator.connectionCount, 3)
        let receiver = try ServiceBusReceiver(connectionString: emulator.serviceBusConnectionString, queueName: "q1",
                                              receiveMode: .receiveAndDelete)
        defer { try? receiver.close() }
        var count = 0
        let deadline = Date().addingTimeInterval(20)
        while count < 30 && Date() < deadline { count += try receiver.receive(maxMessages: 30, timeout: .seconds(1)).count }
        XCTAssertEqual(count, 30)
    }
}
