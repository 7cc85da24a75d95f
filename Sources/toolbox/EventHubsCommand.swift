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

    @OptionGroup var send: MessagingSendOptions<EventSends>

    func validate() throws {
        if partitionKey != nil && partitionId != nil { throw ValidationError("give --partition-key or --partition-id, not both") }
    }

    func run() throws {
        var options = EventHubProducerOptions()
        send.network.apply(to: &options)
        options.pool.clientLimit = 100
        let payload = send.content.payload
        let sendOptions = SendEventOptions(partitionKey: partitionKey, partitionID: partitionId)
        try send.run { [send, connectionString, eventhub] in
            let producer: any EventHubProducing = send.pooled
                ? try ManagedEventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
                : try EventHubProducer(connectionString: connectionString, eventHubName: eventhub, options: options)
            return ({ try producer.close() }, { _, done in
                producer.send(EventData(body: payload), options: sendOptions, queue: ClosedLoopLoad.completionQueue()) {
                    done($0.failure.map { "\($0)" })
                }
            })
        }
    }
}
