import ArgumentParser
import ConnectionPooling
import Foundation
import ToolboxCore

/// `toolbox bench pool`: the cost of an acquire+release on a warm pool, beside a bare lock pair.
struct BenchPool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Acquire+release on a warm pool, with the cost of a bare lock+unlock pair measured in the same run."
    )

    @Option(help: "Threads acquiring and releasing at once.")
    var threads: Int = 1

    @Option(help: "How long to measure, in seconds.")
    var seconds: Double = 2

    @OptionGroup var sizing: PoolSizeOptions

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
    }

    func run() throws {
        let baseline = Self.lockPairNanoseconds()
        let clock = Self.clockReadNanoseconds()
        let clientLimit = sizing.clientLimit
        let maxSize = sizing.maxSize
        let pool = try ConnectionPool(connector: InstantConnector(), configuration: .with {
            sizing.apply(to: &$0)
            $0.metricsLabel = nil
            $0.acquireTimeout = .seconds(30)
        })
        let needed = min(maxSize, (threads + clientLimit - 1) / clientLimit)
        try pool.warmUp(count: needed)

        let stop = LockedValue(false)
        let results = LockedValue<[(UInt64, LatencyHistogram)]>([])
        let errors = LockedValue(0)
        let started = DispatchGroup()
        let finished = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            started.enter()
            finished.enter()
            let thread = Thread {
                var histogram = LatencyHistogram()
                var operations: UInt64 = 0
                started.leave()
                go.wait()
                // One clock read per operation: each one's end is the next one's start.
                var last = MonotonicInstant.now().nanoseconds
                while true {
                    for _ in 0..<256 {
                        do {
                            let lease = try pool.acquire()
                            lease.release()
                        } catch {
                            errors.withLockedValue { $0 += 1 }
                        }
                        let now = MonotonicInstant.now().nanoseconds
                        histogram.record(now &- last)
                        last = now
                        operations += 1
                    }
                    if stop.load() { break }
                }
                results.withLockedValue { $0.append((operations, histogram)) }
                finished.leave()
            }
            thread.start()
        }
        started.wait()
        let begin = MonotonicInstant.now()
        for _ in 0..<threads { go.signal() }
        Thread.sleep(forTimeInterval: seconds)
        stop.withLockedValue { $0 = true }
        finished.wait()
        let elapsed = MonotonicInstant.now().seconds(since: begin)

        var merged = LatencyHistogram()
        var total: UInt64 = 0
        for (operations, histogram) in results.load() {
            total += operations
            merged.merge(histogram)
        }
        let p50 = merged.percentile(0.5)
        let output: [String: Any] = [
            "benchmark": "pool",
            "threads": threads,
            "seconds": JSONOutput.rounded(elapsed),
            "leases": total,
            "errors": errors.load(),
            "leases_per_sec": JSONOutput.rounded(Double(total) / elapsed, 0),
            "p50_ns": p50,
            "p99_ns": merged.percentile(0.99),
            "p999_ns": merged.percentile(0.999),
            "baseline_lock_pair_ns": JSONOutput.rounded(baseline, 2),
            "clock_read_ns": JSONOutput.rounded(clock, 2),
            "p50_over_baseline": JSONOutput.rounded(Double(p50) / max(baseline, 0.01), 2),
            "p50_excluding_clock_ns": JSONOutput.rounded(max(0, Double(p50) - clock), 1),
            "client_limit": clientLimit,
            "max_size": maxSize,
            "connections": pool.snapshot.open,
        ]
        try pool.closeAll()
        if json {
            JSONOutput.printLine(output)
        } else {
            print("""
                pool acquire+release, \(threads) thread(s), \(JSONOutput.rounded(elapsed, 2)) s
                  leases/s          \(output["leases_per_sec"]!)
                  p50 / p99 / p99.9 \(p50) / \(merged.percentile(0.99)) / \(merged.percentile(0.999)) ns \
                (includes one clock read, ~\(JSONOutput.rounded(clock, 1)) ns)
                  bare lock pair    \(JSONOutput.rounded(baseline, 2)) ns  (p50 = \(output["p50_over_baseline"]!)x)
                """)
        }
    }

    /// The mean cost of an uncontended lock+unlock on the pool's `Lock`, best of five runs.
    static func lockPairNanoseconds() -> Double {
        let lock = Lock()
        let iterations = 2_000_000
        var best = Double.infinity
        for _ in 0..<5 {
            let start = MonotonicInstant.now()
            for _ in 0..<iterations {
                lock.lock()
                lock.unlock()
            }
            best = min(best, MonotonicInstant.now().seconds(since: start) * 1e9 / Double(iterations))
        }
        return best
    }

    /// The mean cost of one monotonic clock read (each timed operation includes one).
    static func clockReadNanoseconds() -> Double {
        let iterations = 1_000_000
        var sink: UInt64 = 0
        let start = MonotonicInstant.now()
        for _ in 0..<iterations { sink &+= MonotonicInstant.now().nanoseconds }
        let result = MonotonicInstant.now().seconds(since: start) * 1e9 / Double(iterations)
        return sink == 0 ? result : result
    }
}

/// A connector whose connections are plain objects: isolates the pool's own cost.
struct InstantConnector: Connector {
    final class Connection: Sendable {}

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<Connection, any Error>) -> Void) {
        completion(.success(Connection()))
    }

    func ready(_ connection: Connection, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(.success(()))
    }

    func close(_ connection: Connection, completion: @escaping @Sendable () -> Void) {
        completion()
    }
}
