import ArgumentParser
import AzureServiceBus
import Foundation
import ToolboxCore

/// `toolbox bench servicebus`: single-message send latency and throughput through the pooled sender.
struct BenchServiceBusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servicebus",
        abstract: "Send N single messages from C concurrent callers through the pooled sender; prints one JSON line.",
        discussion: """
            Warms the pool up first, then times every send. --scheduled sends through schedule-message (what the \
            Python toolbox's send_message does); --cold opens a new ServiceBusSender per send.
            Keys: mode, count, concurrency, size, events_per_sec, p50_ms, p99_ms, mean_ms, errors, connections, \
            seconds, cpu_us_per_event.
            """)

    @Option(help: "Service Bus connection string.")
    var connectionString: String

    @Option(help: "The queue (default: the connection string's EntityPath).")
    var queue: String?

    @Option(help: "Timed sends.")
    var count: Int = 1000

    @Option(help: "Concurrent callers (each starts its next send when the previous one completes).")
    var concurrency: Int = 1

    @Option(help: "Message body size in bytes.")
    var size: Int = 128

    @Option(help: "Untimed sends before measuring (default: max(2 × concurrency, 50); 0 with --cold).")
    var warmup: Int?

    @Option(help: "PEM CA file to trust (an emulator with TLS).")
    var caFile: String?

    @Flag(help: "Send through $management schedule-message with no delay, as the Python toolbox's send_message does.")
    var scheduled = false

    @Flag(help: "A new sender (connection) per send.")
    var cold = false

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
        guard size >= 0, size <= 1_000_000 else { throw ValidationError("--size must be 0...1000000") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be >= 0") }
    }

    func run() throws {
        let options = ServiceBusClientOptions.with { $0.caFile = caFile }
        let payload = [UInt8](repeating: 0x78, count: size)
        let scheduled = scheduled
        let send: @Sendable (ServiceBusSenderClient, @escaping @Sendable (String?) -> Void) -> Void = { sender, done in
            let message = ServiceBusMessage(body: payload)
            if scheduled {
                sender.send([message], delay: 0) { done($0.failure.map { "\($0)" }) }
            } else {
                sender.send(message) { done($0.failure.map { "\($0)" }) }
            }
        }
        let outcome: ClosedLoopLoad.Outcome
        let connections: Int
        let cpu: Double
        if cold {
            let opened = LockedValue(0)
            let operation: ClosedLoopLoad.Operation = { [connectionString, queue] _, done in
                let sender: ServiceBusSender
                do {
                    sender = try ServiceBusSender(connectionString: connectionString, queueName: queue, options: options)
                } catch {
                    return done("\(error)")
                }
                opened.withLockedValue { $0 += 1 }
                send(sender) { error in sender.close { done(error) } }
            }
            _ = ClosedLoopLoad.run(count: warmup ?? 0, concurrency: concurrency, operation: operation)
            opened.withLockedValue { $0 = 0 }
            let before = ProcessStats.cpuSeconds()
            outcome = ClosedLoopLoad.run(count: count, concurrency: concurrency, operation: operation)
            cpu = ProcessStats.cpuSeconds() - before
            connections = opened.load()
        } else {
            let sender = try ManagedServiceBusSender(connectionString: connectionString, queueName: queue, options: options)
            defer { try? sender.close() }
            try sender.warmUp(connections: 1)
            let warm = ClosedLoopLoad.run(count: warmup ?? max(2 * concurrency, 50), concurrency: concurrency) { _, done in
                send(sender, done)
            }
            if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
            let before = ProcessStats.cpuSeconds()
            outcome = ClosedLoopLoad.run(count: count, concurrency: concurrency) { _, done in send(sender, done) }
            cpu = ProcessStats.cpuSeconds() - before
            connections = sender.health.connectionsOpened
        }
        if let error = outcome.lastError { JSONOutput.printError("last error: \(error)") }
        let seconds = outcome.seconds
        let summary: [String: Any] = [
            "mode": (cold ? "cold" : "pooled") + (scheduled ? "-scheduled" : ""), "count": count,
            "concurrency": concurrency, "size": size,
            "events_per_sec": JSONOutput.rounded(seconds > 0 ? Double(outcome.succeeded) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(outcome.meanMilliseconds, 4),
            "errors": outcome.failed, "connections": connections, "seconds": JSONOutput.rounded(seconds),
            "cpu_us_per_event": JSONOutput.rounded(cpu * 1e6 / Double(count), 1),
        ]
        if json {
            JSONOutput.printLine(summary)
        } else {
            print(summary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if outcome.failed > 0 { throw ExitCode(1) }
    }
}
