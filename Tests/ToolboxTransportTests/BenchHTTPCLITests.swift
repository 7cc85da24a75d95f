import Foundation
import ToolboxCLITestSupport
import XCTest

/// Black-box tests of `toolbox bench http`: its flags, its JSON keys and its exit status are a public interface.
final class BenchHTTPCLITests: XCTestCase {
    private var nginx: NginxFixture!
    private var pki: TestPKI!

    override func setUpWithError() throws {
        pki = try TestPKI.get()
        nginx = try NginxFixture.start(pki: pki)
    }

    override func tearDown() {
        nginx?.stop()
    }

    private func toolbox(_ arguments: [String]) throws -> ToolboxCLI.Output { try ToolboxCLI.run(arguments) }

    func testPrintsOneJSONObjectWithItsKeys() throws {
        let result = try toolbox(["bench", "http", "--url", nginx.url("/hello.txt", tls: true, host: "localhost"),
                                  "--ca-file", pki.caFile, "--requests", "200", "--concurrency", "8", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["requests", "errors", "requests_per_sec", "p50_us", "p99_us", "connections_opened",
                    "started_after_poller_round"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["requests"] as? Int, 200)
        XCTAssertEqual(object["errors"] as? Int, 0)
        let opened = try XCTUnwrap(object["connections_opened"] as? Int)
        XCTAssertTrue((1...8).contains(opened), "connections_opened \(opened) outside 1...8")
        let handedOver = try XCTUnwrap(object["started_after_poller_round"] as? Int)
        XCTAssertTrue((0...200).contains(handedOver), "started_after_poller_round \(handedOver)")
        // nginx agrees: at most 8 connections carried the 200 requests.
        let log = nginx.accessLog(waitingFor: 200)
        XCTAssertEqual(log.count, 200)
        XCTAssertLessThanOrEqual(Set(log.map(\.connection)).count, 8)
    }

    func testUntrustedPeerExitsNonZeroWithTheTypedError() throws {
        let result = try toolbox(["bench", "http", "--url", nginx.url("/hello.txt", tls: true, host: "localhost"),
                                  "--ca-file", pki.otherCAFile, "--requests", "10", "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("untrustedIssuer"), result.stderr)
        XCTAssertEqual(result.stdout, "", "no JSON when the run could not start")
    }

    /// `--timeout` stays numeric seconds (users' scripts) and becomes a `Duration` at the edge, checked: values
    /// `Duration.seconds(_:)` would trap on, or that make no deadline, are a usage error naming the flag.
    func testTimeoutIsCheckedSecondsNeverATrap() throws {
        for value in ["nan", "inf", "0", "--timeout=-1", "1e300"] {
            let timeout = value.hasPrefix("--") ? [value] : ["--timeout", value]
            let result = try toolbox(["bench", "http", "--url", nginx.url("/hello.txt"), "--requests", "1", "--json"]
                                     + timeout)
            XCTAssertEqual(result.status, 64, "\(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("--timeout"), "\(value): \(result.stderr)")
        }
        let fine = try toolbox(["bench", "http", "--url", nginx.url("/hello.txt"), "--requests", "1", "--timeout", "10.5",
                                "--json"])
        XCTAssertEqual(fine.status, 0, fine.stderr)
    }

    func testWithoutCAFileTheSystemTrustStoreRefusesTheTestCA() throws {
        // Verification is on by default: the system trust store knows nothing of the generated CA.
        let result = try toolbox(["bench", "http", "--url", nginx.url("/hello.txt", tls: true), "--requests", "1", "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("untrustedIssuer"), result.stderr)
    }
}
