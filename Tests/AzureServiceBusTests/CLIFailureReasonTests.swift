import AzureEmulator
import Foundation
import ToolboxCLITestSupport
import ToolboxCore
import ToolboxTransport
import XCTest
import ToolboxTransportServer

/// Issue 13 item 1: every `toolbox` subcommand that fails exits non-zero and says why on stderr (`toolbox
/// servicebus receive` used to exit 1 with nothing but `{"received":0}`). Each one is pointed at a port nothing
/// listens on (or given a bad argument) with retries cut short.
final class CLIFailureReasonTests: XCTestCase {
    func testEveryFailingSubcommandPrintsItsReason() throws {
        let probe = try TCPListener(host: "127.0.0.1", port: 0) { _ in }
        let closed = probe.port
        probe.close()
        let cs = "Endpoint=sb://127.0.0.1:\(closed);SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true"
        let ehcs = cs + ";EntityPath=eh1"
        let commands: [[String]] = [
            ["eventhubs", "send", "--connection-string", ehcs, "--count", "1", "--json"],
            ["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--json"],
            ["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--timeout", "1", "--json"],
            ["amqp", "send", "--url", "amqp://127.0.0.1:\(closed)/q", "--json"],
            ["amqp", "receive", "--url", "amqp://127.0.0.1:\(closed)/q", "--count", "1", "--json"],
            ["bench", "http", "--url", "http://127.0.0.1:\(closed)/", "--requests", "2", "--json"],
            ["bench", "eventhubs", "--connection-string", ehcs, "--count", "2", "--warmup", "0", "--json"],
            ["bench", "servicebus", "--connection-string", cs, "--count", "2", "--warmup", "0", "--json"],
            ["auth", "token", "--scope", "https://vault.azure.net/.default", "--credential", "client-secret",
             "--json"],
            ["auth", "sas-token", "--uri", "sb://x/y", "--key-name", "k", "--key", "k", "--expiry", "not-a-time"],
            ["emulator", "--amqp-port", "70000"],
        ]
        for arguments in commands {
            let result = try ToolboxCLI.run(arguments, environment: ["AZURE_TENANT_ID": "", "AZURE_CLIENT_ID": ""])
            let name = arguments.prefix(2).joined(separator: " ")
            // 1: the operation failed; 64: a usage error (ArgumentParser). A signal (SIGILL is 4) is neither.
            XCTAssertTrue([1, 64].contains(result.status), "\(name) exited with status \(result.status)")
            XCTAssertFalse(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                           "\(name) failed without a reason on stderr (stdout: \(result.stdout))")
        }
    }

    /// Seconds flags are numbers users pass from scripts; `Duration.seconds(_:)` traps on inf, nan and values past
    /// ~1.7e20, so each is range-checked first: a usage error (64) naming the flag, never a signal.
    func testSecondsFlagsRefuseNonFiniteAndHugeValuesNamingTheFlag() throws {
        let cs = "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true"
        let cases: [([String], String)] = [
            (["servicebus", "send", "--connection-string", cs, "--queue", "q1", "--json", "--delay-seconds"],
             "--delay-seconds"),
            (["servicebus", "receive", "--connection-string", cs, "--queue", "q1", "--json", "--timeout"], "--timeout"),
            (["amqp", "receive", "--url", "amqp://127.0.0.1:1/q", "--count", "1", "--json", "--timeout"], "--timeout"),
            (["bench", "servicebus", "--connection-string", cs, "--json", "--receive-timeout"], "--receive-timeout"),
        ]
        for (arguments, flag) in cases {
            for value in ["inf", "nan", "1e21"] {
                let result = try ToolboxCLI.run(arguments + [value])
                let name = arguments.prefix(2).joined(separator: " ") + " \(flag) \(value)"
                XCTAssertEqual(result.status, 64, "\(name): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains(flag), "\(name): \(result.stderr)")
            }
        }
    }
}
