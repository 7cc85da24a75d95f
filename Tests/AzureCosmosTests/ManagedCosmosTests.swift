import AzureAuth
@testable import AzureCosmos
import ToolboxCore
import XCTest

/// The pooled client: readiness (a container read per new connection), warm-up, pool limits and concurrent use.
final class ManagedCosmosTests: XCTestCase {
    func testEveryConnectionReadsTheContainerBeforeServing() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        gateway.addContainer("db", "items")
        var options = CosmosClientOptions()
        options.pool.maxSize = 3
        options.pool.metricsLabel = nil
        let cosmos = try ManagedCosmos(connectionString: gateway.connectionString, databaseName: "db",
                                       containerName: "items", options: options)
        defer { try? cosmos.close() }
        XCTAssertEqual(try cosmos.warmUp(connections: 2), 2)
        XCTAssertEqual(gateway.log, ["GET /dbs/db/colls/items/", "GET /dbs/db/colls/items/"])
        XCTAssertEqual(cosmos.poolSnapshot?.ready, 2)
        try cosmos.createItem(Array(#"{"id": "1", "pk": "a"}"#.utf8))
        XCTAssertEqual(cosmos.connectionsOpened, 2, "the warm connections served the requests")
    }

    func testReadinessFailureFailsTheConnectionNotSilently() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        var options = CosmosClientOptions()
        options.pool.metricsLabel = nil
        let cosmos = try ManagedCosmos(connectionString: gateway.connectionString, databaseName: "db",
                                       containerName: "missing", options: options)
        defer { try? cosmos.close() }
        XCTAssertThrowsError(try cosmos.readItem(id: "1", partitionKey: "a")) { error in
            XCTAssertEqual((error as! ToolboxError).serviceCondition?.httpStatus, 404, "\(error)")
        }
        XCTAssertThrowsError(try ManagedCosmos(connectionString: gateway.connectionString, databaseName: "db",
                                               containerName: "x", options: { var o = options; o.pool.maxSize = 0; return o }()))
    }

    func testConcurrentCallersShareThePool() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        gateway.addContainer("db", "items")
        var options = CosmosClientOptions()
        options.pool.maxSize = 4
        options.pool.metricsLabel = nil
        let cosmos = try ManagedCosmos(connectionString: gateway.connectionString, databaseName: "db",
                                       containerName: "items", options: options)
        defer { try? cosmos.close() }
        let failures = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<25 {
                do {
                    let id = "w\(worker)-\(index)"
                    try cosmos.upsertItem(Array(#"{"id": "\#(id)", "pk": "\#(worker)"}"#.utf8))
                    _ = try cosmos.readItem(id: id, partitionKey: .string("\(worker)"))
                } catch {
                    failures.withLockedValue { $0 += 1 }
                }
            }
        }
        XCTAssertEqual(failures.load(), 0)
        XCTAssertLessThanOrEqual(cosmos.connectionsOpened, 4)
        let all = try cosmos.queryItems(nil)
        XCTAssertEqual(all.items.count, 200)
        // Completion-form callers at the same time, cancelling some.
        let group = DispatchGroup()
        for index in 0..<50 {
            group.enter()
            let handle = cosmos.readItem(id: "w1-\(index % 25)", partitionKey: "1") { _ in group.leave() }
            if index % 5 == 0 { handle.cancel() }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
    }
}

/// Entra ID tokens (`type=aad`) over HTTPS with a custom CA, and the refusal to send them over plain HTTP.
final class CosmosTokenCredentialTests: XCTestCase {
    func testTokenCredentialOverHTTPS() throws {
        let gateway = try FakeCosmosGateway(tls: true)
        defer { gateway.close() }
        gateway.addContainer("db", "items")
        var options = CosmosClientOptions()
        options.caFile = gateway.caFile
        options.pool.metricsLabel = nil
        let credential = StaticTokenCredential(token: Secret(FakeCosmosGateway.aadToken),
                                               expiresOn: Int(Date().timeIntervalSince1970) + 3600)
        let cosmos = try ManagedCosmos(endpoint: gateway.endpoint, credential: credential, databaseName: "db",
                                       containerName: "items", options: options)
        defer { try? cosmos.close() }
        try cosmos.createItem(Array(#"{"id": "1", "pk": "a"}"#.utf8))
        XCTAssertNoThrow(try cosmos.readItem(id: "1", partitionKey: "a"))
        XCTAssertEqual(gateway.state.load().badSignatures, 0)
        XCTAssertGreaterThanOrEqual(gateway.state.load().aadRequests, 4, "readiness, account, create, read")

        XCTAssertThrowsError(try Cosmos(endpoint: "http://127.0.0.1:1/", credential: credential, databaseName: "db",
                                        containerName: "items")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .invalidArgument)
        }
        // Without the CA the gateway's certificate is refused.
        let untrusted = try Cosmos(endpoint: gateway.endpoint, credential: credential, databaseName: "db", containerName: "items")
        defer { try? untrusted.close() }
        XCTAssertThrowsError(try untrusted.readItem(id: "1", partitionKey: "a")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .networkFailure)
        }
    }
}
