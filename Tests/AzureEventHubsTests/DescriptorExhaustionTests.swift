import AzureEmulator
import Foundation
import MessagingFaultSupport
import ToolboxCLITestSupport
import ToolboxCore
import XCTest

/// Issue 13's EMFILE fault scenario through a client (the listener has its own, ListenerExhaustionTests): a
/// `toolbox eventhubs send` child process runs out of descriptors mid-run (its soft RLIMIT_NOFILE is lowered with
/// `prlimit --pid` while its connection is held open by a silent proxy, then the proxy resets it), so every
/// reconnect fails in `socket()` with EMFILE. The sends made then fail with a typed error naming the cause, within
/// their retry budget and without a spin; once the limit is raised again the same process reconnects and sends
/// the rest, and exactly the events it reported sent are stored. Limits are changed in the child only, so tests
/// running beside it keep their descriptors.
final class DescriptorExhaustionTests: XCTestCase {
    func testAClientOutOfDescriptorsFailsTypedAndRecovers() throws {
        let prlimit = "/usr/bin/prlimit"
        guard FileManager.default.isExecutableFile(atPath: prlimit) else { throw XCTSkip("needs prlimit (util-linux)") }
        let emulator = try startEventHubsEmulator(self, partitions: 1)
        let proxy = try FaultProxy(upstreamPort: emulator.amqpPort)
        addTeardownBlock { proxy.stop() }
        proxy.mode = .silent  // the child connects, and no send can complete before its descriptors run out

        let count = 20
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try ToolboxCLI.executablePath())
        child.arguments = ["eventhubs", "send", "--connection-string",
                           "Endpoint=sb://127.0.0.1:\(proxy.port);SharedAccessKeyName=RootManageSharedAccessKey;"
                               + "SharedAccessKey=SAS_KEY_VALUE;EntityPath=eh1;UseDevelopmentEmulator=true",
                           "--count", String(count), "--json"]
        child.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        child.standardError = try FileHandle(forWritingTo: stderrURL)
        try child.run()
        addTeardownBlock { if child.isRunning { child.terminate() } }
        let pid = String(child.processIdentifier)
        // Work on a non-overcommit root queue is what lets libdispatch's worker-pool monitor kill a process out of
        // descriptors (SIGILL; LibraryQueues.makeWorkQueue): such work starts a worker thread named after its pool
        // ("…-qos", where the overcommit pools' end in "overcommit") that lingers for seconds, so sampling the
        // child's thread names while it runs shows whether the client ever put work there.
        let monitoredWorkers = LockedValue<Set<String>>([])
        let sampling = LockedValue(true)
        let sampler = Thread {
            while sampling.load() {
                let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
                for task in tasks {
                    let name = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? "")
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    if name.hasSuffix("-qos") { monitoredWorkers.withLockedValue { _ = $0.insert(name) } }
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        sampler.start()
        defer { sampling.withLockedValue { $0 = false } }

        XCTAssertTrue(FaultScenario.eventually(30) { proxy.openCount >= 1 }, "the child never connected")
        // No new descriptor from here on: the lowest free number is above any soft limit of 3.
        XCTAssertEqual(try runPrlimit(prlimit, ["--pid", pid, "--nofile=3:"]), 0)
        proxy.mode = .forward  // resets the held connection: the child must reconnect, and socket() fails
        // Out of descriptors for 3 s: each send's retries (0.2 s back-off, doubling, 3 retries) fail in ~1.4 s.
        Thread.sleep(forTimeInterval: 3)
        let acceptedWhileExhausted = proxy.acceptedCount
        XCTAssertEqual(try runPrlimit(prlimit, ["--pid", pid, "--nofile=1024:"]), 0)

        let deadline = Date().addingTimeInterval(120)
        while child.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertFalse(child.isRunning, "the child hung")
        XCTAssertEqual(monitoredWorkers.load(), [],
                       "the client ran work on a non-overcommit root queue, where the worker-pool monitor can kill it")
        guard !child.isRunning else { return }
        XCTAssertEqual(child.terminationReason, .exit, "the child crashed (signal \(child.terminationStatus))")
        let stdout = try String(contentsOf: stdoutURL, encoding: .utf8)
        let stderr = try String(contentsOf: stderrURL, encoding: .utf8)
        XCTAssertEqual(child.terminationStatus, 1, "some sends failed, so the exit status says so; stderr: \(stderr)")
        let summary = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "stdout: \(stdout)")
        let sent = try XCTUnwrap(summary["sent"] as? Int)
        let failed = try XCTUnwrap(summary["failed"] as? Int)
        XCTAssertEqual(sent + failed, count)
        XCTAssertGreaterThanOrEqual(failed, 1, "no send failed while the child had no descriptors")
        // A client that retried without backing off would fail every remaining send within the 3 s.
        XCTAssertLessThanOrEqual(failed, 5, "more sends failed than 3 s out of descriptors allow (retries without back-off, or no recovery)")
        XCTAssertGreaterThanOrEqual(sent, count - 5, "the child did not recover once descriptors were available")
        XCTAssertGreaterThan(proxy.acceptedCount, acceptedWhileExhausted, "no new connection after recovery")
        XCTAssertTrue(stderr.contains("Too many open files") && stderr.contains("errno 24"),
                      "the failure does not name its cause: \(stderr)")
        let stored = try readAll(connectionString: emulator.eventHubsConnectionString(eventHub: "eh1"), partitions: 1,
                                 expected: sent, timeout: 10)
        XCTAssertEqual(stored.count, sent, "events reported sent were lost, or stored twice")
    }

    private func runPrlimit(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
