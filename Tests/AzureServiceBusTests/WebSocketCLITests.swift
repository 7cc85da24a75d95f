import AzureEmulator
import Foundation
import ToolboxCLITestSupport
import XCTest

/// `--transport websockets`, `--proxy` and `--custom-endpoint` on the messaging commands, as a black box.
final class WebSocketCLITests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, lines: [[String: Any]], stderr: String) {
        let output = try ToolboxCLI.run(arguments)
        return (output.status, output.jsonLines, output.stderr)
    }

    func testSendReceiveAndBenchOverWebSocketsAndThroughAProxy() throws {
        var configuration = EmulatorConfiguration()
        configuration.queues = ["q1"]
        configuration.eventHubs = [EventHubDefinition(name: "eh1", partitionCount: 2)]
        configuration.amqpWebSocketPort = 0
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let port = try XCTUnwrap(emulator.amqpWebSocketPort)
        let proxy = try TinyproxyFixture.start(username: "cli", password: "cli-proxy-pw")
        defer { proxy.stop() }
        let ws = ["--transport", "websockets", "--custom-endpoint", "sb://127.0.0.1:\(port)"]
        let sb = emulator.serviceBusConnectionString
        let send = try run(["servicebus", "send", "--connection-string", sb, "--queue", "q1", "--count", "3", "--body", "hi",
                            "--json"] + ws)
        XCTAssertEqual(send.status, 0, send.stderr)
        XCTAssertEqual(send.lines.last?["sent"] as? Int, 3)
        // The proxy alone selects WebSockets.
        let receive = try run(["servicebus", "receive", "--connection-string", sb, "--queue", "q1", "--count", "3",
                               "--timeout", "10", "--json", "--proxy", proxy.url, "--custom-endpoint", "127.0.0.1:\(port)"])
        XCTAssertEqual(receive.status, 0, receive.stderr)
        XCTAssertEqual(receive.lines.prefix(3).compactMap { $0["body"] as? String }, ["hi", "hi", "hi"])
        XCTAssertTrue(proxy.log.contains("CONNECT"), proxy.log)
        XCTAssertFalse(receive.stderr.contains("cli-proxy-pw"))

        let eh = emulator.eventHubsConnectionString(eventHub: "eh1")
        let ehSend = try run(["eventhubs", "send", "--connection-string", eh, "--count", "5", "--json"] + ws)
        XCTAssertEqual(ehSend.status, 0, ehSend.stderr)
        XCTAssertEqual(ehSend.lines.last?["sent"] as? Int, 5)
        let bench = try run(["bench", "eventhubs", "--connection-string", eh, "--count", "20", "--warmup", "0", "--json"] + ws)
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let sbBench = try run(["bench", "servicebus", "--connection-string", sb, "--queue", "q1", "--count", "10",
                               "--warmup", "0", "--json", "--proxy", proxy.url, "--custom-endpoint", "127.0.0.1:\(port)"])
        XCTAssertEqual(sbBench.status, 0, sbBench.stderr)
    }

    func testBadProxyURLAndRefusingProxyFailWithReasons() throws {
        var configuration = EmulatorConfiguration()
        configuration.queues = ["q1"]
        configuration.amqpWebSocketPort = 0
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let bad = try run(["servicebus", "send", "--connection-string", emulator.serviceBusConnectionString, "--queue", "q1",
                           "--proxy", "https://user:topsecret@proxy:1", "--json"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--proxy"), bad.stderr)
        XCTAssertFalse(bad.stderr.contains("topsecret"), bad.stderr)
        // A proxy with wrong credentials: tinyproxy refuses the CONNECT.
        let proxy = try TinyproxyFixture.start(username: "cli", password: "right")
        defer { proxy.stop() }
        let refused = try run(["servicebus", "send", "--connection-string", emulator.serviceBusConnectionString,
                               "--queue", "q1", "--json", "--no-pooled", "--proxy", "http://cli:wrong@127.0.0.1:\(proxy.port)",
                               "--custom-endpoint", "127.0.0.1:\(try XCTUnwrap(emulator.amqpWebSocketPort))"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("proxyConnectRefused"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains("wrong@") || refused.stderr.contains(":wrong"), refused.stderr)
    }
}
