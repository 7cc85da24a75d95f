import Dispatch
import Foundation
@testable import ToolboxCore
import XCTest

/// The SIGILL flake of DescriptorExhaustionTests: on Linux, libdispatch's worker-pool monitor opens
/// `/proc/<tid>/stat` once a second for every *non-overcommit* root queue with waiting work, and crashes the
/// process (DISPATCH_CLIENT_CRASH, SIGILL) when that `open` fails with EMFILE. Library work therefore never goes
/// through a `.concurrent` queue or `DispatchQueue.global()`: it runs on serial queues, which sit on the overcommit
/// root queues the monitor never inspects (see `LibraryQueues.makeWorkQueue`). Worker threads are named after
/// their root queue, which is how these tests see where work ran.
final class WorkerPoolMonitorTests: XCTestCase {
    private static func threadNameOfAsyncWork(on queue: DispatchQueue) -> String {
        let name = LockedValue("")
        let done = DispatchSemaphore(value: 0)
        queue.async {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            name.withLockedValue { $0 = comm.trimmingCharacters(in: .whitespacesAndNewlines) }
            done.signal()
        }
        done.wait()
        return name.load()
    }

    func testLibraryWorkQueuesRunOnTheOvercommitPool() throws {
        #if os(Linux)
        // The control: work on a concurrent queue runs on the monitored (non-overcommit) pool, and the thread name
        // tells the pools apart. If this ever fails, libdispatch changed and the check below proves nothing.
        let control = Self.threadNameOfAsyncWork(on: DispatchQueue(label: "control", attributes: .concurrent))
        XCTAssertFalse(control.isEmpty)
        XCTAssertFalse(control.contains("overcommit"), "a concurrent queue's worker: \(control)")

        for (what, queue) in [("makeWorkQueue", LibraryQueues.makeWorkQueue(label: "test.work")),
                              ("Blocking.deliveryQueue", Blocking.deliveryQueue)] {
            let name = Self.threadNameOfAsyncWork(on: queue)
            XCTAssertTrue(name.contains("overcommit"), "\(what) ran on the monitored pool (thread '\(name)')")
        }
        #else
        throw XCTSkip("the worker-pool monitor is libdispatch's Linux thread pool")
        #endif
    }

    /// A guard for new code: a `.concurrent` queue or `DispatchQueue.global()` in Sources would bring the crash
    /// back. The public default callback queue is the one documented exception (callers may pass their own).
    func testSourcesUseNoQueueOnTheMonitoredPool() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let sources = root.appendingPathComponent("Sources")
        let enumerator = try XCTUnwrap(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var offenders: [String] = []
        var scanned = 0
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            scanned += 1
            let text = try String(contentsOf: url, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                guard !code.hasPrefix("//") else { continue }
                let monitored = code.contains("attributes: .concurrent") || code.contains("DispatchQueue.global(")
                    || code.contains("concurrentPerform")
                if monitored && !code.contains("\"AzureClientsToolbox.callbacks\"") {
                    offenders.append("\(url.lastPathComponent):\(number + 1): \(code)")
                }
            }
        }
        XCTAssertGreaterThan(scanned, 100, "the Sources tree was not found at \(sources.path)")
        XCTAssertEqual(offenders, [], "library work on a non-overcommit root queue (see LibraryQueues.makeWorkQueue)")
    }
}
