import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// The server side of the codec driven by a real client nobody here wrote: curl.
final class HTTPServerCurlTests: XCTestCase {
    private var temporary: String = ""

    override func setUpWithError() throws {
        temporary = NSTemporaryDirectory() + "toolbox-curl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: temporary)
    }

    private func curl(_ arguments: [String]) throws -> String {
        guard let curl = findExecutable("curl") else {
            throw TestSetupError("curl is not installed; these tests need it (apt-get install curl)")
        }
        let result = runCommand(curl, ["-sS", "--max-time", "30"] + arguments)
        guard result.status == 0 else {
            throw TestSetupError("curl \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
        }
        return result.output
    }

    /// Answers with the method, the body length and a checksum, so uploads can be verified from curl's output.
    private func startEchoServer(tls: TLSContext? = nil, limits: HTTPParserLimits = HTTPServer.defaultLimits,
                                 ports: LockedValue<[UInt16]>? = nil) throws -> HTTPServer {
        try HTTPServer(tls: tls, limits: limits) { request, respond in
            ports?.withLockedValue { $0.append(request.remoteAddress?.port ?? 0) }
            let sum = request.body.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
            switch request.head.target {
            case "/chunked":
                respond(HTTPServerResponse(status: 200, body: .chunked([Array("first,".utf8), Array("second".utf8)])))
            case "/large":
                respond(HTTPServerResponse(status: 200, body: .bytes(largeBody)))
            default:
                let te = request.head.headers.first(name: "Transfer-Encoding") ?? "-"
                respond(HTTPServerResponse(
                    status: 200, text: "\(request.head.method) \(request.body.count) \(sum) \(te)"))
            }
        }
    }

    func testSimpleGet() throws {
        let server = try startEchoServer()
        defer { server.close() }
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/"]), "GET 0 0 -")
    }

    func testKeepAliveReusesOneConnection() throws {
        let ports = LockedValue<[UInt16]>([])
        let server = try startEchoServer(ports: ports)
        defer { server.close() }
        let url = "http://127.0.0.1:\(server.port)/"
        let output = try curl(["-w", " connects=%{num_connects}\\n", url, url, url])
        XCTAssertEqual(output.components(separatedBy: "connects=1").count - 1, 1, output)
        XCTAssertEqual(output.components(separatedBy: "connects=0").count - 1, 2, output)
        XCTAssertEqual(Set(ports.load()).count, 1, "all three requests must arrive on one connection")
    }

    func testOneMebibyteUploadWithContentLengthAndExpectContinue() throws {
        let server = try startEchoServer()
        defer { server.close() }
        let file = temporary + "/upload.bin"
        let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(body).write(to: URL(fileURLWithPath: file))
        let sum = body.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) }
        let output = try curl(["-H", "Expect: 100-continue", "--data-binary", "@" + file,
                               "http://127.0.0.1:\(server.port)/upload"])
        XCTAssertEqual(output, "POST \(1 << 20) \(sum) -")
    }

    func testChunkedUpload() throws {
        let server = try startEchoServer()
        defer { server.close() }
        let file = temporary + "/upload.txt"
        try Data(String(repeating: "chunk", count: 5000).utf8).write(to: URL(fileURLWithPath: file))
        let output = try curl(["-H", "Transfer-Encoding: chunked", "-X", "PUT", "--data-binary", "@" + file,
                               "http://127.0.0.1:\(server.port)/upload"])
        XCTAssertTrue(output.hasPrefix("PUT 25000 "), output)
        XCTAssertTrue(output.hasSuffix(" chunked"), output)
    }

    func testChunkedAndLargeResponses() throws {
        let server = try startEchoServer()
        defer { server.close() }
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/chunked"]), "first,second")
        let file = temporary + "/large.bin"
        _ = try curl(["-o", file, "http://127.0.0.1:\(server.port)/large"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), Data(largeBody))
    }

    func testHeadRequestGetsHeadersOnly() throws {
        let server = try startEchoServer()
        defer { server.close() }
        let output = try curl(["-I", "http://127.0.0.1:\(server.port)/large"])
        XCTAssertTrue(output.contains("Content-Length: \(largeBody.count)"), output)
    }

    func testConnectionCloseIsHonoured() throws {
        let server = try startEchoServer()
        defer { server.close() }
        let output = try curl(["-i", "-H", "Connection: close", "http://127.0.0.1:\(server.port)/"])
        XCTAssertTrue(output.contains("Connection: close"), output)
    }

    func testOversizedHeadersGet431() throws {
        var limits = HTTPServer.defaultLimits
        limits.maxHeaderBytes = 2048
        let server = try startEchoServer(limits: limits)
        defer { server.close() }
        let output = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + String(repeating: "a", count: 4000),
                               "http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(output, "431")
    }

    func testOversizedBodyGets413() throws {
        var limits = HTTPServer.defaultLimits
        limits.maxBodyBytes = 1000
        let server = try startEchoServer(limits: limits)
        defer { server.close() }
        let output = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--data-binary", String(repeating: "b", count: 5000),
                               "http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(output, "413")
    }

    func testHTTPSWithGeneratedCA() throws {
        let pki = try TestPKI.get()
        let server = try startEchoServer(tls: try pki.serverContext())
        defer { server.close() }
        let url = "https://localhost:\(server.port)/"
        XCTAssertEqual(try curl(["--cacert", pki.caFile, "-w", " %{num_connects}", url, url]), "GET 0 0 - 1GET 0 0 - 0")
    }
}

let largeBody: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
