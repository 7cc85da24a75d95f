import AzureBlobStorage
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// A blob replaced while it downloads: every request after the first answer carries `If-Match` with that
/// answer's ETag (the first range's resume too), and an answer of another ETag or size fails the download
/// instead of mixing two versions in it.
final class DownloadPinTests: XCTestCase {
    private static let size = 3_000
    private static let old = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    private static let new = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 3) }

    /// What the server saw: each GET's `x-ms-range` and `If-Match`.
    private struct Seen: Sendable {
        var range: String
        var ifMatch: String?
    }

    /// A server whose blob is `old` ("0x8DC0001") until the first answer has sent 500 of its bytes and dropped
    /// the connection, then `new` ("0x8DC0002"). `honoursIfMatch`: a request whose `If-Match`
    /// is not the current ETag gets 412 (as Storage answers); else it is ignored (a hostile or broken server).
    private func replacingServer(honoursIfMatch: Bool, seen: LockedValue<[Seen]>) throws
        -> HTTPServer
    {
        try HTTPServer { request, respond in
            let range = request.head.headers.first(name: "x-ms-range") ?? ""
            let ifMatch = request.head.headers.first(name: "If-Match")
            let number: Int = seen.withLockedValue {
                $0.append(Seen(range: range, ifMatch: ifMatch))
                return $0.count
            }
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2 else { return respond(HTTPServerResponse(status: 400)) }
            if number == 1 {
                // The first answer: headers for bytes 0-999 of the old version, 500 body bytes, then a reset.
                let sent = LockedValue(false)
                let piece = Array(Self.old[0..<500])
                return respond(HTTPServerResponse(status: 206, headers: [
                    "Content-Range": "bytes 0-999/\(Self.size)", "ETag": "\"0x8DC0001\"", "x-ms-blob-type": "BlockBlob",
                ], body: .stream(contentLength: 1_000, next: {
                    sent.withLockedValue { done in
                        defer { done = true }
                        return done ? nil : piece
                    }
                })))
            }
            if honoursIfMatch, let ifMatch, ifMatch != "\"0x8DC0002\"" {
                return respond(HTTPServerResponse(status: 412, headers: ["x-ms-error-code": "ConditionNotMet"],
                                                  text: "<Error><Code>ConditionNotMet</Code><Message>The condition "
                                                      + "specified using HTTP conditional header(s) is not met."
                                                      + "</Message></Error>"))
            }
            let (from, to) = (bounds[0], min(bounds[1], Self.size - 1))
            respond(HTTPServerResponse(status: 206, headers: [
                "Content-Range": "bytes \(from)-\(to)/\(Self.size)", "ETag": "\"0x8DC0002\"", "x-ms-blob-type": "BlockBlob",
            ], body: .bytes(Array(Self.new[from...to]))))
        }
    }

    private func download(from server: HTTPServer) throws -> BlobDownloadResult {
        let container = try scriptedContainer(port: server.port, permissions: "r") { $0.scriptedDownloads(concurrency: 2) }
        defer { try? container.close() }
        return try container.download("b.bin")
    }

    func testAServerIgnoringIfMatchCannotMixVersionsAfterAResume() throws {
        let seen = LockedValue<[Seen]>([])
        let server = try replacingServer(honoursIfMatch: false, seen: seen)
        defer { server.close() }
        XCTAssertThrowsError(try download(from: server)) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .preconditionFailed, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("changed during the download") ?? false, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("0x8DC0002") ?? false, "\(String(describing: error))")
        }
        let requests = seen.withLockedValue { $0 }
        XCTAssertGreaterThanOrEqual(requests.count, 2)
        XCTAssertEqual(requests.first?.ifMatch, nil)
        XCTAssertEqual(requests.dropFirst().first?.range, "bytes=500-999", "the resume starts at the first byte missing")
        for request in requests.dropFirst() {
            XCTAssertEqual(request.ifMatch, "\"0x8DC0001\"", "every request after the first answer: \(request.range)")
        }
    }

    func testAServerHonouringIfMatchFailsTheResumeWith412() throws {
        let seen = LockedValue<[Seen]>([])
        let server = try replacingServer(honoursIfMatch: true, seen: seen)
        defer { server.close() }
        XCTAssertThrowsError(try download(from: server)) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .preconditionFailed, "\(String(describing: error))")
            XCTAssertEqual(error?.serviceCondition?.httpStatus, 412)
            XCTAssertTrue(error?.message.contains("changed during the download") ?? false, "\(String(describing: error))")
        }
        let requests = seen.withLockedValue { $0 }
        XCTAssertEqual(requests.count, 2, "the resume is refused and not retried: \(requests.map(\.range))")
        XCTAssertEqual(requests.last?.ifMatch, "\"0x8DC0001\"")
    }

    func testALaterRangeStatingAnotherSizeFailsEvenWithTheSameETag() throws {
        // Same ETag, but the total grows from 3,000 to 4,000 bytes on the second range.
        let server = try HTTPServer { request, respond in
            let range = request.head.headers.first(name: "x-ms-range") ?? ""
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2 else { return respond(HTTPServerResponse(status: 400)) }
            let total = bounds[0] == 0 ? Self.size : 4_000
            let (from, to) = (bounds[0], min(bounds[1], Self.size - 1))
            respond(HTTPServerResponse(status: 206, headers: [
                "Content-Range": "bytes \(from)-\(to)/\(total)", "ETag": "\"0x8DC0001\"", "x-ms-blob-type": "BlockBlob",
            ], body: .bytes(Array(Self.old[from...to]))))
        }
        defer { server.close() }
        XCTAssertThrowsError(try download(from: server)) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .invalidResponse, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("size changed from 3000 bytes to 4000 bytes") ?? false,
                          "\(String(describing: error))")
        }
    }

    func testAnUnchangedBlobStillDownloadsWholeAfterAResume() throws {
        // The same cut first answer, then the same version: the resume and later ranges complete it.
        let count = LockedValue(0)
        let server = try HTTPServer { request, respond in
            let number: Int = count.withLockedValue { $0 += 1; return $0 }
            let range = request.head.headers.first(name: "x-ms-range") ?? ""
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2 else { return respond(HTTPServerResponse(status: 400)) }
            let (from, to) = (bounds[0], min(bounds[1], Self.size - 1))
            if number > 1, request.head.headers.first(name: "If-Match") != "\"0x8DC0001\"" {
                return respond(HTTPServerResponse(status: 412))
            }
            let headers: HTTPHeaders = ["Content-Range": "bytes \(from)-\(to)/\(Self.size)", "ETag": "\"0x8DC0001\""]
            if number == 1 {
                let sent = LockedValue(false)
                let piece = Array(Self.old[0..<500])
                return respond(HTTPServerResponse(status: 206, headers: headers, body: .stream(contentLength: 1_000, next: {
                    sent.withLockedValue { done in
                        defer { done = true }
                        return done ? nil : piece
                    }
                })))
            }
            respond(HTTPServerResponse(status: 206, headers: headers, body: .bytes(Array(Self.old[from...to]))))
        }
        defer { server.close() }
        let result = try download(from: server)
        XCTAssertEqual(result.content, Self.old)
        XCTAssertEqual(result.properties.etag, "\"0x8DC0001\"")
    }
}
