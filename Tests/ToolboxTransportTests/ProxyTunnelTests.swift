import Dispatch
import ToolboxCLITestSupport
import ToolboxCore
import XCTest
@testable import ToolboxTransport
import ToolboxTransportServer

/// `CONNECT` tunnelling through a real proxy (a private tinyproxy) and through proxies that refuse.
final class ProxyTunnelTests: XCTestCase {
    private func proxy(_ fixture: TinyproxyFixture, password: String? = nil) throws -> HTTPProxy {
        var proxy = try HTTPProxy(url: "http://127.0.0.1:\(fixture.port)")
        proxy.username = fixture.username
        proxy.password = (password ?? fixture.password).map(Secret.init)
        return proxy
    }

    func testTLSEchoThroughTinyproxyVerifiesTheTargetsCertificate() throws {
        let pki = try TestPKI.get()
        let fixture = try TinyproxyFixture.start()
        defer { fixture.stop() }
        let listener = try TCPListener(tls: try pki.serverContext()) { echo($0) }
        defer { listener.close() }
        var options = TCPConnectOptions()
        options.proxy = try proxy(fixture)
        // "localhost" resolves only at the proxy; the certificate checked is the target's (SAN localhost).
        let connection = try TCPConnection.connect(host: "localhost", port: listener.port, tls: try pki.clientContext(),
                                                   options: options, timeout: .seconds(10))
        try connection.write(Array("through the tunnel".utf8), timeout: .seconds(10))
        XCTAssertEqual(try readExactly(connection, count: 18), Array("through the tunnel".utf8))
        try connection.close()
        XCTAssertTrue(fixture.log.contains("CONNECT"), fixture.log)
        // A certificate for another name still fails, tunnel or not.
        XCTAssertThrowsError(try TCPConnection.connect(host: "127.0.0.1", port: listener.port, tls: try pki.clientContext(),
                                                       serverName: "wrong.example", options: options, timeout: .seconds(10))) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .hostNameMismatch, "\(error)")
        }
    }

    func testHTTPClientTunnelsHTTPSWithBasicAuthAndReportsARefusalWithoutThePassword() throws {
        let pki = try TestPKI.get()
        let fixture = try TinyproxyFixture.start(username: "azure", password: "s3cret-proxy-pw")
        defer { fixture.stop() }
        let server = try HTTPServer(tls: try pki.serverContext()) { request, respond in
            respond(HTTPServerResponse(status: 200, text: "hello \(request.head.target)"))
        }
        defer { server.close() }
        func client(password: String?) throws -> HTTPClient {
            var configuration = HTTPClientConfiguration()
            configuration.tls.trustRoots = .file(pki.caFile)
            configuration.proxy = try proxy(fixture, password: password)
            return try HTTPClient(configuration: configuration)
        }
        let good = try client(password: nil)
        defer { try? good.shutdown() }
        let response = try good.execute(try HTTPRequest(url: "https://localhost:\(server.port)/x"), timeout: .seconds(10))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "hello /x")

        let bad = try client(password: "wrong-password")
        defer { try? bad.shutdown() }
        XCTAssertThrowsError(try bad.execute(try HTTPRequest(url: "https://localhost:\(server.port)/x"), timeout: .seconds(10))) { error in
            let toolbox = (error as? ToolboxError)?.first(ToolboxError.self) ?? error as? ToolboxError
            let text = "\(error)"
            XCTAssertTrue(text.contains("proxyConnectRefused"), text)
            // tinyproxy answers bad credentials with 401 rather than 407; either is a refusal naming the proxy.
            XCTAssertTrue((text.contains("407") || text.contains("401")) && text.contains("127.0.0.1:\(fixture.port)"), text)
            XCTAssertTrue(text.contains("check the credentials"), text)
            XCTAssertFalse(text.contains("wrong-password") || text.contains("s3cret"), text)
            XCTAssertNotNil(toolbox)
        }
    }

    func testPlainHTTPIsNotProxiedAndNoProxyHostsGoDirect() throws {
        let server = try HTTPServer { _, respond in respond(HTTPServerResponse(status: 200, text: "direct")) }
        defer { server.close() }
        var configuration = HTTPClientConfiguration()
        // A proxy nobody listens on: any request that used it would fail.
        configuration.proxy = HTTPProxy(host: "127.0.0.1", port: 9, noProxy: ["localhost"])
        let client = try HTTPClient(configuration: configuration)
        defer { try? client.shutdown() }
        XCTAssertEqual(try client.execute(try HTTPRequest(url: "http://127.0.0.1:\(server.port)/"), timeout: .seconds(10)).status, 200)
        let pki = try TestPKI.get()
        let secure = try HTTPServer(tls: try pki.serverContext()) { _, respond in respond(HTTPServerResponse(status: 204)) }
        defer { secure.close() }
        var direct = TCPConnectOptions()
        direct.proxy = configuration.proxy
        let connection = try TCPConnection.connect(host: "localhost", port: secure.port, tls: try pki.clientContext(),
                                                   options: direct, timeout: .seconds(10))
        try connection.close()
    }

    /// A hand-written proxy that answers CONNECT with `answer` (or closes when nil).
    private func refusingProxy(answer: String?) throws -> TCPListener {
        try TCPListener { connection in
            connection.read { _ in
                guard let answer else { return connection.close(mode: .graceful) {} }
                connection.write(Array(answer.utf8)) { _ in connection.close {} }
            }
        }
    }

    func testRefusingProxiesAreTypedErrorsNamingTheProxy() throws {
        let cases: [(String?, String)] = [
            ("HTTP/1.1 403 Forbidden\r\nX-Policy: no tunnels to 443\r\nContent-Length: 0\r\n\r\n", "HTTP 403 Forbidden"),
            ("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n", "it wants credentials"),
            (nil, "closed the connection instead of answering"),
            ("SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"),
        ]
        for (answer, expected) in cases {
            let listener = try refusingProxy(answer: answer)
            defer { listener.close() }
            var options = TCPConnectOptions()
            options.proxy = HTTPProxy(host: "127.0.0.1", port: listener.port)
            XCTAssertThrowsError(try TCPConnection.connect(host: "myns.servicebus.windows.net", port: 443,
                                                           tls: try TLSContext(client: TLSClientConfiguration()),
                                                           options: options, timeout: .seconds(10))) { error in
                let error = error as? ToolboxError
                XCTAssertEqual(error?.code, .proxyConnectRefused, "\(String(describing: error))")
                XCTAssertTrue(error?.message.contains(expected) ?? false, "\(String(describing: error))")
                XCTAssertTrue(error?.message.contains("http://127.0.0.1:\(listener.port)") ?? false)
                XCTAssertTrue(error?.message.contains("myns.servicebus.windows.net:443") ?? false)
                if answer?.contains("403") == true {
                    XCTAssertEqual(error?.first(HTTPRefusal.self)?.header("X-Policy"), "no tunnels to 443")
                }
            }
        }
    }

    func testAnUnreachableProxyIsNamedInTheError() throws {
        let closed = try TCPListener { _ in }
        let port = closed.port
        closed.close()
        var options = TCPConnectOptions()
        options.proxy = HTTPProxy(host: "127.0.0.1", port: port)
        XCTAssertThrowsError(try TCPConnection.connect(host: "example.org", port: 443, options: options, timeout: .seconds(10))) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .connectionRefused, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("could not reach proxy http://127.0.0.1:\(port) for example.org:443") ?? false,
                          "\(String(describing: error))")
        }
    }

    func testWebSocketThroughTinyproxy() throws {
        let pki = try TestPKI.get()
        let fixture = try TinyproxyFixture.start(username: "u", password: "p")
        defer { fixture.stop() }
        let listener = try TCPListener(tls: try pki.serverContext()) { tcp in
            WebSocketConnection.accept(tcp, subprotocol: "AMQPWSB10", deadline: .after(seconds: 10)) { result in
                if case .success(let socket) = result { socket.echoForever() }
            }
        }
        defer { listener.close() }
        var options = TCPConnectOptions()
        options.proxy = try proxy(fixture)
        let socket: WebSocketConnection = try awaitResult {
            WebSocketConnection.connect(host: "localhost", port: listener.port, path: "/$servicebus/websocket",
                                        tls: try? pki.clientContext(), subprotocols: ["AMQPWSB10"],
                                        deadline: .after(seconds: 10), options: options, completion: $0)
        }
        let _: Void = try awaitResult { socket.write([1, 2, 3], deadline: .after(seconds: 10), queue: .global(), completion: $0) }
        XCTAssertEqual(try socket.readExactly(3), [1, 2, 3])
    }
}
