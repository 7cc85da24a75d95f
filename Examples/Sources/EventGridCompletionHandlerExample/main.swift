// Event Grid, completion handlers: every call returns at once; the handler runs once, on the queue you choose.
import AzureEventGrid
import Dispatch
import ExampleSupport
import ToolboxCore

let topics = try EventGridTopics.start()
defer { topics.stop() }

let config = EventGridConfig(topics.endpoints.sorted { $0.key < $1.key }.map { EventGridTopicConfig(name: $0.key, url: $0.value) })
var options = EventGridClientOptions()
options.caFile = topics.caFile
let client = try EventGridClient(config: config, credential: .signedWithKey(Secret(topics.key), validity: .seconds(600)),
                                 options: options)

let queue = DispatchQueue(label: "example.callbacks")
let group = DispatchGroup()
for index in 1...5 {
    group.enter()
    client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/\(index)",
                     data: try EventGridData(["orderId": index]), queue: queue) { result in
        switch result {
        case .success: print("published order", index)
        case .failure(let error): print("order \(index) failed:", error)
        }
        group.leave()
    }
}
// A publish can be cancelled through its handle; the handler then gets `.cancelled` (unless it already ran).
group.enter()
let handle = client.send([CloudEvent(source: "/contoso", type: "Contoso.Cancelled")], toTopic: "audit", timeout: .seconds(30),
                         queue: queue) { result in
    print("cancelled publish:", (try? result.get()).map { "sent before the cancel" } ?? "cancelled")
    group.leave()
}
handle.cancel()
group.wait()
let closed = DispatchSemaphore(value: 0)
client.close(queue: queue) { closed.signal() }
closed.wait()
print("kept: orders \(topics.keptCount("orders") ?? -1)")
