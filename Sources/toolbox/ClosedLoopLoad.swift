import ArgumentParser
import Foundation
import ToolboxCore

/// Closed-loop load for the `bench` commands: `concurrency` callers, each starting its next operation from the
/// previous one's completion, until `count` operations have run. Latencies are recorded in nanoseconds.
enum ClosedLoopLoad {
    struct Outcome: Sendable {
        var succeeded = 0
        var failed = 0
        var seconds = 0.0
        var histogram = LatencyHistogram()
        var lastError: String?
        var totalNanoseconds: UInt64 = 0

        var meanMilliseconds: Double { succeeded > 0 ? Double(totalNanoseconds) / Double(succeeded) / 1e6 : 0 }

        /// Counts one finished operation: a failure with its description, or a success with its latency.
        mutating func record(error: String?, nanoseconds: UInt64) {
            if let error {
                failed += 1
                lastError = error
            } else {
                succeeded += 1
                histogram.record(nanoseconds)
                totalNanoseconds &+= nanoseconds
            }
        }
    }

    /// The queue a send's completion runs on: a fresh serial queue per send, not the library's concurrent default.
    /// Work waiting on a concurrent queue lets libdispatch's worker-pool monitor kill the process with SIGILL
    /// when it is out of descriptors (see `LibraryQueues.makeWorkQueue`), and `send` must survive EMFILE.
    static func completionQueue() -> DispatchQueue {
        DispatchQueue(label: "toolbox.send-completion")
    }

    /// `operation(index, done)` must call `done` exactly once, with an error description or nil.
    typealias Operation = @Sendable (_ index: Int, _ done: @escaping @Sendable (String?) -> Void) -> Void

    /// `stopping`, when given, is asked before each operation: once it says true, callers start no more and the
    /// run returns when those in flight are done (an interrupted `eventhubs send` still reports what it sent).
    static func run(count: Int, concurrency: Int, stopping: (@Sendable () -> Bool)? = nil,
                    operation: @escaping Operation) -> Outcome {
        let callers = max(0, min(concurrency, count))
        let state = LockedValue((next: 0, outcome: Outcome()))
        let finished = DispatchSemaphore(value: 0)
        let start = MonotonicInstant.now()

        @Sendable func startNext() {
            let stop = stopping?() ?? false
            let index: Int? = state.withLockedValue { value in
                guard value.next < count, !stop else { return nil }
                value.next += 1
                return value.next - 1
            }
            guard let index else {  // this caller is done
                finished.signal()
                return
            }
            let began = MonotonicInstant.now()
            operation(index) { error in
                let nanoseconds = MonotonicInstant.now().nanoseconds &- began.nanoseconds
                state.withLockedValue { $0.outcome.record(error: error, nanoseconds: nanoseconds) }
                startNext()
            }
        }

        for _ in 0..<callers { startNext() }
        for _ in 0..<callers { finished.wait() }
        var outcome = state.withLockedValue { $0.outcome }
        outcome.seconds = MonotonicInstant.now().seconds(since: start)
        return outcome
    }

    /// The blocking counterpart: `concurrency` threads, each calling `operation(index)` (a blocking call returning
    /// an error description or nil) until `count` operations have run.
    static func runBlocking(count: Int, concurrency: Int, operation: @escaping @Sendable (_ index: Int) -> String?)
        -> Outcome
    {
        let callers = max(0, min(concurrency, count))
        let state = LockedValue((next: 0, outcome: Outcome()))
        let finished = DispatchSemaphore(value: 0)
        let start = MonotonicInstant.now()
        for _ in 0..<callers {
            Thread.detachNewThread {
                while let index = state.withLockedValue({ value -> Int? in
                    guard value.next < count else { return nil }
                    value.next += 1
                    return value.next - 1
                }) {
                    let began = MonotonicInstant.now()
                    let error = operation(index)
                    let nanoseconds = MonotonicInstant.now().nanoseconds &- began.nanoseconds
                    state.withLockedValue { $0.outcome.record(error: error, nanoseconds: nanoseconds) }
                }
                finished.signal()
            }
        }
        for _ in 0..<callers { finished.wait() }
        var outcome = state.withLockedValue { $0.outcome }
        outcome.seconds = MonotonicInstant.now().seconds(since: start)
        return outcome
    }

    /// Prints the `eventhubs send` / `servicebus send` summary
    /// `{sent, failed, seconds, events_per_sec, p50_ms, p99_ms}` (plus `"interrupted": true` when a signal stopped
    /// the sends) and exits 1 if any send failed, 130 if it was interrupted.
    static func printSendSummary(_ outcome: Outcome, json: Bool, interruptedOf requested: Int? = nil) throws {
        if let lastError = outcome.lastError { JSONOutput.printError("last error: \(lastError)") }
        let seconds = outcome.seconds
        var summary: [String: Any] = [
            "sent": outcome.succeeded, "failed": outcome.failed, "seconds": JSONOutput.rounded(seconds),
            "events_per_sec": JSONOutput.rounded(seconds > 0 ? Double(outcome.succeeded) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6),
            "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6),
        ]
        if requested != nil { summary["interrupted"] = true }
        if json {
            JSONOutput.printLine(summary)
        } else {
            print("sent \(outcome.succeeded), failed \(outcome.failed) in \(JSONOutput.rounded(seconds)) s "
                + "(\(summary["events_per_sec"] ?? 0) events/s, p50 \(summary["p50_ms"] ?? 0) ms, "
                + "p99 \(summary["p99_ms"] ?? 0) ms)")
        }
        if let requested {
            JSONOutput.printError("interrupted: \(outcome.succeeded + outcome.failed) of \(requested) sends were made "
                + "(\(outcome.failed) failed)")
            throw ExitCode(130)
        }
        if outcome.failed > 0 { throw ExitCode(1) }
    }
}

/// Process resource figures for the bench commands (Linux `/proc` and `getrusage`).
enum ProcessStats {
    /// Resident set size in bytes.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Threads of this process (`/proc/self/task` entries).
    static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.count ?? 0
    }

    /// User + system CPU time of this process, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
