import ToolboxCore
import ToolboxTransport
import XCTest
import ToolboxTransportServer

/// Cancelling a request whose response was already delivered must leave its pooled connection alone: by then
/// the connection may be carrying someone else's request.
final class HTTPClientLateCancelTests: XCTestCase {
    func testCancelAfterCompletionKeepsTheConnection() throws {
        let server = try HTTPServer(host: "127.0.0.1") { _, respond in respond(HTTPServerResponse(status: 200, text: "ok")) }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        configuration.maxConnectionsPerEndpoint = 1
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        let url = "http://127.0.0.1:\(server.port)/"
        for _ in 0..<20 {
            let done = DispatchSemaphore(value: 0)
            let handle = client.execute(try HTTPRequest(url: url)) { result in
                XCTAssertEqual(try? result.get().status, 200)
                done.signal()
            }
            done.wait()
            handle.cancel()
            // The next request gets the same connection; a late cancel that aborted it would fail this one.
            XCTAssertEqual(try client.execute(try HTTPRequest(url: url), timeout: .seconds(10)).status, 200)
        }
        XCTAssertEqual(client.connectionsOpened, 1)
    }
}
