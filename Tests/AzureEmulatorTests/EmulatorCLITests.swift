import AzureAuth
import Foundation
import ToolboxAMQP
import ToolboxCore
import ToolboxCLITestSupport
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// `toolbox emulator` as a black box: one JSON ready line, working connection strings, exit 0 on SIGTERM.
final class EmulatorCLITests: XCTestCase {
    /// Starts `toolbox emulator`, returns the process and its parsed ready line.
    private func start(_ arguments: [String]) throws -> (Process, [String: Any], Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
        process.arguments = ["emulator"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        addTeardownBlock { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                                   "ready line: \(text)")
        return (process, object, errors)
    }

    func testReadyLineConnectionStringsAndCleanExitOnSIGTERM() throws {
        let (process, ready, errors) = try start(["--eventhub", "clihub:3", "--queue", "cliq", "--amqps-port", "0"])
        XCTAssertEqual(Set(ready.keys), ["ready", "amqp_port", "amqps_port", "amqp_ws_port", "amqps_ws_port", "ca_file",
                                         "eventhubs_connection_string",
                                         "servicebus_connection_string", "http_port", "https_port", "cosmos_endpoint",
                                         "cosmos_key", "cosmos_connection_string", "blob_endpoint",
                                         "blob_connection_string", "eventgrid_endpoints", "eventgrid_key",
                                         "authority_host", "tenant_id", "client_id", "client_secret", "imds_endpoint",
                                         "identity_endpoint", "identity_header", "federated_token"])
        XCTAssertEqual(ready["ready"] as? Bool, true)
        let port = try XCTUnwrap(ready["amqp_port"] as? Int)
        XCTAssertNotNil(ready["amqps_port"] as? Int)
        XCTAssertNotNil(ready["amqp_ws_port"] as? Int)
        XCTAssertNotNil(ready["amqps_ws_port"] as? Int)
        let caFile = try XCTUnwrap(ready["ca_file"] as? String)
        XCTAssertTrue(FileManager.default.fileExists(atPath: caFile))
        let eventHubs = try XCTUnwrap(ready["eventhubs_connection_string"] as? String)
        XCTAssertEqual(eventHubs, "Endpoint=sb://127.0.0.1:\(port);SharedAccessKeyName=RootManageSharedAccessKey;"
            + "SharedAccessKey=SAS_KEY_VALUE;EntityPath=clihub;UseDevelopmentEmulator=true")
        XCTAssertEqual(ready["servicebus_connection_string"] as? String, "Endpoint=sb://127.0.0.1:\(port);"
            + "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true")

        // The hub exists with 3 partitions and the key from the connection string is accepted.
        let transport = AMQPSocketTransport(host: "127.0.0.1", port: UInt16(port))
        let connection = AMQPConnection(transport: transport, configuration: AMQPConnectionConfiguration(idleTimeout: nil))
        try connection.open()
        let session = try connection.beginSession()
        let cbs = try AMQPCBSClient.attach(session: session)
        let audience = "sb://127.0.0.1:\(port)/clihub"
        let token = SharedAccessSignature.token(audience: audience, keyName: "RootManageSharedAccessKey",
                                                key: Secret("SAS_KEY_VALUE"), expiry: Int(Date().timeIntervalSince1970) + 600)
        try cbs.putToken(audience: audience, token: AMQPCBSToken(token: token, type: AMQPCBSToken.sasTokenType,
                                                                 expiresAt: Date().addingTimeInterval(600)))
        XCTAssertNoThrow(try session.attachSender(address: "amqps://127.0.0.1:\(port)/clihub/Partitions/2"))
        XCTAssertThrowsError(try session.attachSender(address: "amqps://127.0.0.1:\(port)/clihub/Partitions/3"))
        try? connection.close()

        process.terminate()  // SIGTERM
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(log.contains("listening"), log)
        XCTAssertFalse(log.contains("SAS_KEY_VALUE"), "the key must not be logged")
    }

    func testBadFlagsExitNonZeroWithAMessage() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
        process.arguments = ["emulator", "--eventhub", "hub:0"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertTrue(message.contains("PARTITIONS must be a number from 1 to 32"), message)
    }

    func testHTTPSideReadyLineAndHealthRouteOverHTTPS() throws {
        let (_, ready, _) = try start(["--cosmos-container", "db1/c1:/pk", "--cosmos-container", "db1/c2",
                                       "--blob-container", "ctr1", "--eventgrid-topic", "orders"])
        let httpsPort = try XCTUnwrap(ready["https_port"] as? Int)
        XCTAssertNotNil(ready["http_port"] as? Int)
        XCTAssertEqual(ready["cosmos_endpoint"] as? String, "https://127.0.0.1:\(httpsPort)/")
        XCTAssertEqual(ready["blob_endpoint"] as? String, "https://127.0.0.1:\(httpsPort)/devstoreaccount1")
        XCTAssertEqual(ready["eventgrid_endpoints"] as? [String: String],
                       ["orders": "https://127.0.0.1:\(httpsPort)/eventgrid/orders/api/events"])
        XCTAssertEqual(ready["authority_host"] as? String, "https://127.0.0.1:\(httpsPort)")
        for key in ["cosmos_key", "cosmos_connection_string", "blob_connection_string", "eventgrid_key", "tenant_id",
                    "client_id", "client_secret", "imds_endpoint", "identity_endpoint", "identity_header",
                    "federated_token", "ca_file"] {
            XCTAssertFalse((ready[key] as? String ?? "").isEmpty, key)
        }
        var configuration = HTTPClientConfiguration()
        configuration.tls = TLSClientConfiguration(trustRoots: .file(try XCTUnwrap(ready["ca_file"] as? String)))
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let health = try client.execute(HTTPRequest(url: "https://127.0.0.1:\(httpsPort)/_emulator/health"), timeout: .seconds(10))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(health.body)) as? [String: Any])
        XCTAssertEqual(object["cosmos_containers"] as? [String], ["db1/c1", "db1/c2"])
        XCTAssertEqual(object["blob_containers"] as? [String], ["ctr1"])
    }

    /// A port already taken: exit 1 with one "error: " line naming the port (it used to say "error: error: ").
    func testHTTPPortInUseExitsWithTheReason() throws {
        let (_, ready, _) = try start([])
        let taken = try XCTUnwrap(ready["http_port"] as? Int)
        let second = try ToolboxCLI.run(["emulator", "--http-port", String(taken)])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.stderr.contains("127.0.0.1:\(taken)"), second.stderr)
        XCTAssertFalse(second.stderr.contains("error: error:"), second.stderr)
    }

    func testBadHTTPServiceFlagsExitNonZeroWithAMessage() throws {
        for (arguments, expected) in [(["--cosmos-container", "nodb"], "DB/CONTAINER"),
                                      (["--cosmos-container", "db/c:pk"], "partition key path"),
                                      (["--blob-container", "Bad_Name"], "lowercase"),
                                      (["--http-throttle-rate", "2"], "between 0 and 1")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
            process.arguments = ["emulator"] + arguments
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = Pipe()
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertNotEqual(process.terminationStatus, 0, "\(arguments)")
            XCTAssertTrue(message.contains(expected), message)
        }
    }
}
