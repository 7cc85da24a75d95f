// Cosmos DB with async/await (import AzureClientsToolboxAsync); Task cancellation cancels the request.
import AzureClientsToolboxAsync
import AzureCosmos
import ExampleSupport

struct Order: Codable, Sendable {
    var id: String
    var tenant: String
    var total: Double
}

@main
struct CosmosAsyncExample {
    static func main() async throws {
        let account = try CosmosAccount.start()
        defer { account.stop() }
        var options = CosmosClientOptions()
        options.caFile = account.caFile
        let cosmos = try ManagedCosmos(connectionString: account.connectionString, databaseName: "examples",
                                       containerName: "orders", options: options)
        try await cosmos.warmUp(connections: 1)
        try await cosmos.upsertItem(Order(id: "async-1", tenant: "fabrikam", total: 7))
        let order = try await cosmos.readItem(id: "async-1", partitionKey: "fabrikam", as: Order.self)
        print("read", order.value.id, "total", order.value.total)
        let all = try await cosmos.queryItems(CosmosQuery("SELECT * FROM c WHERE c.tenant = @t", parameters: ["@t": "fabrikam"]),
                                              options: CosmosQueryOptions(partitionKey: "fabrikam"))
        print("fabrikam has", all.items.count, "orders in", all.pages, "page(s)")
        try await cosmos.deleteItem(id: "async-1", partitionKey: "fabrikam")
        await cosmos.close()
    }
}
