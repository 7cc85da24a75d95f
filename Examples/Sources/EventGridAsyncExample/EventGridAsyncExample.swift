// Event Grid, async/await (module AzureClientsToolboxAsync): Task cancellation cancels the publish.
import AzureClientsToolboxAsync
import AzureEventGrid
import ExampleSupport
import ToolboxCore

@main
struct EventGridAsyncExample {
    static func main() async throws {
        let topics = try EventGridTopics.start()
        defer { topics.stop() }
        let config = EventGridConfig(topics.endpoints.sorted { $0.key < $1.key }.map {
            EventGridTopicConfig(name: $0.key, url: $0.value)
        })
        var options = EventGridClientOptions()
        options.caFile = topics.caFile
        let client = try ManagedEventGridClient(config: config, credential: .key(Secret(topics.key)), options: options)
        _ = try await client.warmUp()

        // async_emit_event, then concurrent publishes to both topics.
        try await client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/1",
                                   data: EventGridData(["orderId": 1]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 2...9 {
                let topic = index.isMultiple(of: 2) ? "orders" : "audit"
                let data = try EventGridData(["orderId": index])
                group.addTask {
                    try await client.send([CloudEvent(source: "/contoso/orders", type: "Contoso.Orders.Async",
                                                      data: .json(data), subject: "orders/\(index)")], toTopic: topic)
                }
            }
            try await group.waitForAll()
        }
        print("kept: orders \(topics.keptCount("orders") ?? -1), audit \(topics.keptCount("audit") ?? -1)")
        await client.close()
    }
}
