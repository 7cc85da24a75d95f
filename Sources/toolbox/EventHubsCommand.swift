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
        let producer: any EventHubProducing = pooled
            ? try ManagedEventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
            : try EventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
        let payload = size.map { [UInt8](repeating: 0x78, count: $0) } ?? Array((body ?? "hello from toolbox").utf8)
        let sendOptions = SendEventOptions(partitionKey: partitionKey, partitionID: partitionId)
        // Completion-handler sends: `concurrency` callers really are in flight at once (a thread per caller
        // would be capped by the number of cores).
        let outcome = ClosedLoopLoad.run(count: count, concurrency: concurrency) { _, done in
            producer.send(EventData(body: payload), options: sendOptions) { done($0.failure.map { "\($0)" }) }
        }
        try? producer.close()
        try ClosedLoopLoad.printSendSummary(outcome, json: json)
    }
}
