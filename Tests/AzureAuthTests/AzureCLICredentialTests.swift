import Foundation
import ToolboxCore
import XCTest

@testable import AzureAuth

/// Runs a fake `az` script put first on an injected PATH.
final class AzureCLICredentialTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-az-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Installs `az` with `body` as its shell script and returns an environment whose PATH finds it.
    private func installAZ(_ body: String) throws -> [String: String] {
        let script = directory.appendingPathComponent("az")
        try ("#!/bin/sh\n" + body + "\n").write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        return ["PATH": "\(directory.path):/usr/bin:/bin", "HOME": directory.path]
    }

    func testTokenFromFakeAZWithArgumentsWorkingDirectoryAndEnvironment() throws {
        let log = directory.appendingPathComponent("calls.log").path
        let environment = try installAZ("""
            echo "$@" >> \(log)
            pwd >> \(log)
            echo "color=$AZURE_CORE_NO_COLOR" >> \(log)
            echo '{"accessToken": "cli-token", "expiresOn": "2026-11-25 21:22:17.000000", "expires_on": 1795641737, "subscription": "s", "tenant": "t", "tokenType": "Bearer"}'
            """)
        let credential = AzureCLICredential(tenantID: "tenant-1", environment: environment)
        let token = try XCTUnwrap(awaitToken(credential, ["https://storage.azure.com/.default"])).get()
        XCTAssertEqual(token.token.exposedValue, "cli-token")
        XCTAssertEqual(token.expiresOn, 1_795_641_737)
        _ = try XCTUnwrap(awaitToken(credential, ["https://storage.azure.com/.default"])).get()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, "no caching: az ran twice")
        XCTAssertEqual(lines[0],
            "account get-access-token --output json --resource https://storage.azure.com --tenant tenant-1")
        XCTAssertTrue(lines[1] == "/bin" || lines[1] == "/usr/bin", lines[1])
        XCTAssertEqual(lines[2], "color=true")
    }

    func testExpiresOnLocalTimeFallback() throws {
        let environment = try installAZ("""
            echo '{"accessToken": "cli-token", "expiresOn": "2030-01-01 00:00:00.000000"}'
            """)
        let token = try XCTUnwrap(awaitToken(AzureCLICredential(environment: environment), ["https://x/.default"]))
            .get()
        var t = tm()
        t.tm_year = 130
        t.tm_mday = 1
        t.tm_isdst = -1
        XCTAssertEqual(token.expiresOn, Int(mktime(&t)))
    }

    func testNotLoggedInIsUnavailable() throws {
        let environment = try installAZ("""
            echo "ERROR: Please run 'az login' to setup account." >&2
            exit 1
            """)
        let error = try XCTUnwrap(awaitToken(AzureCLICredential(environment: environment), ["https://x/.default"])?
            .failure)
        XCTAssertEqual(error.code, .credentialUnavailable)
        XCTAssertTrue(error.message.contains("az login"))
    }

    func testOtherFailuresAreAuthenticationErrorsAndNeverEchoStdout() throws {
        let environment = try installAZ("""
            echo '{"accessToken": "leaky-token"}'
            echo "AADSTS70043: The refresh token has expired. Run 'az login'" >&2
            exit 1
            """)
        let error = try XCTUnwrap(awaitToken(AzureCLICredential(environment: environment), ["https://x/.default"])?
            .failure)
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertTrue(error.message.contains("AADSTS70043"))
        XCTAssertFalse("\(error)".contains("leaky-token"))
    }

    func testMissingAZIsUnavailable() throws {
        let credential = AzureCLICredential(environment: ["PATH": directory.path])
        let error = try XCTUnwrap(awaitToken(credential, ["https://x/.default"])?.failure)
        XCTAssertEqual(error.code, .credentialUnavailable)
        XCTAssertTrue(error.message.contains("not found"))
    }

    func testHangingAZIsKilledAfterTheTimeout() throws {
        let pidFile = directory.appendingPathComponent("az.pid").path
        let environment = try installAZ("echo $$ > \(pidFile)\nexec sleep 30")
        // Long enough for the shell to have written its pid before it is killed, even on a busy machine.
        let credential = AzureCLICredential(processTimeout: .milliseconds(1500), environment: environment)
        XCTAssertEqual(awaitToken(credential, ["https://x/.default"])?.failureCode, .timedOut)
        let pid = try XCTUnwrap(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingWhitespace()))
        // The child was sent SIGTERM: it disappears (polled, no timing assertion on how fast).
        var alive = true
        for _ in 0..<200 where alive {
            // A zombie (state Z, not yet reaped by Foundation) has exited too.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let zombie = stat.split(separator: ")").last?.split(separator: " ").first == "Z"
            alive = kill(pid, 0) == 0 && !zombie
            if alive { Thread.sleep(forTimeInterval: 0.05) }
        }
        XCTAssertFalse(alive, "az (pid \(pid)) is still running after the timeout")
    }

    func testUnparsableOutput() throws {
        let environment = try installAZ("echo not-json")
        XCTAssertEqual(awaitToken(AzureCLICredential(environment: environment), ["https://x/.default"])?.failureCode,
            .authenticationFailed)
        XCTAssertEqual(awaitToken(AzureCLICredential(tenantID: "bad tenant", environment: environment),
            ["https://x/.default"])?.failureCode, .invalidArgument)
    }
}
