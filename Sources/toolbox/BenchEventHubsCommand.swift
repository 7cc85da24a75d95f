import ArgumentParser
import AzureEventHubs
import Foundation
import ToolboxCore

/// `toolbox bench eventhubs`: single-event send latency and throughput against any namespace (or the emulator);
/// with `--batch-size N`, `EventDataBatch` throughput (N events per send).
struct BenchEventHubsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventhubs",
        abstract: "Send N single events from C concurrent callers through the pooled producer; prints one JSON line.",
        discussion: """
            Warms the pool up first (connections, links, code paths), then times every send. --cold opens a new \
            EventHubProducer (a new connection) per send instead. --batch-size N sends EventDataBatch objects of N \
            events each (one createBatch up front; every send copies that empty batch and adds N events): --count \
            is then rounded up to whole batches, count and events_per_sec count events, the latencies and errors \
            are per batch send. --blocking makes the callers threads that loop the blocking `send` (mode \
            "pooled-blocking") instead of completion handlers. --idle-connections N measures memory instead: the \
            RSS growth of holding N more ready, idle pooled connections (kb_per_idle_connection), then of N more \
            on top of those (kb_per_idle_connection_second_wave: the first wave also pays the process's one-time \
            costs, worker threads and their malloc arenas among them).
            Keys: mode, count, concurrency, size, events_per_sec, p50_ms, p99_ms, mean_ms, errors, connections, \
            seconds, cpu_us_per_event; with --batch-size also batch_size and batches.
            """)

    @OptionGroup var load: BenchLoadOptions

    @Option(help: "The event hub (default: the connection string's EntityPath).")
    var eventhub: String?

    @Option(help: "Events per EventDataBatch: send batches of this many events instead of single events.")
    var batchSize: Int?

    @Flag(help: "A new producer (connection) per send, as a client without a pool does.")
    var cold = false

    @Flag(help: """
        Pooled sends through the blocking API: --concurrency threads each looping `try producer.send(_:)` (the \
        form scripts use), instead of completion handlers.
        """)
    var blocking = false

    @Option(help: "Measure memory: RSS growth of opening this many more idle pooled connections.")
    var idleConnections: Int?

    @OptionGroup var sizing: PoolSizeOptions

    func validate() throws {
        if let idleConnections, idleConnections < 1 || idleConnections > 1000 {
            throw ValidationError("--idle-connections must be 1...1000")
        }
        if blocking, cold || idleConnections != nil {
            throw ValidationError("--blocking does not combine with --cold or --idle-connections")
        }
        if let batchSize {
            guard batchSize >= 1, batchSize <= 100_000 else { throw ValidationError("--batch-size must be 1...100000") }
            guard idleConnections == nil else { throw ValidationError("--batch-size does not apply to --idle-connections") }
        }
    }

    /// Timed operations: sends, or whole batches with --batch-size.
    private var operations: Int { batchSize.map { (load.loop.count + $0 - 1) / $0 } ?? load.loop.count }

    /// Events per operation.
    private var eventsPerOperation: Int { batchSize ?? 1 }

    private func options(maxSize: Int? = nil) -> EventHubProducerOptions {
        var options = EventHubProducerOptions()
        load.network.apply(to: &options)
        sizing.apply(to: &options.pool)
        if let maxSize { options.pool.maxSize = maxSize }
        return options
    }

    func run() throws {
        if let idleConnections { return try measureIdleMemory(idleConnections) }
        let payload = load.payload
        let summary = cold ? try runCold(payload) : try runPooled(payload)
        try load.report(summary, failed: summary["errors"] as? Int ?? 0)
    }

    private func runPooled(_ payload: [UInt8]) throws -> [String: Any] {
        let producer = try ManagedEventHubProducer(connectionString: load.connectionString, eventHubName: eventhub,
                                                   options: options())
        defer { try? producer.close() }
        try producer.warmUp(connections: 1)
        // With --batch-size, every operation fills a copy of one empty batch, checked once here to fit.
        let batchSize = batchSize
        let empty: EventDataBatch? = try batchSize.map { batchSize in
            let empty = try producer.createBatch()
            guard Self.filled(empty, batchSize, payload) != nil else {
                throw ValidationError("\(batchSize) events of \(load.loop.size) bytes exceed the link's max message size "
                    + "(\(empty.maxSizeInBytes) bytes): lower --batch-size or --size")
            }
            return empty
        }
        let concurrency = load.loop.concurrency
        let run: (Int) -> ClosedLoopLoad.Outcome
        if blocking {
            run = { count in
                ClosedLoopLoad.runBlocking(count: count, concurrency: concurrency) { _ in
                    do {
                        if let empty, let batchSize {
                            guard let batch = Self.filled(empty, batchSize, payload) else { return "batch overflow" }
                            try producer.send(batch)
                        } else {
                            try producer.send(EventData(body: payload))
                        }
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
        } else {
            let operation: ClosedLoopLoad.Operation = { _, done in
                if let empty, let batchSize {
                    guard let batch = Self.filled(empty, batchSize, payload) else { return done("batch overflow") }
                    producer.send(batch) { done($0.failure.map { "\($0)" }) }
                } else {
                    producer.send(EventData(body: payload)) { done($0.failure.map { "\($0)" }) }
                }
            }
            run = { count in ClosedLoopLoad.run(count: count, concurrency: concurrency, operation: operation) }
        }
        let warm = run(load.loop.warmupCount)
        if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
        let cpuBefore = ProcessStats.cpuSeconds()
        let outcome = run(operations)
        let cpu = ProcessStats.cpuSeconds() - cpuBefore
        return summary(blocking ? "pooled-blocking" : "pooled", outcome, cpu: cpu,
                       connections: producer.health.connectionsOpened)
    }

    /// `empty` (a batch from `createBatch`) with `events` events of `payload` added, or nil if they do not fit.
    private static func filled(_ empty: EventDataBatch, _ events: Int, _ payload: [UInt8]) -> EventDataBatch? {
        var batch = empty
        for _ in 0..<events where !batch.tryAdd(EventData(body: payload)) { return nil }
        return batch
    }

    private func runCold(_ payload: [UInt8]) throws -> [String: Any] {
        let opened = LockedValue(0)
        let batchSize = batchSize
        let operation: ClosedLoopLoad.Operation = { [connectionString = load.connectionString, eventhub] _, done in
            let producer: EventHubProducer
            do {
                producer = try EventHubProducer(connectionString: connectionString, eventHubName: eventhub,
                                                options: options())
            } catch {
                return done("\(error)")
            }
            opened.withLockedValue { $0 += 1 }
            let finish: @Sendable (Result<Void, EventHubsError>) -> Void = { result in
                producer.close { done(result.failure.map { "\($0)" }) }
            }
            guard let batchSize else {
                producer.send(EventData(body: payload), completion: finish)
                return
            }
            producer.createBatch { created in
                switch created {
                case .failure(let error): finish(.failure(error))
                case .success(let empty):
                    guard let batch = Self.filled(empty, batchSize, payload) else {
                        return producer.close { done("\(batchSize) events of \(payload.count) bytes exceed the batch size") }
                    }
                    producer.send(batch, completion: finish)
                }
            }
        }
        _ = ClosedLoopLoad.run(count: load.loop.warmup ?? 0, concurrency: load.loop.concurrency, operation: operation)
        opened.withLockedValue { $0 = 0 }
        let cpuBefore = ProcessStats.cpuSeconds()
        let outcome = ClosedLoopLoad.run(count: operations, concurrency: load.loop.concurrency, operation: operation)
        let cpu = ProcessStats.cpuSeconds() - cpuBefore
        return summary("cold", outcome, cpu: cpu, connections: opened.load())
    }

    private func summary(_ mode: String, _ outcome: ClosedLoopLoad.Outcome, cpu: Double, connections: Int) -> [String: Any] {
        if let error = outcome.lastError { JSONOutput.printError("last error: \(error)") }
        let seconds = outcome.seconds
        let histogram = outcome.histogram
        let events = operations * eventsPerOperation
        var summary: [String: Any] = [
            "mode": mode, "count": events, "concurrency": load.loop.concurrency, "size": load.loop.size,
            "events_per_sec": JSONOutput.rounded(
                seconds > 0 ? Double(outcome.succeeded * eventsPerOperation) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(outcome.meanMilliseconds, 4),
            "errors": outcome.failed, "connections": connections, "seconds": JSONOutput.rounded(seconds),
            "cpu_us_per_event": JSONOutput.rounded(cpu * 1e6 / Double(max(events, 1)), 1),
        ]
        if let batchSize {
            summary["batch_size"] = batchSize
            summary["batches"] = operations
        }
        return summary
    }

    /// RSS before and after opening two waves of `extra` more ready connections each: the first pays what a process pays once for its first busy moment
    /// (Dispatch worker threads and their stacks, a malloc arena per new thread, Swift metadata and OpenSSL tables
    /// filled in on first use), the second adds connections to a process that has all of that already. Both are
    /// reported; the second wave's figure is what one more idle pooled connection costs.
    private func measureIdleMemory(_ extra: Int) throws {
        let producer = try ManagedEventHubProducer(connectionString: load.connectionString, eventHubName: eventhub,
                                                   options: options(maxSize: 2 * extra + 1))
        defer { try? producer.close() }
        try producer.warmUp(connections: 1)
        try producer.send(EventData(body: load.payload))
        func settle() -> (resident: Int, threads: Int) {
            Thread.sleep(forTimeInterval: 0.2)
            return (ProcessStats.residentBytes(), ProcessStats.threadCount())
        }
        let before = settle()
        let ready = try producer.warmUp(connections: extra + 1)
        let first = settle()
        let readyAfterSecond = try producer.warmUp(connections: 2 * extra + 1)
        let second = settle()
        let added = max(ready - 1, 1)
        let addedSecond = max(readyAfterSecond - ready, 1)
        let summary: [String: Any] = [
            "mode": "idle-memory", "idle_connections": added, "rss_before_kb": before.resident / 1024,
            "rss_after_kb": first.resident / 1024,
            "kb_per_idle_connection": JSONOutput.rounded(Double(first.resident - before.resident) / 1024 / Double(added), 1),
            "second_wave_connections": addedSecond, "rss_after_second_wave_kb": second.resident / 1024,
            "kb_per_idle_connection_second_wave": JSONOutput.rounded(
                Double(second.resident - first.resident) / 1024 / Double(addedSecond), 1),
            // Threads the warm-ups added count too (their stacks), though they serve every connection.
            "threads_before": before.threads, "threads_after": first.threads,
            "threads_after_second_wave": second.threads,
            "connections": producer.health.connectionsOpened,
            "errors": max(0, extra - (ready - 1)) + max(0, extra - (readyAfterSecond - ready)),
        ]
        try load.report(summary, failed: 0)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
