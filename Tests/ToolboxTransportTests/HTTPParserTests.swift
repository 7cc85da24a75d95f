import Foundation
import XCTest
@testable import ToolboxTransport

final class HTTPParserTests: XCTestCase {
    private func parse(_ kind: HTTPParser.Kind, _ text: String, limits: HTTPParserLimits = .init(),
                       pieceSize: Int = Int.max) throws -> [HTTPParserEvent] {
        var parser = HTTPParser(parsing: kind, limits: limits)
        var events: [HTTPParserEvent] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + pieceSize)
            events += try parser.feed(bytes[index..<end])
            index = end
        }
        events += try parser.finish()
        return coalesced(events)
    }

    /// Joins adjacent body events so assertions do not depend on how the input was split.
    private func coalesced(_ events: [HTTPParserEvent]) -> [HTTPParserEvent] {
        var result: [HTTPParserEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let previous)? = result.last {
                result[result.count - 1] = .body(previous + more)
            } else {
                result.append(event)
            }
        }
        return result
    }

    private func expectError(_ code: TransportError.Code, _ kind: HTTPParser.Kind, _ text: String,
                             limits: HTTPParserLimits = .init(), line: UInt = #line) {
        XCTAssertThrowsError(try parse(kind, text, limits: limits), line: line) { error in
            XCTAssertEqual((error as? TransportError)?.code, code, "\(error)", line: line)
        }
    }

    func testRequestWithContentLengthInEveryPieceSize() throws {
        let text = "POST /items?x=1 HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n"
        for size in [1, 2, 3, 7, 1000] {
            let events = try parse(.requests, text, pieceSize: size)
            XCTAssertEqual(events.count, 5, "piece size \(size): \(events)")
            guard case .requestHead(let head) = events[0] else { return XCTFail("no head") }
            XCTAssertEqual(head.method, "POST")
            XCTAssertEqual(head.target, "/items?x=1")
            XCTAssertEqual(head.headers.first(name: "Content-Length"), "5")
            XCTAssertEqual(events[1], .body(Array("hello".utf8)))
            XCTAssertEqual(events[2], .end)
            guard case .requestHead(let second) = events[3] else { return XCTFail("no second head") }
            XCTAssertEqual(second.method, "GET")
            XCTAssertEqual(events[4], .end)
        }
    }

    /// Arrays take the parser's fast path (body bytes handed on uncopied; head lines kept in its buffer across
    /// feeds): every piece size must give the same messages as one whole feed.
    func testArrayPiecesOfPipelinedResponsesInEveryPieceSize() throws {
        let body = String(repeating: "0123456789", count: 30)
        let text = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nX-Long-Header-Name: a value longer than fifteen\r\n\r\n"
            + body + "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nETag: \"e1\"\r\n\r\n"
            + "64\r\n" + String(body.prefix(100)) + "\r\n0\r\n\r\n"
        let bytes = Array(text.utf8)
        for pieceSize in [1, 2, 3, 7, 16, 64, 101, 257, bytes.count] {
            var parser = HTTPParser(parsing: .responses)
            var events: [HTTPParserEvent] = []
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + pieceSize)
                events += try parser.feed(Array(bytes[index..<end]))
                index = end
            }
            events = coalesced(events)
            XCTAssertEqual(events.count, 6, "piece size \(pieceSize): \(events)")
            guard events.count == 6 else { continue }
            guard case .responseHead(let first) = events[0], case .body(let firstBody) = events[1],
                case .end = events[2], case .responseHead(let second) = events[3], case .body(let secondBody) = events[4],
                case .end = events[5]
            else { return XCTFail("piece size \(pieceSize): \(events)") }
            XCTAssertEqual(first.status, 200)
            XCTAssertEqual(first.headers.first(name: "x-long-header-name"), "a value longer than fifteen")
            XCTAssertEqual(firstBody, Array(body.utf8), "piece size \(pieceSize)")
            XCTAssertEqual(second.status, 201)
            XCTAssertEqual(second.headers.first(name: "etag"), "\"e1\"")
            XCTAssertEqual(secondBody, Array(body.prefix(100).utf8), "piece size \(pieceSize)")
            XCTAssertTrue(parser.isIdle, "piece size \(pieceSize)")
        }
    }

    func testChunkedResponseWithExtensionsAndTrailers() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\n\r\n"
        for size in [1, 4, 1000] {
            let events = try parse(.responses, text, pieceSize: size)
            XCTAssertEqual(events.count, 3)
            XCTAssertEqual(events[1], .body(Array("helloabcdefghijklmnopqrstuvwxyz".utf8)))
            XCTAssertEqual(events[2], .end)
        }
    }

    func testResponseBodyUntilClose() throws {
        let events = try parse(.responses, "HTTP/1.0 200 OK\r\n\r\nall of it")
        XCTAssertEqual(events.dropFirst(), [.body(Array("all of it".utf8)), .end])
        guard case .responseHead(let head) = events[0] else { return XCTFail() }
        XCTAssertFalse(head.keepAlive)
    }

    func testResponsesWithoutBodies() throws {
        var parser = HTTPParser(parsing: .responses)
        parser.nextResponseIsToHEAD = true
        var events = try parser.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".utf8))
        XCTAssertEqual(events.last, .end, "a response to HEAD has no body whatever its Content-Length")
        events = try parser.feed(Array("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n".utf8))
        XCTAssertEqual(events.filter { $0 == .end }.count, 2)
    }

    func testInterimContinueThenFinalResponse() throws {
        let events = try parse(.responses, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(events.count, 3)
        guard case .responseHead(let interim) = events[0], case .responseHead(let final) = events[1] else {
            return XCTFail("\(events)")
        }
        XCTAssertTrue(interim.isInformational)
        XCTAssertEqual(final.status, 201)
        XCTAssertEqual(final.reason, "Created")
    }

    func testHeadersAreCaseInsensitiveAndKeepOrder() throws {
        let events = try parse(.requests, "GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nConnection: Keep-Alive, CLOSE\r\n\r\n")
        guard case .requestHead(let head) = events[0] else { return XCTFail() }
        XCTAssertEqual(head.headers["X-A"], ["1", "2"])
        XCTAssertFalse(head.keepAlive)
        XCTAssertTrue(head.headers.containsToken("keep-alive", inField: "connection"))
    }

    /// Known long names and values come back as shared literals; the result must be exactly what was sent, for
    /// known strings, for near misses of the same length, in another case, and with whitespace around.
    func testKnownAndUnknownLongHeaderStringsComeBackAsSent() throws {
        let fields: [(String, String)] = [
            ("x-ms-request-charge", "1.0"),                    // known name
            ("x-ms-request-chargf", "2"),                      // same length, last byte differs
            ("X-MS-REQUEST-CHARGE", "3"),                      // another case: kept as sent
            ("x-ms-activity-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
            ("Content-Type", "application/json"),              // known value
            ("x-ms-content-path", "application/jsoN"),         // near-miss value
            ("x-ms-session-token", "0:1#2#3=-1"),
            ("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"),
            ("x-a-very-long-header-name-nobody-knows", "caf\u{e9} \u{1F600}"),  // unknown, non-ASCII value
        ]
        let text = "HTTP/1.1 200 OK\r\n" + fields.map { "\($0.0):  \t\($0.1) \t\r\n" }.joined()
            + "Content-Length: 0\r\n\r\n"
        for pieceSize in [1, 7, Int.max] {
            guard case .responseHead(let head) = try parse(.responses, text, pieceSize: pieceSize).first else {
                return XCTFail("no head")
            }
            let parsed = Array(head.headers.map { [$0.name, $0.value] })
            XCTAssertEqual(parsed.dropLast(), fields.map { [$0.0, $0.1] }, "piece size \(pieceSize)")
        }
        // Twice the same known name: both fields, both equal to the literal.
        let twice = try parse(.responses, "HTTP/1.1 200 OK\r\nx-ms-continuation: a\r\nx-ms-continuation: b\r\n\r\n")
        guard case .responseHead(let head) = twice.first else { return XCTFail("no head") }
        XCTAssertEqual(head.headers["X-MS-Continuation"], ["a", "b"])
    }

    /// Framing is gathered while the fields are parsed: a Content-Length error counts only where the body depends
    /// on it, Transfer-Encoding codings add up across fields in any case, and the first bad value is the one named.
    func testFramingFieldsAreReadWhileParsingAndJudgedOnlyWhenNeeded() throws {
        // No body whatever the header says: the broken value is never consulted.
        for head in ["HTTP/1.1 204 No Content\r\nContent-Length: abc\r\n\r\n",
                     "HTTP/1.1 304 Not Modified\r\ncontent-length: 1, 2\r\n\r\n"] {
            XCTAssertEqual(try parse(.responses, head).count, 2, head)  // head, end
        }
        var parser = HTTPParser(parsing: .responses)
        parser.nextResponseIsToHEAD = true
        XCTAssertEqual(try parser.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".utf8)).count, 2)
        // Codings from several fields, any case and spacing: chunked last means chunked.
        let chunked = "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: gzip\r\ntransfer-encoding:  Chunked \r\n\r\n"
            + "5\r\nhello\r\n0\r\n\r\n"
        XCTAssertEqual(try parse(.responses, chunked, pieceSize: 3).dropFirst(), [.body(Array("hello".utf8)), .end])
        // Chunked not last: the response runs until the connection closes (RFC 9112 §6.3).
        let untilClose = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 2\r\n\r\nabc"
        XCTAssertEqual(try parse(.responses, untilClose).dropFirst(), [.body(Array("abc".utf8)), .end])
        // A request with both framings is refused even when its Content-Length is itself malformed.
        expectError(.httpMalformed, .requests,
                    "POST / HTTP/1.1\r\nContent-Length: nope\r\nTransfer-Encoding: chunked\r\n\r\n")
        // The first bad value is reported.
        XCTAssertThrowsError(try parse(.responses, "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\nContent-Length: 2\r\n\r\n")) {
            XCTAssertTrue("\($0)".contains("'1x'"), "\($0)")
        }
        XCTAssertThrowsError(try parse(.responses, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")) {
            XCTAssertTrue("\($0)".contains("conflicting"), "\($0)")
        }
    }

    func testStatusLinesAreSplitInPlace() throws {
        func head(_ text: String) throws -> HTTPResponseHead {
            guard case .responseHead(let head) = try parse(.responses, text).first else { throw TransportError(.httpMalformed, text) }
            return head
        }
        XCTAssertEqual(try head("HTTP/1.1 204\r\n\r\n").reason, "")
        XCTAssertEqual(try head("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reason, "")
        XCTAssertEqual(try head("HTTP/1.1 200 All  Good Here\r\nContent-Length: 0\r\n\r\n").reason, "All  Good Here")
        XCTAssertEqual(try head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").version, .http1_0)
        XCTAssertEqual(try head("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").status, 404)
        for bad in ["HTTP/1.1  200 OK", "HTTP/1.2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1", "HTTP/1.1 ", "HTTPS/1.1 200 OK",
                    "HTTP/1.10 200 OK", "HTTP/1.1 2x0 OK", "HTTP/1.1 099 Low", " HTTP/1.1 200 OK"] {
            expectError(.httpMalformed, .responses, bad + "\r\nContent-Length: 0\r\n\r\n")
        }
    }

    func testContentLengthListsAndConnectionTokens() throws {
        for good in ["Content-Length: \t5 , 5", "Content-Length: 5\r\ncontent-length: 5", "Content-Length: 00005"] {
            let events = try parse(.responses, "HTTP/1.1 200 OK\r\n\(good)\r\n\r\nhello")
            XCTAssertEqual(events.dropFirst(), [.body(Array("hello".utf8)), .end], good)
        }
        for bad in ["5,,5", "5,", ",5", "+5", "5 5", "1234567890123456789", "", "5\r\nContent-Length: 6"] {
            expectError(.httpMalformed, .responses, "HTTP/1.1 200 OK\r\nContent-Length: \(bad)\r\n\r\nhello")
        }
        let closing: HTTPHeaders = ["Connection": "keep-alive,\tClose "]
        XCTAssertTrue(closing.containsToken("close", inField: "CONNECTION"))
        XCTAssertTrue(closing.containsToken("Keep-Alive", inField: "connection"))
        for value in ["closed", "clos", ",,", "", "close-now, x"] {
            let headers: HTTPHeaders = ["Connection": value]
            XCTAssertFalse(headers.containsToken("close", inField: "Connection"), value)
        }
        XCTAssertFalse(HTTPHeaders([("Connection", ",,")]).containsToken("", inField: "Connection"))
        XCTAssertTrue(HTTPHeaders([("Connection", "x"), ("Connection", "y, close")]).containsToken("close", inField: "Connection"))
    }

    func testKeepAliveDefaults() {
        XCTAssertTrue(HTTPRequestHead(method: "GET", target: "/").keepAlive)
        XCTAssertFalse(HTTPRequestHead(method: "GET", target: "/", version: .http1_0).keepAlive)
        XCTAssertTrue(HTTPRequestHead(method: "GET", target: "/", version: .http1_0,
                                      headers: ["Connection": "keep-alive"]).keepAlive)
    }

    func testBareLineFeedsAreAccepted() throws {
        let events = try parse(.responses, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
        XCTAssertEqual(events.dropFirst(), [.body(Array("ok".utf8)), .end])
    }

    /// RFC 9112 §2.2: a CR not followed by LF is invalid anywhere. Header values refuse it on their own, so these
    /// are the lines that only the line reader can refuse: a reason phrase, a chunk-size line, a CR before the CRLF.
    func testABareCRInsideAnyLineIsMalformed() {
        for text in ["HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\rb\r\nok\r\n0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\r\n"] {
            for pieceSize in [1, 7, Int.max] {
                XCTAssertThrowsError(try parse(.responses, text, pieceSize: pieceSize), "\(text.debugDescription)") {
                    error in
                    XCTAssertEqual((error as? TransportError)?.code, .httpMalformed, "\(error)")
                    XCTAssertTrue("\(error)".contains("bare CR"), "\(error)")
                }
            }
        }
    }

    func testLimitsProduceClearErrors() {
        var limits = HTTPParserLimits()
        limits.maxLineLength = 64
        expectError(.httpLineTooLong, .requests, "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n",
                    limits: limits)
        limits = HTTPParserLimits()
        limits.maxHeaderBytes = 100
        expectError(.httpHeadersTooLarge, .requests,
                    "GET / HTTP/1.1\r\n" + String(repeating: "X-Long: 0123456789\r\n", count: 10) + "\r\n", limits: limits)
        limits = HTTPParserLimits()
        limits.maxHeaderCount = 3
        expectError(.httpHeadersTooLarge, .requests, "GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 10) + "\r\n",
                    limits: limits)
        limits = HTTPParserLimits()
        limits.maxBodyBytes = 10
        expectError(.httpBodyTooLarge, .requests, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: limits)
        expectError(.httpBodyTooLarge, .responses, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n",
                    limits: limits)
    }

    func testLineTooLongIsDetectedWithoutTheWholeLine() throws {
        var limits = HTTPParserLimits()
        limits.maxLineLength = 64
        var parser = HTTPParser(parsing: .requests, limits: limits)
        XCTAssertThrowsError(try parser.feed(Array(repeating: UInt8(ascii: "a"), count: 200))) { error in
            XCTAssertEqual((error as? TransportError)?.code, .httpLineTooLong)
        }
        XCTAssertThrowsError(try parser.feed([10]), "a failed parser stays failed")
    }

    func testMalformedInputs() {
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET / HTTP/2.0\r\n\r\n")
        expectError(.httpMalformed, .requests, "GET /\r\n\r\n")
        for line in ["GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET / x HTTP/1.1", "GET /\u{7F} HTTP/1.1",
                     "G(T / HTTP/1.1", "GET / HTTP/1.1x", "GET  HTTP/1.1"] {
            expectError(.httpMalformed, .requests, line + "\r\nHost: a\r\n\r\n")
        }
        expectError(.httpMalformed, .responses, "HTTP/1.1 2000 OK\r\n\r\n")
        expectError(.httpMalformed, .responses, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        expectError(.httpMalformed, .responses, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n")
        expectError(.httpMalformed, .responses, "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n")
    }

    func testTruncatedMessagesAreReported() {
        expectError(.httpTruncated, .responses, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        expectError(.httpTruncated, .responses, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        expectError(.httpTruncated, .requests, "GET / HTTP/1.1\r\nHost")
    }

    func testSerializedMessagesParseBack() throws {
        var bytes: [UInt8] = []
        try HTTPSerializer.write(HTTPRequestHead(method: "PUT", target: "/blob",
                                                 headers: ["Transfer-Encoding": "chunked", "x-ms-blob-type": "BlockBlob"]),
                                 into: &bytes)
        HTTPSerializer.writeChunk(Array("abc".utf8), into: &bytes)
        HTTPSerializer.writeChunk([UInt8](), into: &bytes)
        HTTPSerializer.writeChunk(Array(repeating: 1, count: 300), into: &bytes)
        HTTPSerializer.writeLastChunk(into: &bytes)
        var parser = HTTPParser(parsing: .requests)
        let events = coalesced(try parser.feed(bytes))
        XCTAssertEqual(events.count, 3)
        guard case .requestHead(let head) = events[0] else { return XCTFail() }
        XCTAssertEqual(head.headers.first(name: "X-MS-BLOB-TYPE"), "BlockBlob")
        XCTAssertEqual(events[1], .body(Array("abc".utf8) + Array(repeating: 1, count: 300)))
        XCTAssertTrue(parser.isIdle)
    }

    func testSerializerRefusesHeaderInjection() {
        var bytes: [UInt8] = []
        XCTAssertThrowsError(try HTTPSerializer.write(
            HTTPRequestHead(method: "GET", target: "/", headers: ["X-A": "1\r\nX-Injected: 2"]), into: &bytes))
        XCTAssertThrowsError(try HTTPSerializer.write(HTTPRequestHead(method: "GE T", target: "/"), into: &bytes))
        XCTAssertThrowsError(try HTTPSerializer.write(HTTPRequestHead(method: "GET", target: "/a b"), into: &bytes))
    }

    /// Names match without regard to ASCII case, whether the strings are native (read in place) or bridged
    /// from Foundation (read byte by byte); values with CR, LF or NUL and names that are not tokens are refused
    /// either way.
    func testHeaderNamesAndValidationOnNativeAndBridgedStrings() throws {
        let bridged = NSString(string: "X-Ms-Request-Charge") as String
        let native = "x-ms-request-charge"
        var headers = HTTPHeaders()
        headers.add(name: bridged, value: NSString(string: "1.5") as String)
        headers.add(name: "Content-Type", value: "application/json")
        XCTAssertEqual(headers.first(name: native), "1.5")
        XCTAssertEqual(headers.first(name: "X-MS-REQUEST-CHARGE"), "1.5")
        XCTAssertEqual(headers.first(name: NSString(string: "content-TYPE") as String), "application/json")
        XCTAssertNil(headers.first(name: "x-ms-request-chargf"))
        XCTAssertNil(headers.first(name: "x-ms-request-charg"))
        XCTAssertTrue(HTTPHeaders.namesMatch(Substring("a-Z"), "A-z"))
        XCTAssertFalse(HTTPHeaders.namesMatch("a-[", "A-{"), "only letters fold")
        XCTAssertNoThrow(try headers.validate())
        for (name, value) in [("X-A", "1\r\n2"), ("X-A", "a\u{0}b"), ("X A", "v"), ("", "v"), ("X-é", "v")] {
            var bad = HTTPHeaders()
            bad.add(name: name, value: value)
            XCTAssertThrowsError(try bad.validate(), "\(name)")
            var badBridged = HTTPHeaders()
            badBridged.add(name: NSString(string: name) as String, value: NSString(string: value) as String)
            XCTAssertThrowsError(try badBridged.validate(), "bridged \(name)")
            // The serializer checks each field as it copies it: refused too, and the buffer left as it was.
            for fields in [bad, badBridged] {
                var before: HTTPHeaders = ["Host": "a"]
                var after = fields
                for field in fields { before.add(name: field.name, value: field.value) }
                after.add(name: "X-After", value: "b")
                for headers in [fields, before, after] {
                    var request = Array("kept".utf8)
                    XCTAssertThrowsError(try HTTPSerializer.write(
                        HTTPRequestHead(method: "GET", target: "/", headers: headers), into: &request)) {
                        XCTAssertTrue("\($0)".contains(name.isEmpty ? "''" : "'\(name)'"), "\($0)")
                    }
                    XCTAssertEqual(request, Array("kept".utf8), "\(name)")
                    var response = Array("kept".utf8)
                    XCTAssertThrowsError(try HTTPSerializer.write(
                        HTTPResponseHead(status: 200, headers: headers), into: &response), "\(name)")
                    XCTAssertEqual(response, Array("kept".utf8), "\(name)")
                }
            }
        }
        var bytes: [UInt8] = []
        try HTTPSerializer.write(HTTPRequestHead(method: "GET", target: "/x", version: .http1_0, headers: headers),
                                 into: &bytes)
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("GET /x HTTP/1.0\r\nX-Ms-Request-Charge: 1.5\r\n"))
        bytes = []
        try HTTPSerializer.write(HTTPRequestHead(method: "GET", target: "/", version: HTTPVersion(major: 2, minor: 10)),
                                 into: &bytes)
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("GET / HTTP/2.10\r\n"))
    }

    func testResponseHeadsAreWrittenExactly() throws {
        var bytes: [UInt8] = Array("prefix|".utf8)
        try HTTPSerializer.write(HTTPResponseHead(status: 207, reason: "Multi\r\nStatus", headers: ["A": "1", "bb": ""]),
                                 into: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "prefix|HTTP/1.1 207 MultiStatus\r\nA: 1\r\nbb: \r\n\r\n")
        for (status, line) in [(100, "HTTP/1.1 100 Continue"), (404, "HTTP/1.1 404 Not Found"), (999, "HTTP/1.0 999 Status 999")] {
            bytes = []
            let version: HTTPVersion = status == 999 ? .http1_0 : .http1_1
            try HTTPSerializer.write(HTTPResponseHead(status: status, version: version), into: &bytes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), line + "\r\n\r\n")
            let parsed = try parse(.responses, line + "\r\nContent-Length: 0\r\n\r\n")
            guard case .responseHead(let head) = parsed.first else { return XCTFail("\(parsed)") }
            XCTAssertEqual(head.status, status)
        }
        for status in [99, 1000, -200] {
            XCTAssertThrowsError(try HTTPSerializer.write(HTTPResponseHead(status: status), into: &bytes), "\(status)")
        }
        // An opened head takes more fields (checked like the head's own) before it is ended; room is reserved.
        bytes = Array("p|".utf8)
        try HTTPSerializer.writeOpen(HTTPResponseHead(status: 200, headers: ["ETag": "\"1\""]), reserving: 4096,
                                     into: &bytes)
        XCTAssertGreaterThanOrEqual(bytes.capacity, bytes.count + 4096)
        try HTTPSerializer.appendField(name: "Content-Length", value: "12345", into: &bytes)
        let open = bytes
        XCTAssertThrowsError(try HTTPSerializer.appendField(name: "X-A", value: "1\r\nX-B: 2", into: &bytes))
        XCTAssertThrowsError(try HTTPSerializer.appendField(name: "X A", value: "1", into: &bytes))
        XCTAssertEqual(bytes, open, "a refused field leaves the head as it was")
        HTTPSerializer.endHead(into: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "p|HTTP/1.1 200 OK\r\nETag: \"1\"\r\nContent-Length: 12345\r\n\r\n")
        bytes = []
        try HTTPSerializer.writeOpen(HTTPRequestHead(method: "POST", target: "/x"), into: &bytes)
        try HTTPSerializer.appendField(name: "Host", value: "h", into: &bytes)
        HTTPSerializer.endHead(into: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "POST /x HTTP/1.1\r\nHost: h\r\n\r\n")
    }

    /// tchar (RFC 9110 §5.6.2) for every byte value: the bit tables agree with the grammar's own list.
    func testTokenBytesAreExactlyRFC9110Tchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(HTTPSyntax.isTokenByte(byte), tchar.contains(byte), "byte \(byte)")
        }
        XCTAssertTrue(HTTPSyntax.allBytes(of: "x-ms-Session-Token", are: .token))
        XCTAssertFalse(HTTPSyntax.allBytes(of: "x-ms(session)", are: .token))
    }

    func testHeaderDescriptionNeverPrintsValues() {
        let headers: HTTPHeaders = ["Authorization": "SharedAccessSignature sig=secret"]
        XCTAssertFalse(headers.description.contains("secret"))
    }
}
