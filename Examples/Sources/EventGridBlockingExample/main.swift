// Event Grid, blocking calls: for scripts and threads you own (never on a library callback queue).
import AzureEventGrid
import ExampleSupport
import ToolboxCore

let topics = try EventGridTopics.start()
defer { topics.stop() }

// Several named topics, one client: the Python toolbox's EventGridConfig / EventGridClient.
let config = EventGridConfig(topics.endpoints.sorted { $0.key < $1.key }.map { EventGridTopicConfig(name: $0.key, url: $0.value) })
var options = EventGridClientOptions()
options.caFile = topics.caFile
let client = try ManagedEventGridClient(config: config, credential: .key(Secret(topics.key)), options: options)

// emit_event(topic, event_type, subject, data)
try client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/42",
                     data: EventGridData(["orderId": 42, "total": 19.99]))
// A batch of EventGridEvents in one request, and CloudEvents to another topic.
try client.send((1...3).map { EventGridEvent(subject: "orders/\($0)", eventType: "Contoso.Orders.Shipped",
                                             data: try EventGridData(["orderId": $0])) }, toTopic: "orders")
try client.send([CloudEvent(source: "/contoso/orders", type: "Contoso.Orders.Audited",
                            data: .json(try EventGridData(["orderId": 42])), subject: "orders/42")], toTopic: "audit")
do {
    try client.emitEvent(topic: "orders", eventType: "Bad", subject: "", data: .null)
} catch {
    print("refused as expected:", error.code, error.serviceCondition?.serviceMessage ?? "")
}
print("kept: orders \(topics.keptCount("orders") ?? -1), audit \(topics.keptCount("audit") ?? -1)")
try client.close()
