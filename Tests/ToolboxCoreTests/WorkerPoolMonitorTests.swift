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

    /// The crash itself, in a child process (this test binary, running `testChildOutOfDescriptors`): the child
    /// lowers its soft RLIMIT_NOFILE to the descriptors it has open, so every `open` fails with EMFILE, and keeps
    /// blocking work flowing through a queue for 4 s — several monitor ticks. Through a `.concurrent`
    /// queue (the control) libdispatch kills it with SIGILL; through the library's work queues it exits cleanly.
    func testLibraryWorkSurvivesRunningOutOfDescriptors() throws {
        #if os(Linux)
        // The monitor ticks about once a second; on a loaded machine (a CI run under ThreadSanitizer) a control child
        // has once lived through its 4 s without a tick finding work waiting. Up to three tries for the control.
        var control = try Self.runChild(mode: "concurrent")
        for _ in 0..<2 where control.reason != .uncaughtSignal { control = try Self.runChild(mode: "concurrent") }
        XCTAssertEqual(control.reason, .uncaughtSignal,
                       "the control child did not crash in three tries, so this test shows nothing (status \(control.status))")
        let library = try Self.runChild(mode: "library")
        XCTAssertEqual(library.reason, .exit, "library work crashed out of descriptors (signal \(library.status))")
        XCTAssertEqual(library.status, 0)
        #else
        throw XCTSkip("the worker-pool monitor is libdispatch's Linux thread pool")
        #endif
    }

    /// Runs only as the child of the test above (it skips otherwise).
    func testChildOutOfDescriptors() throws {
        guard let mode = ProcessInfo.processInfo.environment[Self.childVariable] else {
            throw XCTSkip("runs as the child of testLibraryWorkSurvivesRunningOutOfDescriptors")
        }
        let concurrent = DispatchQueue(label: "control", attributes: .concurrent)
        let probe = open("/dev/null", O_RDONLY)
        XCTAssertGreaterThanOrEqual(probe, 0)
        close(probe)
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        var lowered = limit
        lowered.rlim_cur = rlim_t(probe)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered), 0)
        XCTAssertEqual(open("/dev/null", O_RDONLY), -1, "the child still has descriptors")
        // Always more blocking work in flight than the machine has processors, so work is waiting on every one of
        // the monitor's ticks (rounds that drain to zero left a tick with nothing waiting, and the control alive).
        let inFlight = 4 * max(2, ProcessInfo.processInfo.activeProcessorCount)
        let slots = DispatchSemaphore(value: inFlight)
        let start = DispatchTime.now().uptimeNanoseconds
        var index = 0
        while DispatchTime.now().uptimeNanoseconds - start < 4_000_000_000 {
            slots.wait()
            let queue = mode == "concurrent" ? concurrent
                : index % 8 == 0 ? Blocking.deliveryQueue : LibraryQueues.makeWorkQueue(label: "test.flood")
            queue.async { usleep(20_000); slots.signal() }
            index += 1
        }
        for _ in 0..<inFlight { slots.wait() }
        // Back to its initial value: libdispatch crashes (SIGILL) when a semaphore is freed below it.
        for _ in 0..<inFlight { slots.signal() }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
    }

    private static let childVariable = "TOOLBOX_WORKER_MONITOR_CHILD"

    private static func runChild(mode: String) throws -> (reason: Process.TerminationReason, status: Int32) {
        let child = try runTestChild("testChildOutOfDescriptors", variable: childVariable, mode: mode)
        if child.reason == .exit {
            XCTAssertTrue(child.printed.contains("testChildOutOfDescriptors' passed"),
                          "the child ran no test: \(child.printed)")
        }
        return (child.reason, child.status)
    }

    /// Runs one test of this class in a child process of this test binary, with `variable` set to `mode`.
    private static func runTestChild(
        _ test: String, variable: String, mode: String
    ) throws -> (reason: Process.TerminationReason, status: Int32, printed: String) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["ToolboxCoreTests.WorkerPoolMonitorTests/\(test)"]
        var environment = ProcessInfo.processInfo.environment
        environment[variable] = mode
        environment["SWIFT_BACKTRACE"] = "enable=no"
        child.environment = environment
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        return (child.terminationReason, child.terminationStatus, printed)
    }

    /// Queues come and go (one per connection, one per piece of work), and a queue dies with its markers: a marker
    /// with a destructor (what `setSpecific` sets) is destroyed by a block on the default non-overcommit root
    /// queue, where the monitor looks. In a fresh child process, library queues created, used and dropped must
    /// leave no worker thread of a non-overcommit pool behind; the control (queues marked with `setSpecific`) shows
    /// that the check sees such a thread.
    func testDroppedLibraryQueuesLeaveNoWorkOnTheMonitoredPool() throws {
        #if os(Linux)
        XCTAssertTrue(QueueMark.isDestructorFree, "markers fall back to setSpecific on this runtime")
        let control = try XCTUnwrap(try Self.runDisposalChild(mode: "setSpecific"))
        XCTAssertFalse(control.isEmpty, "the control started no non-overcommit worker, so this test shows nothing")
        let library = try XCTUnwrap(try Self.runDisposalChild(mode: "library"))
        XCTAssertEqual(library, [], "dropping library queues ran work on a non-overcommit root queue")
        #else
        throw XCTSkip("the worker-pool monitor is libdispatch's Linux thread pool")
        #endif
    }

    /// Runs only as the child of the test above (it skips otherwise): creates, uses and drops 200 queues, then
    /// prints the names of the non-overcommit workers that started meanwhile.
    func testChildDropsQueues() throws {
        guard let mode = ProcessInfo.processInfo.environment[Self.disposalVariable] else {
            throw XCTSkip("runs as the child of testDroppedLibraryQueuesLeaveNoWorkOnTheMonitoredPool")
        }
        // Workers of a monitored pool, by thread id: the test harness may have started some already.
        func monitoredWorkers() -> [String: String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            var workers: [String: String] = [:]
            for task in tasks {
                let name = ((try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if name.hasSuffix("-qos") { workers[task] = name }
            }
            return workers
        }
        let before = monitoredWorkers()
        let key = DispatchSpecificKey<String>()
        let group = DispatchGroup()
        for index in 0..<200 {
            let queue: DispatchQueue
            if mode == "setSpecific" {
                queue = DispatchQueue(label: "control.\(index)")
                queue.setSpecific(key: key, value: "marked")
            } else {
                queue = index % 2 == 0 ? LibraryQueues.makeWorkQueue(label: "test.work.\(index)")
                    : LibraryQueues.makeQueue(label: "test.queue.\(index)", target: Blocking.deliveryQueue)
            }
            queue.async(group: group) {}
        }
        group.wait()
        Thread.sleep(forTimeInterval: 0.3)  // the queues are gone; any destructor block has run by now
        let started = monitoredWorkers().filter { before[$0.key] == nil }.map(\.value)
        print("STARTED:" + started.sorted().joined(separator: "|"))
    }

    private static let disposalVariable = "TOOLBOX_QUEUE_DISPOSAL_CHILD"

    /// The monitored-pool workers the child saw start, or nil when it printed no list.
    private static func runDisposalChild(mode: String) throws -> [String]? {
        let child = try runTestChild("testChildDropsQueues", variable: disposalVariable, mode: mode)
        XCTAssertEqual(child.reason, .exit, "the child crashed: \(child.printed)")
        guard let line = child.printed.split(separator: "\n").first(where: { $0.hasPrefix("STARTED:") }) else {
            XCTFail("the child printed no thread list: \(child.printed)")
            return nil
        }
        return line.dropFirst("STARTED:".count).split(separator: "|").map(String.init)
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
