import AzureBlobStorage
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// A server whose markers go round in a cycle (A → B → A …), or that hands out empty pages with new markers
/// forever: a listing must end, and must not print a page twice.
final class BlobListingLoopTests: XCTestCase {
    /// A List Blobs server: `answer(marker, request number)` gives the page's blob name (nil: none) and next
    /// marker (nil: the last page). After `maxRequests` it answers 400, so a client that would loop ends.
    private func server(maxRequests: Int = 40,
                        answer: @escaping @Sendable (_ marker: String?, _ number: Int) -> (blob: String?, next: String?))
        throws -> (HTTPServer, LockedValue<Int>)
    {
        let asked = LockedValue(0)
        let server = try HTTPServer { request, respond in
            let number: Int = asked.withLockedValue { $0 += 1; return $0 }
            guard number <= maxRequests else {
                return respond(HTTPServerResponse(status: 400, headers: ["x-ms-error-code": "TooManyRequestsInTest"],
                                                  text: "<Error><Code>TooManyRequestsInTest</Code></Error>"))
            }
            let query = request.head.target.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
            let marker = query.split(separator: "&").first { $0.hasPrefix("marker=") }
                .map { String($0.dropFirst("marker=".count)).removingPercentEncoding ?? "" }
            let (blob, next) = answer(marker, number)
            let blobs = blob.map { "<Blob><Name>\($0)</Name><Properties><Content-Length>1</Content-Length>"
                + "</Properties></Blob>" } ?? ""
            let xml = #"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="ctr1"><Blobs>"#
                + blobs + "</Blobs><NextMarker>\(next ?? "")</NextMarker></EnumerationResults>"
            respond(HTTPServerResponse(status: 200, headers: ["Content-Type": "application/xml"], text: xml))
        }
        return (server, asked)
    }

    /// A → B → A: page 1 (no marker) names A, A names B, B names A again.
    private static func cycle(_ marker: String?, _ number: Int) -> (blob: String?, next: String?) {
        switch marker {
        case nil: return ("first", "A")
        case "A": return ("second", "B")
        default: return ("third", "A")
        }
    }

    private func cli(_ server: HTTPServer, _ extra: [String] = []) throws -> ToolboxCLI.Output {
        // A listing that never ends fails the test instead of hanging it.
        try ToolboxCLI.run(["blob", "list", "--container", "ctr1", "--no-progress", "--account-url",
                            "http://127.0.0.1:\(server.port)/devstoreaccount1?sv=2020-12-06&sp=l&sig=unchecked"] + extra,
                           timeLimit: 120)
    }

    func testAMarkerCycleFailsListAllBlobs() throws {
        let (server, asked) = try server(answer: Self.cycle)
        defer { server.close() }
        let container = try scriptedContainer(port: server.port, permissions: "l")
        defer { try? container.close() }
        XCTAssertThrowsError(try container.listAllBlobs()) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .invalidResponse, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("marker 'A'") ?? false, "\(String(describing: error))")
        }
        XCTAssertEqual(asked.load(), 3, "no request after the page that names A again")
    }

    func testTheCLIStopsAMarkerCycleBeforePrintingItsPage() throws {
        let (server, asked) = try server(answer: Self.cycle)
        defer { server.close() }
        let output = try cli(server)
        XCTAssertEqual(output.status, 1, output.stderr)
        let names = output.jsonLines.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["first", "second"], output.stdout)
        let error = output.jsonLines.last?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, "invalidResponse", output.stdout)
        XCTAssertEqual(asked.load(), 3)
    }

    func testTheCLIPrintsAPageRepeatingItsMarkerOnce() throws {
        let (server, _) = try server { _, _ in ("only", "again") }
        defer { server.close() }
        let output = try cli(server)
        XCTAssertEqual(output.status, 1, output.stderr)
        XCTAssertEqual(output.jsonLines.compactMap { $0["name"] as? String }, ["only"], output.stdout)
    }

    /// The library's listing has a whole-listing bound too (`totalTimeout`): each page was bounded, the listing not.
    func testTotalTimeoutEndsAnEndlessListAllBlobs() throws {
        let (server, asked) = try server(maxRequests: .max) { _, number in (nil, "m\(number)") }
        defer { server.close() }
        let container = try scriptedContainer(port: server.port, permissions: "l")
        defer { try? container.close() }
        XCTAssertThrowsError(try container.listAllBlobs(totalTimeout: .seconds(1))) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .timedOut, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("total time-out of 1.0 s") ?? false, "\(String(describing: error))")
        }
        XCTAssertGreaterThan(asked.load(), 1, "it followed the markers until the time was up")
    }

    func testTheCLITimeoutEndsAnEndlessListingOfEmptyPages() throws {
        // Every page is empty and names a new marker: no loop to detect, only time bounds it.
        let (server, _) = try server(maxRequests: .max) { _, number in (nil, "m\(number)") }
        defer { server.close() }
        let output = try cli(server, ["--timeout", "1"])
        XCTAssertEqual(output.status, 1, output.stderr)
        let error = output.jsonLines.last?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, "timedOut", output.stdout)
        XCTAssertTrue((error?["message"] as? String)?.contains("--timeout 1") ?? false, output.stdout)
        XCTAssertEqual(try cli(server, ["--timeout", "0"]).status, 64, "a usage error")
    }
}
