import AzureClientsToolboxAsync
@testable import AzureCosmos
import ToolboxCore
import XCTest

/// The async forms bridge the completion forms, including cancellation.
final class CosmosAsyncTests: XCTestCase {
    func testAsyncFormsAndTaskCancellation() async throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        gateway.addContainer("db", "items")
        var options = CosmosClientOptions()
        options.pool.metricsLabel = nil
        let cosmos = try ManagedCosmos(connectionString: gateway.connectionString, databaseName: "db",
                                       containerName: "items", options: options)
        let warmed = try await cosmos.warmUp(connections: 1)
        XCTAssertEqual(warmed, 1)
        let order = Order(id: "1", pk: "a", n: 1)
        let created = try await cosmos.createItem(order)
        XCTAssertEqual(created.value, order)
        let read = try await cosmos.readItem(id: "1", partitionKey: "a", as: Order.self)
        XCTAssertEqual(read.value, order)
        let patched = try await cosmos.patchItem(id: "1", partitionKey: "a", operations: [.increment("/n", by: 2)])
        XCTAssertEqual(try CosmosJSON(parsing: patched.value)["n"]?.numberValue, 3)
        let all = try await cosmos.queryItems(CosmosQuery("SELECT * FROM c"))
        XCTAssertEqual(all.items.count, 1)
        try await cosmos.deleteItem(id: "1", partitionKey: "a")

        gateway.inject([.throttle(ms: 20_000)])
        let task = Task { try await cosmos.readItem(id: "1", partitionKey: "a") }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected cancellation")
        } catch {
            XCTAssertEqual((error as? ToolboxError)?.code, .cancelled)
        }
        await cosmos.close()
        await cosmos.close()
    }
}
