import ToolboxCore
import XCTest
@testable import ToolboxTransport

/// The RFC 6455 frame codec and handshake helpers, against the RFC's own examples and its rules.
final class WebSocketFrameTests: XCTestCase {
    private func decodeAll(_ bytes: [UInt8], expectMasked: Bool, limits: WebSocketLimits = WebSocketLimits())
        throws -> [WebSocketFrame]
    {
        var decoder = WebSocketFrameDecoder(expectMasked: expectMasked, limits: limits)
        decoder.feed(bytes)
        var frames: [WebSocketFrame] = []
        while let frame = try decoder.next() { frames.append(frame) }
        XCTAssertEqual(decoder.bufferedCount, 0)
        return frames
    }

    private func expectViolation(_ bytes: [UInt8], expectMasked: Bool, code: ToolboxError.Code = .webSocketProtocolError,
                                 mentioning text: String, limits: WebSocketLimits = WebSocketLimits(),
                                 line: UInt = #line) {
        XCTAssertThrowsError(try decodeAll(bytes, expectMasked: expectMasked, limits: limits), line: line) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, code, line: line)
            XCTAssertTrue(error?.message.contains(text) ?? false, "\(String(describing: error))", line: line)
        }
    }

    func testRFC6455Section5_7Examples() throws {
        // A single-frame unmasked text message "Hello", and the masked one a client sends.
        XCTAssertEqual(try decodeAll([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], expectMasked: false),
                       [WebSocketFrame(opcode: .text, payload: Array("Hello".utf8))])
        let masked: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        XCTAssertEqual(try decodeAll(masked, expectMasked: true), [WebSocketFrame(opcode: .text, payload: Array("Hello".utf8))])
        XCTAssertEqual(WebSocketFrame(opcode: .text, payload: Array("Hello".utf8)).encoded(maskingKey: [0x37, 0xfa, 0x21, 0x3d]),
                       masked)
        // A fragmented unmasked text message: "Hel" then "lo".
        let fragments = try decodeAll([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f], expectMasked: false)
        XCTAssertEqual(fragments.map(\.fin), [false, true])
        XCTAssertEqual(fragments.map(\.opcode), [.text, .continuation])
        // 256 bytes binary in a single unmasked frame: 16-bit length 0x0100; 64 KiB: 64-bit length.
        XCTAssertEqual(Array(WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 256)).encoded().prefix(4)),
                       [0x82, 0x7E, 0x01, 0x00])
        XCTAssertEqual(Array(WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 65536)).encoded().prefix(10)),
                       [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    func testRoundTripsEveryLengthFormByteByByte() throws {
        for count in [0, 1, 125, 126, 127, 65535, 65536, 200_000] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let bytes = WebSocketFrame(opcode: .binary, payload: payload).encoded(maskingKey: [1, 2, 3, 4])
            var decoder = WebSocketFrameDecoder(expectMasked: true)
            var decoded: WebSocketFrame?
            // Arrival in pieces (one byte at a time for the header) must not change the result.
            var index = 0
            while index < bytes.count {
                let step = index < 16 ? 1 : 4096
                decoder.feed(Array(bytes[index..<min(bytes.count, index + step)]))
                index += step
                if let frame = try decoder.next() { decoded = frame }
            }
            XCTAssertEqual(decoded?.payload, payload, "length \(count)")
        }
    }

    func testControlFramesMayInterleaveFragments() throws {
        let bytes = WebSocketFrame(fin: false, opcode: .binary, payload: [1]).encoded()
            + WebSocketFrame(opcode: .ping, payload: [9]).encoded()
            + WebSocketFrame(opcode: .continuation, payload: [2]).encoded()
        XCTAssertEqual(try decodeAll(bytes, expectMasked: false).map(\.opcode), [.binary, .ping, .continuation])
    }

    func testViolationsAreTypedErrors() {
        expectViolation([0x82, 0x00], expectMasked: true, mentioning: "not masked")
        expectViolation(WebSocketFrame(opcode: .binary, payload: []).encoded(maskingKey: [0, 0, 0, 0]), expectMasked: false,
                        mentioning: "is masked")
        expectViolation([0xC2, 0x00], expectMasked: false, mentioning: "reserved bits")
        expectViolation([0x83, 0x00], expectMasked: false, mentioning: "unknown opcode 3")
        expectViolation([0x09, 0x00], expectMasked: false, mentioning: "fragmented")
        expectViolation([0x89, 0x7E, 0x00, 0x80] + [UInt8](repeating: 0, count: 128), expectMasked: false,
                        mentioning: "at most 125")
        expectViolation([0x80, 0x00], expectMasked: false, mentioning: "continuation frame arrived outside")
        expectViolation([0x02, 0x00, 0x82, 0x00], expectMasked: false, mentioning: "inside a fragmented message")
        expectViolation([0x82, 0x7E, 0x00, 0x05], expectMasked: false, mentioning: "shortest form")
        expectViolation([0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5], expectMasked: false, mentioning: "shortest form")
        expectViolation([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], expectMasked: false, mentioning: "most significant bit")
    }

    func testLimitsRejectHugeFramesBeforeBufferingThem() {
        let limits = WebSocketLimits(maxFramePayload: 1000, maxMessageSize: 1500)
        // A header announcing 2^62 bytes is refused from the header alone.
        expectViolation([0x82, 0x7F, 0x40, 0, 0, 0, 0, 0, 0, 0], expectMasked: false, code: .webSocketFrameTooLarge,
                        mentioning: "exceeds the limit of 1000", limits: limits)
        let fragments = WebSocketFrame(fin: false, opcode: .binary, payload: [UInt8](repeating: 1, count: 1000)).encoded()
            + WebSocketFrame(opcode: .continuation, payload: [UInt8](repeating: 1, count: 600)).encoded()
        expectViolation(fragments, expectMasked: false, code: .webSocketFrameTooLarge, mentioning: "message exceeds",
                        limits: limits)
    }

    func testHandshakeAcceptKeyFromRFC6455Section1_3() {
        XCTAssertEqual(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertEqual(Base64.decodedCount(WebSocketHandshake.makeKey()), 16)
        XCTAssertEqual(Base64.encode(Array("Aladdin:open sesame".utf8)), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    }

    func testServerAnswersOnlyValidUpgradesForItsSubprotocol() throws {
        func head(_ lines: [String]) throws -> HTTPHead {
            let bytes = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
            return try XCTUnwrap(try HTTPHead.parse(bytes, limit: 4096, peer: "test")).0
        }
        let valid = ["GET /$servicebus/websocket HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
                     "Sec-WebSocket-Protocol: chat, AMQPWSB10"]
        let ok = WebSocketHandshake.answer(try head(valid), subprotocol: "AMQPWSB10", path: "/$servicebus/websocket")
        XCTAssertTrue(ok.accepted)
        XCTAssertTrue(String(decoding: ok.response, as: UTF8.self).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        let noProtocol = WebSocketHandshake.answer(try head(Array(valid.dropLast())), subprotocol: "AMQPWSB10", path: nil)
        XCTAssertFalse(noProtocol.accepted)
        let badVersion = WebSocketHandshake.answer(try head(valid.map { $0.hasPrefix("Sec-WebSocket-Version") ? "Sec-WebSocket-Version: 8" : $0 }),
                                                   subprotocol: "AMQPWSB10", path: nil)
        XCTAssertTrue(String(decoding: badVersion.response, as: UTF8.self).hasPrefix("HTTP/1.1 426"))
        let wrongPath = WebSocketHandshake.answer(try head(valid), subprotocol: "AMQPWSB10", path: "/other")
        XCTAssertTrue(String(decoding: wrongPath.response, as: UTF8.self).hasPrefix("HTTP/1.1 404"))
    }

    func testHeadParserLimitsAndErrors() {
        XCTAssertThrowsError(try HTTPHead.parse([UInt8](repeating: 65, count: 5000), limit: 4096, peer: "p")) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .httpHeadersTooLarge)
        }
        XCTAssertThrowsError(try HTTPHead.parse(Array("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n".utf8), limit: 4096, peer: "p")) {
            XCTAssertEqual(($0 as? ToolboxError)?.code, .httpMalformed)
        }
        XCTAssertThrowsError(try HTTPHead.parse([0xFF, 0xFE, 13, 10, 13, 10], limit: 4096, peer: "p"))
        XCTAssertNil(try HTTPHead.parse(Array("HTTP/1.1 200 OK\r\n".utf8), limit: 4096, peer: "p"))
    }
}

/// Proxy URLs and `NO_PROXY` rules as the Azure SDKs read them.
final class HTTPProxyConfigurationTests: XCTestCase {
    func testParsesURLsAndNeverPrintsThePassword() throws {
        let proxy = try HTTPProxy(url: "http://us%40er:p%3Ass@proxy.internal:3128/")
        XCTAssertEqual(proxy.host, "proxy.internal")
        XCTAssertEqual(proxy.port, 3128)
        XCTAssertEqual(proxy.username, "us@er")
        XCTAssertEqual(proxy.password?.exposedValue, "p:ss")
        XCTAssertEqual("\(proxy)", "http://us@er@proxy.internal:3128")
        XCTAssertFalse(String(decoding: proxy.connectRequest(host: "h", port: 443), as: UTF8.self).contains("p:ss"))
        XCTAssertTrue(String(decoding: proxy.connectRequest(host: "h", port: 443), as: UTF8.self)
            .contains("Proxy-Authorization: Basic dXNAZXI6cDpzcw==\r\n"))
        XCTAssertEqual(try HTTPProxy(url: "10.0.0.1").port, 80)
        XCTAssertEqual(try HTTPProxy(url: "http://[::1]:8080").host, "::1")
        for bad in ["https://p:1", "http://p:0", "http://p:99999", "http://:80", "http://p:80/path", "socks5://p:1"] {
            XCTAssertThrowsError(try HTTPProxy(url: bad), bad)
        }
        XCTAssertThrowsError(try HTTPProxy(url: "http://u:secret%zz@p:1")) { error in
            XCTAssertFalse("\(error)".contains("secret"))
        }
    }

    func testEnvironmentAndNoProxyRules() throws {
        XCTAssertNil(HTTPProxy.fromEnvironment([:]))
        XCTAssertNil(HTTPProxy.fromEnvironment(["HTTPS_PROXY": "  "]))
        let proxy = try XCTUnwrap(HTTPProxy.fromEnvironment(
            ["https_proxy": "http://proxy:3128", "no_proxy": "localhost, .internal,example.org:443,127.0.0.1,[::1]"]))
        XCTAssertEqual(proxy.port, 3128)
        XCTAssertFalse(proxy.applies(to: "localhost"))
        XCTAssertFalse(proxy.applies(to: "a.b.internal"))
        XCTAssertFalse(proxy.applies(to: "example.org"))
        XCTAssertFalse(proxy.applies(to: "api.example.org"))
        XCTAssertFalse(proxy.applies(to: "127.0.0.1"))
        XCTAssertFalse(proxy.applies(to: "::1"))
        XCTAssertTrue(proxy.applies(to: "notexample.org"))
        XCTAssertTrue(proxy.applies(to: "myns.servicebus.windows.net"))
        XCTAssertFalse(try XCTUnwrap(HTTPProxy.fromEnvironment(["HTTPS_PROXY": "p:1", "NO_PROXY": "*"])).applies(to: "x"))
        XCTAssertThrowsError(try HTTPProxy.fromEnvironmentStrict(["HTTPS_PROXY": "https://p:1"])) { error in
            XCTAssertTrue("\(error)".contains("HTTPS_PROXY"))
        }
    }
}
