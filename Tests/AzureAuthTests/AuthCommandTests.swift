import Foundation
import ToolboxCore
import ToolboxCLITestSupport
import XCTest

@testable import AzureAuth

/// Black-box tests of `toolbox auth ...`, run from the binary built next to the test bundle.
final class AuthCommandTests: XCTestCase {
    private func run(_ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let output = LockedValue<Result<ProcessOutput, AuthError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        ProcessRunner.run(
            executable: try ToolboxCLI.executablePath(), arguments: arguments, environment: environment,
            workingDirectory: FileManager.default.temporaryDirectory.path, timeout: 60
        ) { result in
            output.withLockedValue { $0 = result }
            done.signal()
        }
        done.wait()
        let result = try XCTUnwrap(output.load()).get()
        return (result.status, String(decoding: result.stdout, as: UTF8.self),
                String(decoding: result.stderr, as: UTF8.self))
    }

    func testSASTokenPrintsTheSDKToken() throws {
        let result = try run(["auth", "sas-token", "--uri", "sb://myns.servicebus.windows.net/eh1", "--key-name",
                              "RootManageSharedAccessKey", "--key", "dGVzdGtleS1ub3QtYS1zZWNyZXQtMDEyMzQ1Njc4OQ==",
                              "--expiry", "1700000000"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, #"{"token":"SharedAccessSignature sr=sb%3A%2F%2Fmyns.servicebus.windows.net%2Feh1&sig=xw%2BB627%2Fqnnvpa9mLPddv6UOdGkNzF7pvchmcik3G8o%3D&se=1700000000&skn=RootManageSharedAccessKey"}"# + "\n")
    }

    func testTokenWithFakeAzureCLI() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-az-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("az")
        try """
            #!/bin/sh
            echo '{"accessToken": "cli-token-value", "expires_on": 1795641737, "tokenType": "Bearer"}'
            """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        // IMDS pointed at a closed local port keeps the default chain off the network.
        let environment = ["PATH": "\(directory.path):/usr/bin:/bin",
                           "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1"]
        let digest = AuthCrypto.sha256Hex("cli-token-value")

        let hidden = try run(["auth", "token", "--scope", "https://storage.azure.com/.default", "--credential",
                              "azure-cli", "--json"], environment: environment)
        XCTAssertEqual(hidden.status, 0, hidden.stderr)
        XCTAssertEqual(hidden.stdout,
            #"{"credential":"AzureCLICredential","expires_on":1795641737,"token_sha256":"\#(digest)"}"# + "\n")
        XCTAssertFalse(hidden.stdout.contains("cli-token-value"))

        let shown = try run(["auth", "token", "--scope", "https://storage.azure.com/.default", "--show-token",
                             "--json"], environment: environment)
        XCTAssertEqual(shown.status, 0, shown.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["token"] as? String, "cli-token-value")
        XCTAssertEqual(object["credential"] as? String, "AzureCLICredential", "default chain fell through to az")
    }

    func testFailureExitsNonZeroWithTypedErrorOnStderr() throws {
        let result = try run(["auth", "token", "--scope", "https://storage.azure.com/.default", "--credential",
                              "workload-identity", "--json"], environment: ["PATH": "/nonexistent"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.contains("credentialUnavailable"), result.stderr)
        XCTAssertTrue(result.stderr.contains("AZURE_FEDERATED_TOKEN_FILE"), result.stderr)
    }

    /// A time-out that is not a positive number of seconds is a usage error naming the flag (it was handed on as an
    /// already-passed deadline: a `timedOut` that blamed `TokenRequestOptions`).
    func testABadTimeoutIsAUsageError() throws {
        for value in ["nan", "0", "-1", "1e300"] {
            let result = try run(["auth", "token", "--scope", "https://storage.azure.com/.default", "--timeout=\(value)"])
            XCTAssertEqual(result.status, 64, result.stderr)
            XCTAssertTrue(result.stderr.contains("--timeout must be in (0, 86400] seconds"), result.stderr)
        }
    }
}
