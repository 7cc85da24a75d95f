// Cosmos DB with completion handlers: the core API. Each completion runs once, on the queue you pass.
import AzureCosmos
import Dispatch
import ExampleSupport

let account = try CosmosAccount.start()
defer { account.stop() }
var options = CosmosClientOptions()
options.caFile = account.caFile
// The basic client: connections opened on demand, retired after 60 s (the Python Cosmos client's TTL).
let cosmos = try Cosmos(connectionString: account.connectionString, databaseName: "examples", containerName: "orders",
                        options: options)
let queue = DispatchQueue(label: "example.callbacks")
let done = DispatchSemaphore(value: 0)

cosmos.createItem(Array(#"{"id": "cb-1", "tenant": "contoso", "total": 42}"#.utf8), queue: queue) { created in
    switch created {
    case .failure(let error):
        print("create failed:", error.code, error.serviceCondition.map { "\($0)" } ?? "")
        done.signal()
    case .success(let response):
        print("created, status", response.status, "charge", response.requestCharge)
        cosmos.readItem(id: "cb-1", partitionKey: "contoso") { read in
            print("read", (try? read.get()).map { String(decoding: $0.value, as: UTF8.self) } ?? "\(read)")
            cosmos.queryItems(CosmosQuery("SELECT VALUE COUNT(1) FROM c")) { counted in
                print("items in the container:", (try? counted.get().items.first.map { String(decoding: $0, as: UTF8.self) }) ?? "-")
                cosmos.deleteItem(id: "cb-1", partitionKey: "contoso") { _ in
                    cosmos.close(queue: queue) { done.signal() }
                }
            }
        }
    }
}
done.wait()
