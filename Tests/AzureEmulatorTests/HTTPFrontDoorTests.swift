import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator
import ToolboxTransportServer

/// The emulator's HTTP side: listeners, routing to services, the shared fault knobs, endpoint URLs.
final class HTTPFrontDoorTests: XCTestCase {
    /// A service that answers every path under `/probe/` with its path and query, for routing tests.
    private final class ProbeService: EmulatorHTTPService {
        let name = "probe"
        func accepts(_ request: EmulatorHTTPRequest) -> Bool { request.pathSegments.first == "probe" }
        func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
            let query = request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            respond(HTTPServerResponse(status: 200, text: "\(request.pathSegments.joined(separator: "|")) \(query) \(request.baseURL)"))
        }
    }

    private func request(_ path: String, emulator: Emulator, secure: Bool = false, client: HTTPClient) throws -> HTTPResponse {
        let base = try XCTUnwrap(secure ? emulator.httpBaseURL : emulator.plainHTTPBaseURL)
        return try client.execute(HTTPRequest(url: base + path), timeout: .seconds(10))
    }

    private func makeClient(caFile: String?) throws -> HTTPClient {
        var configuration = HTTPClientConfiguration()
        if let caFile { configuration.tls = TLSClientConfiguration(trustRoots: .file(caFile)) }
        return try HTTPClient(configuration: configuration)
    }

    func testHealthRouteOverPlainAndTLSAndUnknownPathIs404() throws {
        var configuration = EmulatorConfiguration()
        configuration.httpsPort = 0
        configuration.cosmosContainers = [CosmosContainerDefinition(database: "db", container: "c", partitionKeyPath: "/pk")]
        configuration.eventGridTopics = ["t1"]
        let emulator = try Emulator.start(configuration)
        defer { emulator.stop() }
        let client = try makeClient(caFile: emulator.caFile)
        defer { try? client.shutdown() }

        for secure in [false, true] {
            let health = try request("/_emulator/health", emulator: emulator, secure: secure, client: client)
            XCTAssertEqual(health.head.status, 200)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(health.body)) as? [String: Any])
            XCTAssertEqual(object["cosmos_containers"] as? [String], ["db/c"])
            XCTAssertEqual(object["eventgrid_topics"] as? [String], ["t1"])
            XCTAssertEqual(try request("/nothing/here", emulator: emulator, secure: secure, client: client).head.status, 404)
        }
        XCTAssertEqual(emulator.eventGridEndpoint(topic: "t1"), "https://127.0.0.1:\(emulator.httpsPort ?? 0)/eventgrid/t1/api/events")
        XCTAssertEqual(emulator.cosmosConnectionString,
                       "AccountEndpoint=https://127.0.0.1:\(emulator.httpsPort ?? 0)/;AccountKey=\(EmulatorWellKnown.cosmosKey);")
    }

    func testRoutingDecodesPathAndQueryAndReportsTheAddressedHost() throws {
        let context = EmulatorHTTPContext(configuration: EmulatorConfiguration())
        let door = HTTPFrontDoor(context: context, services: [ProbeService()])
        let port = try door.listen(host: "127.0.0.1", port: 0, tls: nil)
        defer { door.close() }
        let client = try makeClient(caFile: nil)
        defer { try? client.shutdown() }
        let response = try client.execute(
            HTTPRequest(url: "http://127.0.0.1:\(port)/probe/a%20b/c%2Fd?sig=a%2Bb%3D&restype=container&empty"), timeout: .seconds(10))
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self),
                       "probe|a b|c/d sig=a+b=&restype=container&empty= http://127.0.0.1:\(port)")
    }

    func testDropAndThrottleFaultsAndRefusedAuthentication() throws {
        var configuration = EmulatorConfiguration()
        configuration.faults.httpThrottleRate = 1
        let throttled = HTTPFrontDoor(context: EmulatorHTTPContext(configuration: configuration), services: [ProbeService()])
        let throttledPort = try throttled.listen(host: "127.0.0.1", port: 0, tls: nil)
        defer { throttled.close() }
        configuration.faults.httpThrottleRate = 0
        configuration.faults.refuseAuthentication = true
        let refusing = HTTPFrontDoor(context: EmulatorHTTPContext(configuration: configuration), services: [ProbeService()])
        let refusingPort = try refusing.listen(host: "127.0.0.1", port: 0, tls: nil)
        defer { refusing.close() }
        configuration.faults.refuseAuthentication = false
        configuration.faults.httpDropProbability = 1
        let dropping = HTTPFrontDoor(context: EmulatorHTTPContext(configuration: configuration), services: [ProbeService()])
        let droppingPort = try dropping.listen(host: "127.0.0.1", port: 0, tls: nil)
        defer { dropping.close() }

        let client = try makeClient(caFile: nil)
        defer { try? client.shutdown() }
        XCTAssertEqual(try client.execute(HTTPRequest(url: "http://127.0.0.1:\(throttledPort)/probe/x"), timeout: .seconds(10)).head.status, 503)
        XCTAssertEqual(try client.execute(HTTPRequest(url: "http://127.0.0.1:\(refusingPort)/probe/x"), timeout: .seconds(10)).head.status, 401)
        XCTAssertThrowsError(try client.execute(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(droppingPort)/probe/x"), timeout: .seconds(10))) { error in
            XCTAssertTrue(error is TransportError, "\(error)")
        }
    }

    func testConnectionSetupDelayHoldsTheFirstRequestOfEachConnection() throws {
        var configuration = EmulatorConfiguration()
        configuration.faults.connectionSetupDelay = .seconds(0.3)
        let door = HTTPFrontDoor(context: EmulatorHTTPContext(configuration: configuration), services: [ProbeService()])
        let port = try door.listen(host: "127.0.0.1", port: 0, tls: nil)
        defer { door.close() }
        let client = try makeClient(caFile: nil)
        defer { try? client.shutdown() }
        let started = MonotonicInstant.now()
        XCTAssertEqual(try client.execute(HTTPRequest(url: "http://127.0.0.1:\(port)/probe/x"), timeout: .seconds(10)).head.status, 200)
        // A lower bound only: the delay must have been applied (no upper bound on a shared machine).
        XCTAssertGreaterThanOrEqual(MonotonicInstant.now().seconds(since: started), 0.29)
    }
}
