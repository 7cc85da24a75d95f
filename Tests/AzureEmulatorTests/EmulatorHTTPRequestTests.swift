import Foundation
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// The request target taken apart on UTF-8 bytes: segments and query items decode exactly as Foundation's
/// `removingPercentEncoding` did, malformed escapes included.
final class EmulatorHTTPRequestTests: XCTestCase {
    private func request(_ target: String) -> EmulatorHTTPRequest {
        EmulatorHTTPRequest(head: HTTPRequestHead(method: "GET", target: target, headers: HTTPHeaders()), body: [],
                            isSecure: true, localPort: 443, remoteAddress: nil)
    }

    func testPercentDecodingMatchesFoundation() {
        let samples = [
            "", "plain", "a%20b", "%41%42%43", "a+b", "%2B", "%2b", "caf%C3%A9", "%E2%82%AC100", "100%", "%4", "%zz",
            "%%41", "a%2", "%C3", "%FF%FE", "%00x", "é%20é", "日本%E8%AA%9E", "%2F%3F%26%3D", "sig%3Dab%2Bcd%2F%3D%3D",
        ]
        for sample in samples {
            XCTAssertEqual(EmulatorHTTPRequest.percentDecoded(Substring(sample)), sample.removingPercentEncoding ?? sample,
                           "\(sample)")
        }
    }

    func testSegmentsAndQueryItems() {
        let parsed = request("/dbs/my%20db/colls/c%2Fd//docs/caf%C3%A9?api-version=2018-01-01&sig=ab%2Bc%3D&flag&=v&e=")
        XCTAssertEqual(parsed.path, "/dbs/my%20db/colls/c%2Fd//docs/caf%C3%A9")
        XCTAssertEqual(parsed.pathSegments, ["dbs", "my db", "colls", "c/d", "docs", "café"])
        XCTAssertEqual(parsed.rawQuery, "api-version=2018-01-01&sig=ab%2Bc%3D&flag&=v&e=")
        XCTAssertEqual(parsed.query.map(\.name), ["api-version", "sig", "flag", "", "e"])
        XCTAssertEqual(parsed.query.map(\.value), ["2018-01-01", "ab+c=", "", "v", ""])
        XCTAssertEqual(parsed.queryValue("SIG"), "ab+c=")

        XCTAssertEqual(request("/").pathSegments, [])
        XCTAssertEqual(request("/").query, [])
        XCTAssertEqual(request("http://host:1/a/b?x=1").pathSegments, ["a", "b"])
        XCTAssertEqual(request("http://host:1").path, "/")
        XCTAssertEqual(request("https://host/x%20y?a=%C3%A9").pathSegments, ["x y"])
        XCTAssertEqual(request("https://host/x%20y?a=%C3%A9").queryValue("a"), "é")
        XCTAssertEqual(request("https://host?a=1").path, "/")
        XCTAssertEqual(request("HTTP://host/a").path, "HTTP://host/a", "only the lower-case absolute form is taken apart")
        XCTAssertEqual(request("/caf\u{E9}/\u{1F600}?q=\u{E9}\u{301}").pathSegments, ["caf\u{E9}", "\u{1F600}"])
        XCTAssertEqual(request("/caf\u{E9}/\u{1F600}?q=\u{E9}\u{301}").queryValue("q"), "\u{E9}\u{301}")
        XCTAssertEqual(request("/a?").rawQuery, "")
        XCTAssertEqual(request("/a?b?c").rawQuery, "b?c")
        XCTAssertEqual(request("/bad%zz/x?q=%").pathSegments, ["bad%zz", "x"])
        XCTAssertEqual(request("/bad%zz/x?q=%").queryValue("q"), "%")
    }
}
