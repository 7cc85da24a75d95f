import AzureBlobStorage
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// Answers to the ranges of a download that contradict the size the first answer gave: they fail the download
/// with `.invalidResponse` instead of leaving unwritten bytes (zeros in a file already sized) in a download that
/// reports success.
final class RangeAnswerTests: XCTestCase {
    private static let size = 3_000
    private static let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }

    /// A server holding one 3,000-byte blob; `lie` decides the answer to the GET of `bytes=from-to` (nil: the
    /// truth).
    private func server(lie: @escaping @Sendable (_ from: Int, _ to: Int) -> HTTPServerResponse?) throws -> HTTPServer {
        try HTTPServer { request, respond in
            guard request.head.method == "GET" else { return respond(HTTPServerResponse(status: 405)) }
            let range = request.head.headers.first(name: "x-ms-range") ?? ""
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2 else { return respond(HTTPServerResponse(status: 400)) }
            let (from, to) = (bounds[0], min(bounds[1], Self.size - 1))
            if let lie = lie(from, to) { return respond(lie) }
            respond(HTTPServerResponse(status: 206, headers: [
                "Content-Range": "bytes \(from)-\(to)/\(Self.size)", "ETag": "\"v1\"", "x-ms-blob-type": "BlockBlob",
            ], body: .bytes(Array(Self.content[from...to]))))
        }
    }

    private func download(from server: HTTPServer) throws -> [UInt8] {
        let container = try scriptedContainer(port: server.port, permissions: "r") { $0.scriptedDownloads(concurrency: 1) }
        defer { try? container.close() }
        return try container.download("b.bin").content
    }

    /// A server echoing the account key into its error (message and request id) never gets it into the error,
    /// for a download's ranges and for the other requests alike.
    func testAnEchoedAccountKeyNeverReachesTheError() throws {
        let key = "ZWNob2VkLWFjY291bnQta2V5LXZhbHVlLTEyMzQ1Ng=="
        let echo = try HTTPServer { _, respond in
            respond(HTTPServerResponse(status: 403, headers: ["Content-Type": "application/xml", "x-ms-request-id": key,
                                                              "x-ms-error-code": "AuthorizationFailure"],
                                       text: "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthorizationFailure"
                                           + "</Code><Message>the key \(key) may not do this</Message></Error>"))
        }
        defer { echo.close() }
        let container = try BlobContainer(
            connectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(key);"
                + "BlobEndpoint=http://127.0.0.1:\(echo.port)/devstoreaccount1;", containerName: "ctr1")
        defer { try? container.close() }
        let attempts: [(String, () throws -> Void)] = [
            ("download", { _ = try container.download("b.bin") }),
            ("upload", { _ = try container.upload("b.bin", data: [1, 2, 3]) }),
        ]
        for (what, attempt) in attempts {
            XCTAssertThrowsError(try attempt(), what) { error in
                let text = "\(error) \((error as? ToolboxError)?.serviceCondition.map { "\($0)" } ?? "")"
                XCTAssertFalse(text.contains(key), "\(what): \(text)")
                XCTAssertTrue(text.contains("[REDACTED]"), "\(what): \(text)")
            }
        }
    }

    func testTheTruthDownloadsWhole() throws {
        let honest = try server { _, _ in nil }
        defer { honest.close() }
        XCTAssertEqual(try download(from: honest), Self.content)
    }

    func testALaterRangeClaimingTheBlobEndsInsideItFails() throws {
        // The second range (1000-1999) is answered "bytes 1000-1000/1001": one byte, and a blob said to end there.
        let liar = try server { from, _ in
            from == 1_000 ? HTTPServerResponse(status: 206, headers: ["Content-Range": "bytes 1000-1000/1001",
                                                                      "ETag": "\"v1\""], body: .bytes([9])) : nil
        }
        defer { liar.close() }
        XCTAssertThrowsError(try download(from: liar)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidResponse, "\(error)")
        }
    }

    func testALaterRangeAnsweredWithAShorterWholeBlobFails() throws {
        // A 200 (the whole blob, range ignored) of 500 bytes to the third range: none of its bytes is there.
        let liar = try server { from, _ in
            from == 2_000 ? HTTPServerResponse(status: 200, headers: ["ETag": "\"v1\""], body: .bytes(Array(Self.content[..<500])))
                : nil
        }
        defer { liar.close() }
        XCTAssertThrowsError(try download(from: liar)) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidResponse, "\(error)")
        }
    }
}

/// A listing whose next page is named by the marker it was asked with would be followed forever.
final class ListingAnswerTests: XCTestCase {
    /// Lists (`all`: every page; else one) from a server answering every request with `xml`; returns the error
    /// and how many requests it took.
    private func listingError(answering xml: String, all: Bool) throws -> (error: (any Error)?, requests: Int) {
        let asked = LockedValue(0)
        let server = try HTTPServer { _, respond in
            asked.withLockedValue { $0 += 1 }
            respond(HTTPServerResponse(status: 200, headers: ["Content-Type": "application/xml"], text: xml))
        }
        defer { server.close() }
        let container = try scriptedContainer(port: server.port, permissions: "l")
        defer { try? container.close() }
        do {
            if all { _ = try container.listAllBlobs() } else { _ = try container.listBlobs() }
            return (nil, asked.load())
        } catch {
            return (error, asked.load())
        }
    }

    func testAMarkerAnsweredWithItselfFailsTheListing() throws {
        let xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="ctr1"><Blobs>"#
            + #"<Blob><Name>b</Name><Properties><Content-Length>1</Content-Length></Properties></Blob></Blobs>"#
            + "<NextMarker>again</NextMarker></EnumerationResults>"
        let (error, requests) = try listingError(answering: xml, all: true)
        XCTAssertEqual((error as? ToolboxError)?.code, .invalidResponse, "\(String(describing: error))")
        XCTAssertEqual(requests, 2, "the first page, then the page its marker names; no third request")
    }

    /// The Blob service never sends a document type declaration; one that expands entities a billion times over
    /// (or names external ones) is refused before the parser sees it.
    func testADocumentTypeDeclarationIsRefused() throws {
        let laughs = (1...9).map { level in
            "<!ENTITY l\(level) \"" + String(repeating: "&l\(level - 1);", count: 10) + "\">"
        }.joined()
        let xml = #"<?xml version="1.0"?><!DOCTYPE EnumerationResults [<!ENTITY l0 "ha">"# + laughs + "]>"
            + "<EnumerationResults><Blobs><Blob><Name>&l9;</Name></Blob></Blobs></EnumerationResults>"
        let (error, _) = try listingError(answering: xml, all: false)
        XCTAssertEqual((error as? ToolboxError)?.code, .invalidResponse, "\(String(describing: error))")
    }
}
