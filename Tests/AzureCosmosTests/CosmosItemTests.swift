import AzureAuth
@testable import AzureCosmos
import ToolboxCore
import XCTest

struct Order: Codable, Equatable, Sendable {
    var id: String
    var pk: String
    var n: Int
}

/// Item and resource operations, errors and retries of `Cosmos` against the fake gateway.
final class CosmosItemTests: XCTestCase {
    func makeClient(_ gateway: FakeCosmosGateway, configure: (inout CosmosClientOptions) -> Void = { _ in }) throws -> Cosmos {
        gateway.addContainer("db", "items")
        var options = CosmosClientOptions()
        options.retry.initialBackoff = .milliseconds(1)
        configure(&options)
        let client = try Cosmos(connectionString: gateway.connectionString, databaseName: "db", containerName: "items",
                                options: options)
        addTeardownBlock { try? client.close() }
        return client
    }

    func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testItemLifecycle() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        let created = try cosmos.createItem(json(#"{"id": "item 1", "pk": "a", "n": 1}"#))
        XCTAssertEqual(created.status, 201)
        XCTAssertGreaterThan(created.requestCharge, 0)
        XCTAssertNotNil(created.activityID)
        let etag = try XCTUnwrap(created.etag)
        let stored = try CosmosJSON(parsing: created.value)
        XCTAssertEqual(stored["_etag"]?.stringValue, etag)

        let read = try cosmos.readItem(id: "item 1", partitionKey: "a")
        XCTAssertEqual(try CosmosJSON(parsing: read.value)["n"], 1)

        XCTAssertThrowsError(try cosmos.createItem(json(#"{"id": "item 1", "pk": "a"}"#))) { error in
            let error = error as! ToolboxError
            XCTAssertEqual(error.code, .resourceExists)
            XCTAssertEqual(error.serviceCondition?.httpStatus, 409)
            XCTAssertEqual(error.serviceCondition?.errorCode, "Conflict")
        }

        let replaced = try cosmos.replaceItem(id: "item 1", with: json(#"{"id": "item 1", "pk": "a", "n": 2}"#),
                                              options: CosmosItemOptions(ifMatch: etag))
        XCTAssertEqual(try CosmosJSON(parsing: replaced.value)["n"], 2)
        XCTAssertThrowsError(try cosmos.replaceItem(id: "item 1", with: json(#"{"id": "item 1", "pk": "a", "n": 3}"#),
                                                    options: CosmosItemOptions(ifMatch: etag))) {
            XCTAssertEqual(($0 as! ToolboxError).code, .preconditionFailed)
            XCTAssertEqual(($0 as! ToolboxError).serviceCondition?.httpStatus, 412)
        }

        XCTAssertEqual(try cosmos.upsertItem(json(#"{"id": "item 1", "pk": "a", "n": 4}"#)).status, 200)
        XCTAssertEqual(try cosmos.upsertItem(json(#"{"id": "item 2", "pk": "b", "n": 5}"#)).status, 201)

        let patched = try cosmos.patchItem(id: "item 1", partitionKey: "a", operations: [
            .add("/favorite_color", "red"), .replace("/n", 14), .set("/discount", 20.0512), .increment("/n", by: 5),
            .move(from: "/favorite_color", to: "/color"), .remove("/discount"),
        ])
        let patchedJSON = try CosmosJSON(parsing: patched.value)
        XCTAssertEqual(patchedJSON["n"]?.numberValue, 19)
        XCTAssertEqual(patchedJSON["color"], "red")
        XCTAssertNil(patchedJSON["favorite_color"])
        XCTAssertNil(patchedJSON["discount"])
        XCTAssertThrowsError(try cosmos.patchItem(id: "item 1", partitionKey: "a", operations: [.set("/x", 1)],
                                                  condition: "from c where c.n > 100")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .preconditionFailed)
        }
        XCTAssertNoThrow(try cosmos.patchItem(id: "item 1", partitionKey: "a", operations: [.set("/x", 1)],
                                              condition: "from c where c.n > 10"))
        XCTAssertThrowsError(try cosmos.patchItem(id: "item 1", partitionKey: "a", operations: [])) {
            XCTAssertEqual(($0 as! ToolboxError).code, .invalidArgument)
        }

        XCTAssertEqual(try cosmos.deleteItem(id: "item 1", partitionKey: "a").status, 204)
        XCTAssertThrowsError(try cosmos.readItem(id: "item 1", partitionKey: "a")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .resourceNotFound)
            XCTAssertNotNil(($0 as! ToolboxError).serviceCondition?.activityID)
        }
        XCTAssertEqual(gateway.state.load().badSignatures, 0)
        XCTAssertTrue(gateway.log.contains("GET /dbs/db/colls/items/docs/item%201/"), "\(gateway.log)")
    }

    func testPartitionKeyKinds() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        let keys: [(String, CosmosPartitionKey)] = [(#""s""#, "s"), ("7", 7), ("true", true), ("null", .null)]
        for (index, (literal, key)) in keys.enumerated() {
            try cosmos.createItem(json(#"{"id": "k\#(index)", "pk": \#(literal)}"#))
            XCTAssertNoThrow(try cosmos.readItem(id: "k\(index)", partitionKey: key), literal)
            try cosmos.upsertItem(json(#"{"id": "k\#(index)", "pk": \#(literal), "v": 1}"#), partitionKey: key)
        }
        try cosmos.createItem(json(#"{"id": "nokey"}"#))
        XCTAssertNoThrow(try cosmos.readItem(id: "nokey", partitionKey: CosmosPartitionKey.none))
    }

    func testCodableForms() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        let order = Order(id: "1", pk: "a", n: 3)
        XCTAssertEqual(try cosmos.createItem(order).value, order)
        XCTAssertEqual(try cosmos.readItem(id: "1", partitionKey: "a", as: Order.self).value, order)
        let changed = Order(id: "1", pk: "a", n: 4)
        XCTAssertEqual(try cosmos.replaceItem(id: "1", with: changed).value, changed)
        XCTAssertEqual(try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), as: Order.self,
                                             options: CosmosQueryOptions(partitionKey: "a")), [changed])
        let done = expectation(description: "completion")
        cosmos.readItem(id: "1", partitionKey: "a", as: Order.self) { result in
            XCTAssertEqual(try? result.get().value, changed)
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
    }

    /// A list whose every page names the same next page fails instead of growing until the deadline.
    /// An empty id is refused before a request is signed or sent (the path would be the item feed, and the service
    /// answered with a 401 that blamed the key).
    func testAnEmptyIDIsRefusedWithoutARequest() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        try cosmos.createItem(json(#"{"id": "x", "pk": "a"}"#))
        let sent = gateway.log.count
        let attempts: [(String, () throws -> Void)] = [
            ("reading", { _ = try cosmos.readItem(id: "", partitionKey: "a") }),
            ("deleting", { try cosmos.deleteItem(id: "", partitionKey: "a") }),
            ("replacing", { _ = try cosmos.replaceItem(id: "", with: self.json(#"{"id": "", "pk": "a"}"#)) }),
            ("patching", { _ = try cosmos.patchItem(id: "", partitionKey: "a", operations: [.set("/n", 1)]) }),
        ]
        for (verb, attempt) in attempts {
            XCTAssertThrowsError(try attempt(), verb) { error in
                XCTAssertEqual((error as? ToolboxError)?.code, .invalidArgument, "\(error)")
                XCTAssertTrue("\(error)".contains("\(verb) item '' ") && "\(error)".contains("must not be empty"), "\(error)")
            }
        }
        XCTAssertEqual(gateway.log.count, sent, "nothing was sent")
    }

    func testAListingStuckOnOneContinuationFails() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        gateway.state.withLockedValue { $0.stuckDatabaseContinuation = "page-2" }
        XCTAssertThrowsError(try cosmos.listDatabases()) { error in
            XCTAssertEqual((error as? ToolboxError)?.code, .invalidResponse, "\(error)")
        }
        XCTAssertEqual(gateway.log.filter { $0.hasPrefix("GET /dbs") && !$0.contains("/dbs/") }.count, 2,
                       "the first page, then the page its continuation names; no third request")
    }

    func testDatabasesAndContainers() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        XCTAssertEqual(try cosmos.createDatabase("other").id, "other")
        XCTAssertThrowsError(try cosmos.createDatabase("other")) { XCTAssertEqual(($0 as! ToolboxError).code, .resourceExists) }
        XCTAssertEqual(try cosmos.createDatabase("other", ifNotExists: true).id, "other")
        XCTAssertEqual(try cosmos.listDatabases().map(\.id), ["db", "other"])
        let container = try cosmos.createContainer("c2", database: "other", partitionKey: CosmosPartitionKeyDefinition(path: "/tenant"),
                                                   ifNotExists: true)
        XCTAssertEqual(container.partitionKey?.paths, ["/tenant"])
        XCTAssertEqual(try cosmos.createContainer("c2", database: "other", partitionKey: .init(path: "/tenant"),
                                                  ifNotExists: true).id, "c2")
        XCTAssertEqual(try cosmos.listContainers(database: "other").map(\.id), ["c2"])
        XCTAssertEqual(try cosmos.readContainer("c2", database: "other").partitionKey?.paths, ["/tenant"])
        let other = cosmos.container("c2", database: "other")
        try other.createItem(json(#"{"id": "1", "tenant": "t"}"#))
        XCTAssertNoThrow(try other.readItem(id: "1", partitionKey: "t"))
        try cosmos.deleteContainer("c2", database: "other")
        XCTAssertThrowsError(try cosmos.readContainer("c2", database: "other")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .resourceNotFound)
        }
        try cosmos.deleteDatabase("other")
        XCTAssertThrowsError(try cosmos.readDatabase("other"))
    }

    func testThrottlingIsRetriedAfterTheServiceDelayWithinTheCap() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        try cosmos.createItem(json(#"{"id": "1", "pk": "a"}"#))
        gateway.inject([.throttle(ms: 5), .throttle(ms: 5), .throttle(ms: 5)])
        let read = try cosmos.readItem(id: "1", partitionKey: "a")
        XCTAssertEqual(read.requestCharge, 6, "charges of the three 429s and the success are summed")
        // A storm longer than the wait cap surfaces as .throttled with the service's answer.
        let capped = try makeClient(gateway) { $0.retry.maxThrottleWait = .milliseconds(20) }
        gateway.inject(Array(repeating: .throttle(ms: 10), count: 5))
        XCTAssertThrowsError(try capped.readItem(id: "1", partitionKey: "a")) { error in
            let error = error as! ToolboxError
            XCTAssertEqual(error.code, .throttled)
            XCTAssertEqual(error.serviceCondition?.subStatus, 3200)
            XCTAssertEqual(error.serviceCondition?.retryAfter, .milliseconds(10))
        }
        gateway.state.withLockedValue { $0.faults = [] }
        // Writes are retried on 429 too: the service did not apply them.
        gateway.inject([.throttle(ms: 1), .throttle(ms: 1)])
        XCTAssertEqual(try cosmos.createItem(json(#"{"id": "2", "pk": "a"}"#)).status, 201)
    }

    func testRetryWithGoneAndUnavailable() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        try cosmos.createItem(json(#"{"id": "1", "pk": "a"}"#))
        gateway.inject([.retryWith, .gone(1002), .unavailable])
        XCTAssertNoThrow(try cosmos.readItem(id: "1", partitionKey: "a"))
        // 503 on a write is not retried: the write may have happened.
        gateway.inject([.unavailable])
        XCTAssertThrowsError(try cosmos.createItem(json(#"{"id": "2", "pk": "a"}"#))) {
            XCTAssertEqual(($0 as! ToolboxError).code, .serviceUnavailable)
        }
        XCTAssertNoThrow(try cosmos.createItem(json(#"{"id": "2", "pk": "a"}"#)))
    }

    func testDroppedConnectionsRetryReadsButNotWrites() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        try cosmos.createItem(json(#"{"id": "1", "pk": "a"}"#))
        gateway.inject([.drop, .drop])
        XCTAssertNoThrow(try cosmos.readItem(id: "1", partitionKey: "a"))
        gateway.inject([.drop])
        XCTAssertThrowsError(try cosmos.createItem(json(#"{"id": "2", "pk": "a"}"#))) {
            XCTAssertEqual(($0 as! ToolboxError).code, .networkFailure)
        }
    }

    func testSessionTokensAreSentBackOnReads() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        let created = try cosmos.createItem(json(#"{"id": "1", "pk": "a"}"#))
        let token = try XCTUnwrap(created.sessionToken)
        _ = try cosmos.readItem(id: "1", partitionKey: "a")
        XCTAssertEqual(gateway.state.load().sessionTokensSeen.last, token)
    }

    func testCancellationAndClose() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        try cosmos.createItem(json(#"{"id": "1", "pk": "a"}"#))
        gateway.inject([.throttle(ms: 20_000)])
        let done = expectation(description: "cancelled")
        let handle = cosmos.readItem(id: "1", partitionKey: "a") { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("\(result)") }
            done.fulfill()
        }
        handle.cancel()
        wait(for: [done], timeout: 10)
        gateway.state.withLockedValue { $0.faults = [] }
        try cosmos.close()
        try cosmos.close()
        XCTAssertThrowsError(try cosmos.readItem(id: "1", partitionKey: "a")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .clientClosed)
        }
    }

    func testBlockingFormRefusesALibraryQueue() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        let cosmos = try makeClient(gateway)
        let done = expectation(description: "ran")
        LibraryQueues.defaultCallbackQueue.async {
            do {
                _ = try cosmos.readItem(id: "1", partitionKey: "a")
                XCTFail("the blocking form ran on a library queue")
            } catch {
                XCTAssertEqual((error as? ToolboxError)?.code, .blockingCallOnLibraryQueue)
            }
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
    }

    func testWrongKeyIsAnAuthorizationError() throws {
        let gateway = try FakeCosmosGateway()
        defer { gateway.close() }
        gateway.addContainer("db", "items")
        let wrongKey = Secret(String(repeating: "A", count: 86) + "==")
        let cosmos = try Cosmos(endpoint: gateway.endpoint, key: wrongKey, databaseName: "db", containerName: "items")
        defer { try? cosmos.close() }
        XCTAssertThrowsError(try cosmos.readItem(id: "1", partitionKey: "a")) { error in
            let error = error as! ToolboxError
            XCTAssertEqual(error.code, .authorizationFailed)
            XCTAssertFalse("\(error)".contains(wrongKey.exposedValue))
        }
        XCTAssertThrowsError(try Cosmos(endpoint: gateway.endpoint, key: Secret("not base64!"), databaseName: "db",
                                        containerName: "items"))
    }
}
