import ArgumentParser
import AzureEventHubs
import Foundation
import ToolboxCore

/// `toolbox eventhubs ...`: Event Hubs client commands.
struct EventHubsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventhubs", abstract: "Send events to an Event Hub (Azure or the emulator).",
        subcommands: [EventHubsSend.self])
}

/// `toolbox eventhubs send`: sends N events with C concurrent callers and reports throughput and latency.
struct EventHubsSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send events; prints {sent, failed, seconds, events_per_sec, p50_ms, p99_ms}.")

    @Option(help: "Event Hubs connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...).")
    var connectionString: String

    @Option(help: "The event hub (default: the connection string's EntityPath).")
    var eventhub: String?

    @Option(help: "Partition key (events stay together on one partition).")
    var partitionKey: String?

    @Option(help: "Partition id to send to.")
    var partitionId: String?

    @Option(help: "Events to send.")
    var count: Int = 100

    @Option(help: "Concurrent callers.")
    var concurrency: Int = 1

    @Option(help: "Event body text.")
    var body: String?

    @Option(help: "Event body size in bytes (instead of --body).")
    var size: Int?

    @Option(help: "PEM CA file to trust (an emulator with TLS).")
    var caFile: String?

    @Flag(inversion: .prefixedNo, help: "Use the managed (pooled) producer; --no-pooled uses the basic producer.")
    var pooled = true

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be >= 0") }
        guard concurrency >= 1, concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
        if partitionKey != nil && partitionId != nil { throw ValidationError("give --partition-key or --partition-id, not both") }
        if body != nil && size != nil { throw ValidationError("give --body or --size, not both") }
        if let size, size < 0 { throw ValidationError("--size must be >= 0") }
    }

    func run() throws {
        var options = EventHubProducerOptions()
        options.caFile = caFile
        options.pool.clientLimit = 100
        let producer: EventHubProducerClient = pooled
            ? try ManagedEventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
            : try EventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
        let payload = size.map { [UInt8](repeating: 0x78, count: $0) } ?? Array((body ?? "hello from toolbox").utf8)
        let sendOptions = SendEventOptions(partitionKey: partitionKey, partitionID: partitionId)
        let next = LockedValue(0)
        let results = LockedValue<(sent: Int, failed: Int, histogram: LatencyHistogram, lastError: String?)>(
            (0, 0, LatencyHistogram(), nil))
        let start = MonotonicInstant.now()
        DispatchQueue.concurrentPerform(iterations: concurrency) { _ in
            var histogram = LatencyHistogram()
            var sent = 0
            var failed = 0
            var lastError: String?
            while true {
                let index: Int? = next.withLockedValue { value in
                    guard value < count else { return nil }
                    value += 1
                    return value
                }
                guard index != nil else { break }
                let began = MonotonicInstant.now()
                do {
                    try producer.send(EventData(body: payload), options: sendOptions)
                    sent += 1
                    histogram.record(UInt64(MonotonicInstant.now().seconds(since: began) * 1_000_000))
                } catch {
                    failed += 1
                    lastError = "\(error)"
                }
            }
            results.withLockedValue {
                $0.sent += sent
                $0.failed += failed
                $0.histogram.merge(histogram)
                if let lastError { $0.lastError = lastError }
            }
        }
        let seconds = MonotonicInstant.now().seconds(since: start)
        try? producer.close()
        let final = results.load()
        if let lastError = final.lastError { JSONOutput.printError("last error: \(lastError)") }
        let summary: [String: Any] = [
            "sent": final.sent, "failed": final.failed, "seconds": JSONOutput.rounded(seconds),
            "events_per_sec": JSONOutput.rounded(seconds > 0 ? Double(final.sent) / seconds : 0, 1),
            "p50_ms": JSONOutput.rounded(Double(final.histogram.percentile(0.5)) / 1000),
            "p99_ms": JSONOutput.rounded(Double(final.histogram.percentile(0.99)) / 1000),
        ]
        if json {
            JSONOutput.printLine(summary)
        } else {
            print("sent \(final.sent), failed \(final.failed) in \(JSONOutput.rounded(seconds)) s "
                + "(\(summary["events_per_sec"] ?? 0) events/s, p50 \(summary["p50_ms"] ?? 0) ms, p99 \(summary["p99_ms"] ?? 0) ms)")
        }
        if final.failed > 0 { throw ExitCode(1) }
    }
}
