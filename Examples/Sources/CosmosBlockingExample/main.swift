// Cosmos DB with blocking calls: for scripts and threads you own (never on a library callback queue).
import AzureCosmos
import ExampleSupport
import Foundation

struct Order: Codable, Sendable {
    var id: String
    var tenant: String
    var total: Double
}

let account = try CosmosAccount.start()
defer { account.stop() }
var options = CosmosClientOptions()
options.caFile = account.caFile
options.pool.maxSize = 4

// The pooled client: each connection reads the container before it serves anyone.
let cosmos = try ManagedCosmos(connectionString: account.connectionString, databaseName: "examples",
                               containerName: "orders", options: options)
try cosmos.warmUp(connections: 2)
for index in 0..<5 {
    try cosmos.upsertItem(Order(id: "order-\(index)", tenant: index % 2 == 0 ? "contoso" : "fabrikam",
                                total: Double(index) * 10))
}
let order = try cosmos.readItem(id: "order-2", partitionKey: "contoso", as: Order.self)
print("read", order.value.id, "etag", order.etag ?? "-", "charge", order.requestCharge)

// Optimistic concurrency: replace only if nobody wrote in between.
var changed = order.value
changed.total += 1
try cosmos.replaceItem(id: changed.id, with: changed, options: CosmosItemOptions(ifMatch: order.etag))

// Partial update, as the Python toolbox's PatchOp list.
try cosmos.patchItem(id: "order-2", partitionKey: "contoso", operations: [.increment("/total", by: 5), .set("/state", "paid")])

// A cross-partition query, page by page.
let query = CosmosQuery("SELECT * FROM c WHERE c.total >= @min ORDER BY c.total DESC", parameters: ["@min": 10])
var queryOptions = CosmosQueryOptions(maxItemCount: 2)
repeat {
    let page = try cosmos.queryPage(query, options: queryOptions)
    print("page of", page.items.count, "charge", page.requestCharge)
    queryOptions.continuation = page.continuation
} while queryOptions.continuation != nil
print("pool", cosmos.poolSnapshot.map { "ready \($0.ready), creates \($0.creates)" } ?? "-")
try cosmos.close()
