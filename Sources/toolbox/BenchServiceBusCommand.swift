import ArgumentParser
import AzureServiceBus
import Foundation
import ToolboxCore

/// `toolbox bench servicebus`: single-message send latency and throughput through the pooled sender; with
/// `--receive`, peek-lock receive + complete throughput.
struct BenchServiceBusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servicebus",
        abstract: "Send N single messages from C concurrent callers through the pooled sender; prints one JSON line.",
        discussion: """
            Warms the pool up first, then times every send. --scheduled sends through schedule-message (what the \
            Python toolbox's send_message does); --cold opens a new ServiceBusSender per send.
            Keys: mode, count, concurrency, size, events_per_sec, p50_ms, p99_ms, mean_ms, errors, connections, \
            seconds, cpu_us_per_event.
            --receive measures the other side instead: it pre-fills the queue with --warmup + --count messages \
            (untimed, pooled sender), then --concurrency peek-lock ServiceBusReceivers (one connection each) \
            receive up to --max-messages per call and complete every message received, concurrently; the warm-up \
            messages are received and completed untimed first. A message's latency runs from the start of the \
            receive call that delivered it to its completion being confirmed. Messages already in the queue are \
            received like the pre-filled ones. With --prefetch N each receiver keeps N messages received ahead of \
            its calls; so that no receiver waits for messages another one holds, the pre-fill adds \
            --concurrency x N surplus messages, the receivers stop when --count messages are completed in total, \
            and afterwards the messages still prefetched are released by closing the receivers and the surplus \
            is removed (receive-and-delete, untimed).
            Keys (--receive): mode "receive", count, concurrency, size, max_messages, prefetch, messages_per_sec, \
            p50_ms, p99_ms, mean_ms, errors (messages not received or not completed), connections, seconds, \
            prefill_seconds, cpu_us_per_message, prefetched_at_end (released on close), surplus, surplus_removed.
            """)

    @OptionGroup var load: BenchLoadOptions

    @Option(help: "The queue (default: the connection string's EntityPath).")
    var queue: String?

    @Flag(help: "Send through $management schedule-message with no delay, as the Python toolbox's send_message does.")
    var scheduled = false

    @Flag(help: "A new sender (connection) per send.")
    var cold = false

    @Flag(help: "Measure peek-lock receive + complete of --count pre-filled messages instead of sends.")
    var receive = false

    @Option(help: "With --receive: messages asked for per receive call (the receiver grants credit per call).")
    var maxMessages: Int = 10

    @Option(help: "With --receive: seconds a receive call waits for its messages.")
    var receiveTimeout: Double = 10

    @Option(help: "With --receive: messages each receiver takes ahead of its calls (prefetch_count; 0: credit per call).")
    var prefetch: Int = 0

    func validate() throws {
        guard maxMessages >= 1, maxMessages <= 5000 else { throw ValidationError("--max-messages must be 1...5000") }
        guard (0...10_000).contains(prefetch) else { throw ValidationError("--prefetch must be 0...10000 (got \(prefetch))") }
        if prefetch > 0, !receive { throw ValidationError("--prefetch needs --receive") }
        _ = try Duration(cliSeconds: receiveTimeout, flag: "--receive-timeout")
        if receive, cold || scheduled { throw ValidationError("--receive does not combine with --cold or --scheduled") }
    }

    func run() throws {
        let options = ServiceBusClientOptions.with { load.network.apply(to: &$0) }
        if receive { return try runReceive(options) }
        let payload = load.payload
        let scheduled = scheduled
        let send: @Sendable (any ServiceBusSending, @escaping @Sendable (String?) -> Void) -> Void = { sender, done in
            let message = ServiceBusMessage(body: payload)
            if scheduled {
                sender.send([message], delay: .seconds(0)) { done($0.failure.map { "\($0)" }) }
            } else {
                sender.send(message) { done($0.failure.map { "\($0)" }) }
            }
        }
        let outcome: ClosedLoopLoad.Outcome
        let connections: Int
        let cpu: Double
        if cold {
            let opened = LockedValue(0)
            let operation: ClosedLoopLoad.Operation = { [connectionString = load.connectionString, queue] _, done in
                let sender: ServiceBusSender
                do {
                    sender = try ServiceBusSender(connectionString: connectionString, queueName: queue, options: options)
                } catch {
                    return done("\(error)")
                }
                opened.withLockedValue { $0 += 1 }
                send(sender) { error in sender.close { done(error) } }
            }
            _ = ClosedLoopLoad.run(count: load.loop.warmup ?? 0, concurrency: load.loop.concurrency, operation: operation)
            opened.withLockedValue { $0 = 0 }
            let before = ProcessStats.cpuSeconds()
            outcome = ClosedLoopLoad.run(count: load.loop.count, concurrency: load.loop.concurrency, operation: operation)
            cpu = ProcessStats.cpuSeconds() - before
            connections = opened.load()
        } else {
            let sender = try ManagedServiceBusSender(connectionString: load.connectionString, queueName: queue, options: options)
            defer { try? sender.close() }
            try sender.warmUp(connections: 1)
            let warm = ClosedLoopLoad.run(count: load.loop.warmupCount, concurrency: load.loop.concurrency) { _, done in
                send(sender, done)
            }
            if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
            let before = ProcessStats.cpuSeconds()
            outcome = ClosedLoopLoad.run(count: load.loop.count, concurrency: load.loop.concurrency) { _, done in send(sender, done) }
            cpu = ProcessStats.cpuSeconds() - before
            connections = sender.health.connectionsOpened
        }
        if let error = outcome.lastError { JSONOutput.printError("last error: \(error)") }
        let seconds = outcome.seconds
        let summary: [String: Any] = [
            "mode": (cold ? "cold" : "pooled") + (scheduled ? "-scheduled" : ""), "count": load.loop.count,
            "concurrency": load.loop.concurrency, "size": load.loop.size,
            "events_per_sec": JSONOutput.rounded(seconds > 0 ? Double(outcome.succeeded) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(outcome.meanMilliseconds, 4),
            "errors": outcome.failed, "connections": connections, "seconds": JSONOutput.rounded(seconds),
            "cpu_us_per_event": JSONOutput.rounded(cpu * 1e6 / Double(load.loop.count), 1),
        ]
        try load.report(summary, failed: outcome.failed)
    }
}

// MARK: - Receive + complete

extension BenchServiceBusCommand {
    private func runReceive(_ options: ServiceBusClientOptions) throws {
        let warmupCount = load.loop.warmupCount
        // Messages a receiver holds ahead are out of the others' reach: the surplus keeps every claim satisfiable.
        let (surplus, overflow) = load.loop.concurrency.multipliedReportingOverflow(by: prefetch)
        guard !overflow, surplus <= 1_000_000 else { throw ValidationError("--concurrency x --prefetch is too large") }
        let prefillStart = MonotonicInstant.now()
        let prefill = try self.prefill(warmupCount + load.loop.count + surplus, options: options)
        let prefillSeconds = MonotonicInstant.now().seconds(since: prefillStart)
        if prefill.failed > 0 { JSONOutput.printError("pre-fill: \(prefill.failed) sends failed: \(prefill.lastError ?? "")") }

        let receivers = try (0..<load.loop.concurrency).map { _ in
            try ServiceBusReceiver(connectionString: load.connectionString, queueName: queue, receiveMode: .peekLock,
                                   prefetchCount: prefetch, options: options)
        }
        let warm = drain(warmupCount, receivers)
        if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
        let cpuBefore = ProcessStats.cpuSeconds()
        let outcome = drain(load.loop.count, receivers)
        let cpu = ProcessStats.cpuSeconds() - cpuBefore
        if let error = outcome.lastError { JSONOutput.printError("last error: \(error)") }
        // Closing releases what each receiver still holds ahead; then the surplus goes, so the queue is as before.
        let prefetchedAtEnd = receivers.reduce(0) { $0 + $1.prefetchedCount }
        let connections = receivers.reduce(0) { $0 + $1.connectionsOpened }
        for receiver in receivers { try? receiver.close() }
        let surplusRemoved = surplus > 0 ? try removeSurplus(surplus, options: options) : 0
        if surplusRemoved < surplus {
            JSONOutput.printError("only \(surplusRemoved) of \(surplus) surplus messages were removed; the rest stay in the queue")
        }
        let seconds = outcome.seconds
        let summary: [String: Any] = [
            "mode": "receive", "count": load.loop.count, "concurrency": load.loop.concurrency, "size": load.loop.size,
            "max_messages": maxMessages, "prefetch": prefetch, "prefetched_at_end": prefetchedAtEnd, "surplus": surplus,
            "surplus_removed": surplusRemoved,
            "messages_per_sec": JSONOutput.rounded(seconds > 0 ? Double(outcome.succeeded) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(outcome.meanMilliseconds, 4),
            "errors": outcome.failed, "connections": connections,
            "seconds": JSONOutput.rounded(seconds), "prefill_seconds": JSONOutput.rounded(prefillSeconds),
            "cpu_us_per_message": JSONOutput.rounded(cpu * 1e6 / Double(load.loop.count), 1),
        ]
        try load.report(summary, failed: outcome.failed)
    }

    /// Removes `count` messages (receive-and-delete, untimed), stopping early when a read comes back empty.
    private func removeSurplus(_ count: Int, options: ServiceBusClientOptions) throws -> Int {
        let receiver = try ServiceBusReceiver(connectionString: load.connectionString, queueName: queue,
                                              receiveMode: .receiveAndDelete, options: options)
        defer { try? receiver.close() }
        var removed = 0
        while removed < count {
            let batch = try receiver.receive(maxMessages: min(500, count - removed), timeout: .seconds(2))
            if batch.isEmpty { break }
            removed += batch.count
        }
        return removed
    }

    /// Sends `total` messages through a pooled sender, 100 per call, 4 calls in flight.
    private func prefill(_ total: Int, options: ServiceBusClientOptions) throws -> ClosedLoopLoad.Outcome {
        let sender = try ManagedServiceBusSender(connectionString: load.connectionString, queueName: queue, options: options)
        defer { try? sender.close() }
        let message = ServiceBusMessage(body: load.payload)
        let chunk = 100
        let outcome = ClosedLoopLoad.run(count: (total + chunk - 1) / chunk, concurrency: 4) { index, done in
            let messages = [ServiceBusMessage](repeating: message, count: min(chunk, total - index * chunk))
            sender.send(messages) { done($0.failure.map { "\($0)" }) }
        }
        var result = outcome
        result.failed *= chunk  // messages, roughly: a failed call lost up to `chunk` of them
        return result
    }

    /// Receives and completes `total` messages with one closed loop per receiver; each loop claims up to
    /// `maxMessages` of what is left, receives them and completes every one (concurrently) before its next claim.
    /// Messages asked for but not delivered within the receive timeout count as failures and are not asked again.
    private func drain(_ total: Int, _ receivers: [ServiceBusReceiver]) -> ClosedLoopLoad.Outcome {
        let state = LockedValue((remaining: total, outcome: ClosedLoopLoad.Outcome()))
        let finished = DispatchSemaphore(value: 0)
        let maxMessages = maxMessages
        let timeout = receiveTimeout
        let start = MonotonicInstant.now()

        @Sendable func next(_ receiver: ServiceBusReceiver) {
            let wanted = state.withLockedValue { value -> Int in
                let wanted = min(maxMessages, value.remaining)
                value.remaining -= wanted
                return wanted
            }
            guard wanted > 0 else {
                finished.signal()
                return
            }
            let began = MonotonicInstant.now()
            receiver.receive(maxMessages: wanted, timeout: .seconds(timeout)) { result in
                let messages: [ServiceBusReceivedMessage]
                switch result {
                case .failure(let error):
                    state.withLockedValue { $0.outcome.failed += wanted; $0.outcome.lastError = "receive: \(error)" }
                    return next(receiver)
                case .success(let received): messages = received
                }
                if messages.isEmpty {
                    state.withLockedValue {
                        $0.outcome.failed += wanted
                        $0.outcome.lastError = "receive: no message within \(timeout) s"
                    }
                    return next(receiver)
                }
                // A call returns 200 ms after its first message with what arrived (`receiveBatchWindow`): what it
                // did not get is asked for again, not counted as lost.
                if messages.count < wanted {
                    state.withLockedValue { $0.remaining += wanted - messages.count }
                }
                let pending = LockedValue(messages.count)
                for message in messages {
                    receiver.complete(message) { completed in
                        let nanoseconds = MonotonicInstant.now().nanoseconds &- began.nanoseconds
                        state.withLockedValue { value in
                            switch completed {
                            case .success:
                                value.outcome.succeeded += 1
                                value.outcome.histogram.record(nanoseconds)
                                value.outcome.totalNanoseconds &+= nanoseconds
                            case .failure(let error):
                                value.outcome.failed += 1
                                value.outcome.lastError = "complete: \(error)"
                            }
                        }
                        if pending.withLockedValue({ $0 -= 1; return $0 == 0 }) { next(receiver) }
                    }
                }
            }
        }

        let loops = total > 0 ? receivers : []
        for receiver in loops { next(receiver) }
        for _ in loops { finished.wait() }
        var outcome = state.withLockedValue { $0.outcome }
        outcome.seconds = MonotonicInstant.now().seconds(since: start)
        return outcome
    }
}
