import Foundation
import ToolboxCore
import ToolboxCLITestSupport
import ToolboxTransport
import XCTest

@testable import AzureAuth
import ToolboxTransportServer

/// Issue 13 item 7: token endpoints are outside input. Lifetimes that are not finite, do not fit, are negative or
/// already past are refused with an error naming the field — never a trap (an App Service endpoint answering
/// `expires_on` "1e999" killed `toolbox auth token`), never accepted ("-5" was). An expiry already past by our
/// clock is accepted (the endpoint's clock may differ; the cache fetches again), as azure-identity does.
final class HostileTokenResponseTests: XCTestCase {
    private let now = 1_800_000_000

    private func parse(_ fields: String) -> Result<AccessToken, AuthError> {
        let body = #"{"access_token":"hostile-token-value","token_type":"Bearer",\#(fields)}"#
        return TokenResponseParser.parse(TokenHTTPResponse(status: 200, body: Array(body.utf8)), now: now,
                                         source: "test endpoint")
    }

    private func assertRefused(_ fields: String, naming field: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        switch parse(fields) {
        case .success(let token):
            XCTFail("accepted \(fields): \(token)", file: file, line: line)
        case .failure(let error):
            XCTAssertEqual(error.code, .authenticationFailed, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains("'\(field)'"), "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("hostile-token-value"), "the token leaked: \(error)", file: file,
                           line: line)
        }
    }

    func testExpiresOnValuesThatCrashedOrWereWronglyAcceptedAreRefused() {
        for value in [#""1e999""#, "1e300", #""nan""#, "99999999999999999999999", #""99999999999999999999999""#,
                      #""-5""#, "-5", "0", #""inf""#, #""-inf""#, #""1e-9""#, #""12abc""#, "[]", "{}", "true",
                      "\(TokenResponseParser.latestExpiry + 1)"] {
            assertRefused(#""expires_on":\#(value)"#, naming: "expires_on")
        }
    }

    func testExpiresInAndRefreshInOutsideTheirRangesAreRefused() {
        for value in [#""1e999""#, "1e300", #""nan""#, "99999999999999999999999", "-1", "0",
                      "\(TokenResponseParser.longestLifetime + 1)"] {
            assertRefused(#""expires_in":\#(value)"#, naming: "expires_in")
        }
        for value in [#""nan""#, "-1", "1e300"] {
            assertRefused(#""expires_in":3600,"refresh_in":\#(value)"#, naming: "refresh_in")
        }
    }

    /// Found by TokenResponseFuzzer: an endpoint that repeats its token in a lifetime field must not get the token
    /// quoted in the error (nor a value that is part of it, nor a number whose digits hold a numeric token).
    func testALifetimeHoldingTheTokenIsNotQuoted() {
        let cases: [(token: String, fields: String, field: String)] = [
            ("dgacefbhijkl", #""expires_in":"dgacefbhijkl""#, "expires_in"),
            ("dgacefbhijkl", #""expires_in":"x-dgacefbhijkl-y""#, "expires_in"),
            ("dgacefbhijklmnopqrstuvwxyz0123456789ABCDEF", #""expires_on":"dgacefbhijklmnopqrstuvwxyz0123456789""#,
             "expires_on"),
            ("12345678", #""expires_on":9912345678999"#, "expires_on"),
            ("12345678", #""refresh_in":"999123456789","expires_in":3600"#, "refresh_in"),
        ]
        for (token, fields, field) in cases {
            let body = #"{"access_token":"\#(token)",\#(fields)}"#
            switch TokenResponseParser.parse(TokenHTTPResponse(status: 200, body: Array(body.utf8)), now: now,
                                             source: "test endpoint") {
            case .success(let parsed):
                XCTFail("accepted \(fields): \(parsed)")
            case .failure(let error):
                XCTAssertTrue(error.message.contains("'\(field)'"), "\(error)")
                XCTAssertFalse("\(error)".contains(token), "the token leaked: \(error)")
                XCTAssertFalse("\(error)".contains(token.prefix(12)), "part of the token leaked: \(error)")
            }
        }
        // A value that does not overlap the token is still quoted, for the operator's sake.
        guard case .failure(let error) = parse(#""expires_in":"soon""#) else { return XCTFail("accepted 'soon'") }
        XCTAssertTrue(error.message.contains("'soon'"), "\(error)")
    }

    func testValidLifetimesStillParse() throws {
        let entra = try parse(#""expires_in":3599"#).get()
        XCTAssertEqual(entra.expiresOn, now + 3599)
        let imds = try parse(#""expires_in":"86399","expires_on":"1800086399""#).get()
        XCTAssertEqual(imds.expiresOn, 1_800_086_399)
        XCTAssertEqual(imds.refreshOn, now + 86399 / 2)
        // A whole number written as a float (some endpoints do) is still whole.
        XCTAssertEqual(try parse(#""expires_on":1800000100.0"#).get().expiresOn, 1_800_000_100)
        XCTAssertEqual(try parse(#""expires_in":7200,"refresh_in":60"#).get().refreshOn, now + 60)
    }

    func testAzureCLIOutputWithHostileExpiryIsRefused() {
        for value in ["1e300", #""nan""#, "-5", "99999999999999999999999"] {
            let output = ProcessOutput(
                status: 0, stdout: Array(#"{"accessToken":"hostile-token-value","expires_on":\#(value)}"#.utf8),
                stderr: [])
            guard case .failure(let error) = AzureCLICredential.parse(output) else {
                XCTFail("accepted expires_on \(value)")
                continue
            }
            XCTAssertTrue(error.message.contains("'expires_on'"), "\(error)")
        }
        // A naive local time whose fields would not fit an Int32 is not a time.
        XCTAssertNil(AzureCLICredential.parseLocalTime("99999999999999-11-25 21:22:17.000000"))
        XCTAssertNil(AzureCLICredential.parseLocalTime("2026-13-25 21:22:17.000000"))
        XCTAssertNotNil(AzureCLICredential.parseLocalTime("2026-11-25 21:22:17.000000"))
    }

    /// The issue's reproduction, black box: `toolbox auth token` against an App Service managed-identity endpoint
    /// answering each hostile `expires_on` exits non-zero with the reason on stderr instead of dying.
    func testAuthTokenCommandReportsAHostileAppServiceAnswer() throws {
        let answer = LockedValue("")
        let server = try HTTPServer(host: "127.0.0.1", port: 0) { _, respond in
            let body = #"{"access_token":"hostile-token-value","token_type":"Bearer","resource":"r","expires_on":\#(answer.load())}"#
            respond(HTTPServerResponse(status: 200, headers: ["Content-Type": "application/json"],
                                       body: .bytes(Array(body.utf8))))
        }
        defer { server.close() }
        for value in [#""1e999""#, "1e300", #""nan""#, "99999999999999999999999", #""-5""#] {
            answer.withLockedValue { $0 = value }
            let result = try ToolboxCLI.run(
                ["auth", "token", "--scope", "https://vault.azure.net/.default", "--credential", "managed-identity",
                 "--json"],
                environment: ["IDENTITY_ENDPOINT": "http://127.0.0.1:\(server.port)/msi/token",
                              "IDENTITY_HEADER": "header-value", "PATH": "/usr/bin:/bin"])
            XCTAssertEqual(result.status, 1, "expires_on \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("expires_on"), "expires_on \(value): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("hostile-token-value") || result.stdout.contains("hostile-token-value"))
        }
    }
}
