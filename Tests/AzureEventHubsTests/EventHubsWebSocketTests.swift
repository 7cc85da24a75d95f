import AzureEmulator
import Dispatch
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

@testable import AzureEventHubs

/// Event Hubs clients over AMQP-over-WebSockets against the emulator's ws/wss listeners: directly, through a real
/// proxy (tinyproxy), with a custom endpoint address, and against an upgrade or a proxy that refuses.
final class EventHubsWebSocketTests: XCTestCase {
    private func emulator(_ change: (inout EmulatorConfiguration) -> Void = { _ in }) throws -> Emulator {
        try startEventHubsEmulator(self, partitions: 2) {
            $0.amqpWebSocketPort = 0
            $0.amqpsWebSocketPort = 0
            change(&$0)
        }
    }

    /// A connection string for the namespace `host` (TLS, no port: the SDK shape for Azure itself).
    private func secureConnectionString(host: String = "localhost") -> String {
        "Endpoint=sb://\(host)/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=eh1"
    }

    func testManagedProducerSendsOverWSAndTheEventsArrive() throws {
        let emulator = try emulator()
        let port = try XCTUnwrap(emulator.amqpWebSocketPort)
        let options = fastRetryOptions {
            $0.transport = .amqpOverWebSockets
            $0.customEndpointAddress = "sb://127.0.0.1:\(port)"
        }
        let producer = try ManagedEventHubProducer(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
                                                   options: options)
        defer { try? producer.close() }
        XCTAssertEqual(try producer.warmUp(connections: 2), 2)
        XCTAssertEqual(emulator.connectionCount, 2)
        // Completion handlers from many threads at once, then the blocking form.
        let group = DispatchGroup()
        let failures = LockedValue<[String]>([])
        for index in 0..<40 {
            group.enter()
            producer.send(EventData(body: "ws-\(index)")) { result in
                if case .failure(let error) = result { failures.withLockedValue { $0.append("\(error)") } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(failures.load(), [])
        try producer.send(EventData(body: [UInt8](repeating: 0x5A, count: 300_000)))  // many transfer and WS frames
        let events = try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: 2,
                                 expected: 41)
        XCTAssertEqual(Set(events.compactMap { $0.event.bodyAsString }.filter { $0.hasPrefix("ws-") }),
                       Set((0..<40).map { "ws-\($0)" }))
        XCTAssertEqual(events.filter { $0.body.count == 300_000 }.count, 1)
    }

    func testWSSVerifiesTheNamespaceNameNotTheCustomEndpointAddress() throws {
        let emulator = try emulator()
        let port = try XCTUnwrap(emulator.amqpsWebSocketPort)
        let options = fastRetryOptions {
            $0.caFile = emulator.caFile
            $0.customEndpointAddress = "127.0.0.1:\(port)"
        }
        // The connection string asks for WebSockets itself, as .NET connection strings can.
        let producer = try EventHubProducer(connectionString: secureConnectionString() + ";TransportType=AmqpWebSockets",
                                            options: options)
        defer { try? producer.close() }
        try producer.send(EventData(body: "over wss"))
        // The emulator's certificate names localhost and 127.0.0.1, not this namespace: TLS must check the namespace.
        var wrongName = options
        wrongName.retry = RetryOptions(maxRetries: 0, delay: .milliseconds(10), maxDelay: .milliseconds(10), tryTimeout: .seconds(10))
        let other = try EventHubProducer(connectionString: secureConnectionString(host: "myns.servicebus.windows.net")
                                            + ";TransportType=AmqpWebSockets", options: wrongName)
        defer { try? other.close() }
        XCTAssertThrowsError(try other.send(EventData(body: "x"))) { error in
            XCTAssertTrue("\(error)".contains("hostNameMismatch"), "\(error)")
        }
    }

    func testProducerAndReceiverThroughTinyproxyWithBasicAuth() throws {
        let emulator = try emulator()
        let port = try XCTUnwrap(emulator.amqpsWebSocketPort)
        let proxy = try TinyproxyFixture.start(username: "eh", password: "proxy-secret")
        defer { proxy.stop() }
        let options = fastRetryOptions {
            $0.caFile = emulator.caFile
            $0.proxy = try? HTTPProxy(url: proxy.url)  // a proxy implies WebSockets
            $0.customEndpointAddress = "localhost:\(port)"
        }
        let producer = try EventHubProducer(connectionString: secureConnectionString(), options: options)
        defer { try? producer.close() }
        try producer.send([EventData(body: "p1"), EventData(body: "p2")], options: SendEventOptions(partitionID: "1"))
        let receiver = try PartitionReceiver(connectionString: secureConnectionString(), partitionID: "1",
                                             startingPosition: .earliest, options: options)
        defer { try? receiver.close() }
        var bodies: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while bodies.count < 2 && Date() < deadline {
            bodies += try receiver.receive(maxEvents: 10, timeout: .seconds(1)).compactMap { $0.event.bodyAsString }
        }
        XCTAssertEqual(bodies, ["p1", "p2"])
        XCTAssertTrue(proxy.log.contains("CONNECT"), proxy.log)
        XCTAssertEqual(emulator.connectionCount, 2)
    }

    func testRefusedUpgradeAndRefusingProxyAreReportedWithoutSecrets() throws {
        let emulator = try emulator { $0.httpPort = 0 }
        let httpPort = try XCTUnwrap(emulator.httpPort)
        let once = RetryOptions(maxRetries: 0, delay: .milliseconds(10), maxDelay: .milliseconds(10), tryTimeout: .seconds(10))
        // An HTTP server that is not a WebSocket endpoint: the upgrade is refused with its status.
        let refused = try EventHubProducer(
            connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
            options: fastRetryOptions {
                $0.retry = once
                $0.transport = .amqpOverWebSockets
                $0.customEndpointAddress = "127.0.0.1:\(httpPort)"
            })
        defer { try? refused.close() }
        XCTAssertThrowsError(try refused.send(EventData(body: "x"))) { error in
            XCTAssertTrue("\(error)".contains("webSocketUpgradeRefused") && "\(error)".contains("HTTP 4"), "\(error)")
        }
        // A proxy that refuses the tunnel: the error names it, never its password.
        let listener = try TCPListener { connection in
            connection.read { _ in
                connection.write(Array("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".utf8)) { _ in connection.close {} }
            }
        }
        defer { listener.close() }
        let blocked = try EventHubProducer(
            connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
            options: fastRetryOptions {
                $0.retry = once
                $0.proxy = HTTPProxy(host: "127.0.0.1", port: listener.port, username: "me", password: Secret("hunter2"))
            })
        defer { try? blocked.close() }
        XCTAssertThrowsError(try blocked.send(EventData(body: "x"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("proxyConnectRefused") && text.contains("127.0.0.1:\(listener.port)"), text)
            XCTAssertTrue(text.contains("403"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
    }

    func testConnectionDroppedMidStreamIsRecoveredOverWebSockets() throws {
        let emulator = try emulator { $0.faults.dropAfterFrames = 25 }
        let port = try XCTUnwrap(emulator.amqpWebSocketPort)
        let producer = try EventHubProducer(
            connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"),
            options: fastRetryOptions {
                $0.transport = .amqpOverWebSockets
                $0.customEndpointAddress = "127.0.0.1:\(port)"
            })
        defer { try? producer.close() }
        for index in 0..<30 { try producer.send(EventData(body: "r-\(index)"), options: SendEventOptions(partitionID: "0")) }
        let events = try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: 2,
                                 expected: 30)
        XCTAssertTrue(Set(events.compactMap { $0.event.bodyAsString }).isSuperset(of: (0..<30).map { "r-\($0)" }))
    }
}
