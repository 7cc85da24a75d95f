import AzureAuth
import AzureMessagingCore
import XCTest

/// Where a messaging connection goes for each transport, custom endpoint and connection-string setting.
final class MessagingTransportOptionTests: XCTestCase {
    private func endpoint(_ text: String) throws -> MessagingEndpoint {
        try MessagingEndpoint(connectionString: try MessagingConnectionString(parsing: text))
    }

    func testPortsAndTargetsPerTransport() throws {
        let azure = "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v"
        var endpoint = try endpoint(azure)
        XCTAssertTrue(try endpoint.connectTarget() == ("myns.servicebus.windows.net", 5671))
        endpoint.transport = .amqpOverWebSockets
        XCTAssertTrue(try endpoint.connectTarget() == ("myns.servicebus.windows.net", 443))
        endpoint.customEndpointAddress = "sb://gw.internal:8443"
        XCTAssertTrue(try endpoint.connectTarget() == ("gw.internal", 8443))
        endpoint.customEndpointAddress = "https://[fd00::1]/ignored/path"
        XCTAssertTrue(try endpoint.connectTarget() == ("fd00::1", 443))
        // The audience keeps naming the namespace whatever the socket's target.
        XCTAssertEqual(endpoint.audience("eh1"), "sb://myns.servicebus.windows.net/eh1")
        for bad in ["gw:0", "gw:70000", "gw:port", "sb://:5", "[fd00::1"] {
            endpoint.customEndpointAddress = bad
            XCTAssertThrowsError(try endpoint.connectTarget(), bad) { error in
                XCTAssertEqual((error as? AzureMessagingError)?.code, .invalidArgument)
            }
        }
        var amqp = try self.endpoint(azure)
        amqp.customEndpointAddress = "10.1.2.3"
        XCTAssertTrue(try amqp.connectTarget() == ("10.1.2.3", 5671))
        // A proxy implies WebSockets.
        amqp.proxy = HTTPProxy(host: "proxy", port: 3128)
        XCTAssertEqual(amqp.effectiveTransport, .amqpOverWebSockets)
        XCTAssertFalse("\(amqp)".contains("SharedAccessKey"))
    }

    func testConnectionStringTransportType() throws {
        let emulator = "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"
        XCTAssertEqual(try endpoint(emulator).transport, .amqp)
        let ws = try endpoint(emulator + ";TransportType=amqpwebsockets")
        XCTAssertEqual(ws.transport, .amqpOverWebSockets)
        XCTAssertTrue(try ws.connectTarget() == ("127.0.0.1", 80))  // plain ws for the development emulator
        XCTAssertEqual(try endpoint(emulator + ";TransportType=Amqp").transport, .amqp)
        XCTAssertThrowsError(try endpoint(emulator + ";TransportType=Tcp")) { error in
            XCTAssertTrue("\(error)".contains("TransportType"), "\(error)")
        }
        let applied = try endpoint(emulator).applying(transport: .amqpOverWebSockets, proxy: nil,
                                                      customEndpointAddress: "127.0.0.1:9000")
        XCTAssertTrue(try applied.connectTarget() == ("127.0.0.1", 9000))
        // Options at their defaults leave an endpoint's own choice alone.
        XCTAssertEqual(ws.applying(transport: .amqp, proxy: nil, customEndpointAddress: nil).transport, .amqpOverWebSockets)
    }
}
