import Foundation
import ToolboxCLITestSupport
import XCTest

/// Black-box tests of `toolbox bench pool` and `toolbox demo`: their flags and JSON keys are a public interface.
final class PoolCLITests: XCTestCase {
    private func run(_ arguments: [String]) throws -> ToolboxCLI.Output { try ToolboxCLI.run(arguments) }

    func testBenchPoolPrintsOneJSONObjectWithItsKeys() throws {
        let result = try run(["bench", "pool", "--threads", "2", "--seconds", "0.2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        for key in ["leases_per_sec", "p50_ns", "p99_ns", "baseline_lock_pair_ns", "threads", "errors"] {
            XCTAssertNotNil(object[key], "missing \(key) in \(result.stdout)")
        }
        XCTAssertEqual(object["threads"] as? Int, 2)
        XCTAssertEqual(object["errors"] as? Int, 0)
        XCTAssertGreaterThan(object["leases_per_sec"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(object["baseline_lock_pair_ns"] as? Double ?? 0, 0)
        XCTAssertLessThanOrEqual(object["p50_ns"] as? Int ?? .max, object["p99_ns"] as? Int ?? 0)
    }

    func testBenchPoolRejectsBadFlagsClearly() throws {
        let result = try run(["bench", "pool", "--threads", "0", "--json"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--threads"), result.stderr)
        XCTAssertEqual(result.stdout, "")
    }

    func testDemoComparesColdAndPooledAndPrintsTheSeedKeys() throws {
        let result = try run(["demo", "--connect-delay-ms", "50", "--count", "4", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try result.singleJSONObject()
        XCTAssertEqual(object["connect_delay_ms"] as? Int, 50)
        XCTAssertEqual(object["count"] as? Int, 4)
        let basic = try XCTUnwrap(object["basic_ms_per_op"] as? Double)
        let pooled = try XCTUnwrap(object["pooled_ms_per_op"] as? Double)
        XCTAssertGreaterThanOrEqual(basic, 50, "every basic operation pays the connection setup")
        XCTAssertLessThan(pooled, basic, "only the first pooled operation pays it")
        XCTAssertNotNil(object["speedup"])
        XCTAssertTrue(result.stderr.contains("basic"), "the table goes to stderr with --json")
    }
}
