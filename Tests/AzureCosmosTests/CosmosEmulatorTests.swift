import AzureClientsToolboxTesting
@testable import AzureCosmos
@testable import AzureEmulator
import ToolboxCore
import XCTest

/// `Cosmos` and `ManagedCosmos` against the in-process emulator's Cosmos DB gateway (two ranges per container,
/// gateway-style cross-partition queries, splits, and the shared HTTP faults).
final class CosmosEmulatorTests: XCTestCase {
    func start(faults: EmulatorFaults = EmulatorFaults()) throws -> TestEmulator {
        try TestEmulator.startCosmos(containers: ["testdb/items": "/pk"], faults: faults)
    }

    /// The emulator and a `Cosmos` client on its testdb/items, both closed when the test ends.
    func startWithClient() throws -> Cosmos {
        let emulator = try start()
        let cosmos = try Cosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                containerName: "items")
        addTeardownBlock {
            try? cosmos.close()
            emulator.stop()
        }
        return cosmos
    }

    func seed(_ cosmos: some CosmosContainerOperations, count: Int = 20) throws -> [Int] {
        let numbers = (0..<count).map { ($0 * 7) % count }
        for (index, n) in numbers.enumerated() {
            try cosmos.createItem(Array(#"{"id": "i\#(index)", "pk": "tenant-\#(index % 5)", "n": \#(n)}"#.utf8))
        }
        return numbers
    }

    func values(_ items: [[UInt8]]) throws -> [Int] {
        try items.map { Int(try CosmosJSON(parsing: $0)["n"]?.numberValue ?? -1) }
    }

    func testItemsAndQueriesAgainstTheEmulator() throws {
        let cosmos = try startWithClient()
        let numbers = try seed(cosmos)
        let created = try cosmos.readItem(id: "i3", partitionKey: "tenant-3")
        XCTAssertEqual(try CosmosJSON(parsing: created.value)["n"]?.numberValue, Double(numbers[3]))
        XCTAssertGreaterThan(created.requestCharge, 0)
        XCTAssertNotNil(created.activityID)

        let patched = try cosmos.patchItem(id: "i3", partitionKey: "tenant-3", operations: [
            .add("/color", "red"), .increment("/n", by: 100), .move(from: "/color", to: "/colour"),
        ])
        XCTAssertEqual(try CosmosJSON(parsing: patched.value)["colour"], "red")
        XCTAssertThrowsError(try cosmos.patchItem(id: "i3", partitionKey: "tenant-3", operations: [.set("/x", 1)],
                                                  condition: "from c where c.n < 0")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .preconditionFailed)
        }
        try cosmos.patchItem(id: "i3", partitionKey: "tenant-3", operations: [.increment("/n", by: -100)])

        let all = try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(maxItemCount: 3))
        XCTAssertEqual(try values(all.items).sorted(), Array(0..<20))
        let ordered = try cosmos.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.n DESC"),
                                            options: CosmosQueryOptions(maxItemCount: 4))
        XCTAssertEqual(try values(ordered.items), Array((0..<20).reversed()))
        let top = try cosmos.queryItems(CosmosQuery("SELECT TOP 3 * FROM c ORDER BY c.n"))
        XCTAssertEqual(try values(top.items), [0, 1, 2])
        let window = try cosmos.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.n OFFSET 5 LIMIT 4"),
                                           options: CosmosQueryOptions(maxItemCount: 3))
        XCTAssertEqual(try values(window.items), [5, 6, 7, 8])
        func scalar(_ text: String) throws -> CosmosJSON? {
            try cosmos.queryItems(CosmosQuery(text)).items.first.map { try CosmosJSON(parsing: $0) }
        }
        XCTAssertEqual(try scalar("SELECT VALUE COUNT(1) FROM c")?.numberValue, 20)
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c")?.numberValue, 190)
        XCTAssertEqual(try scalar("SELECT VALUE AVG(c.n) FROM c")?.numberValue, 9.5)
        XCTAssertEqual(try scalar("SELECT VALUE MAX(c.n) FROM c")?.numberValue, 19)
        let filtered = try cosmos.queryItems(CosmosQuery("SELECT * FROM c WHERE c.n >= @min", parameters: ["@min": 15]),
                                             options: CosmosQueryOptions(partitionKey: "tenant-0"))
        XCTAssertEqual(try values(filtered.items).sorted(),
                       numbers.enumerated().filter { $0.offset % 5 == 0 && $0.element >= 15 }.map(\.element).sorted())
        XCTAssertEqual(try cosmos.queryItems(nil).items.count, 20, "read feed")

        try cosmos.deleteItem(id: "i3", partitionKey: "tenant-3")
        XCTAssertThrowsError(try cosmos.readItem(id: "i3", partitionKey: "tenant-3")) {
            XCTAssertEqual(($0 as! ToolboxError).code, .resourceNotFound)
        }
        XCTAssertEqual(try cosmos.createDatabase("testdb", ifNotExists: true).id, "testdb")
        XCTAssertTrue(try cosmos.listContainers(database: "testdb").map(\.id).contains("items"))
    }

    func testPartitionSplitInTheMiddleOfAQuery() throws {
        let emulator = try start()
        defer { emulator.stop() }
        let cosmos = try Cosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                containerName: "items")
        defer { try? cosmos.close() }
        _ = try seed(cosmos, count: 30)
        for query in ["SELECT * FROM c ORDER BY c.n", "SELECT * FROM c"] {
            var options = CosmosQueryOptions(maxItemCount: 4)
            var items: [[UInt8]] = []
            var pages = 0
            repeat {
                let page = try cosmos.queryPage(CosmosQuery(query), options: options)
                items += page.items
                pages += 1
                if pages == 2 { try emulator.splitCosmosPartitionKeyRange(database: "testdb", container: "items") }
                options.continuation = page.continuation
            } while options.continuation != nil && pages < 100
            let found = try values(items)
            XCTAssertEqual(query.contains("ORDER") ? found : found.sorted(), Array(0..<30), query)
        }
    }

    func testConcurrentReplacesWithTheSameETagOneWins() throws {
        let emulator = try start()
        defer { emulator.stop() }
        let cosmos = try ManagedCosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                       containerName: "items")
        defer { try? cosmos.close() }
        let etag = try XCTUnwrap(try cosmos.createItem(Array(#"{"id": "race", "pk": "a", "n": 0}"#.utf8)).etag)
        let outcomes = LockedValue<[ToolboxError.Code?]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { writer in
            do {
                try cosmos.replaceItem(id: "race", with: Array(#"{"id": "race", "pk": "a", "n": \#(writer + 1)}"#.utf8),
                                       options: CosmosItemOptions(ifMatch: etag))
                outcomes.withLockedValue { $0.append(nil) }
            } catch {
                outcomes.withLockedValue { $0.append((error as? ToolboxError)?.code) }
            }
        }
        let results = outcomes.load()
        XCTAssertEqual(results.filter { $0 == nil }.count, 1, "\(results)")
        XCTAssertEqual(results.filter { $0 == .preconditionFailed }.count, 7, "\(results)")
    }

    func testThrottleStormIsRiddenOut() throws {
        var faults = EmulatorFaults()
        faults.httpThrottleRate = 0.5
        let emulator = try start(faults: faults)
        defer { emulator.stop() }
        var options = CosmosClientOptions()
        options.pool.metricsLabel = nil
        options.retry.maxThrottleRetries = 30
        let cosmos = try ManagedCosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                       containerName: "items", options: options)
        defer { try? cosmos.close() }
        for index in 0..<10 {
            let created = try cosmos.upsertItem(Array(#"{"id": "t\#(index)", "pk": "a"}"#.utf8))
            XCTAssertGreaterThanOrEqual(created.status, 200)
        }
        XCTAssertEqual(try cosmos.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.id")).items.count, 10)
    }

    func testDroppedConnectionsAreRetriedForReads() throws {
        var faults = EmulatorFaults()
        faults.httpDropProbability = 0.25
        let emulator = try start(faults: faults)
        defer { emulator.stop() }
        var options = CosmosClientOptions()
        options.pool.metricsLabel = nil
        options.retry.maxConnectionRetries = 12
        let cosmos = try Cosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                containerName: "items", options: options)
        defer { try? cosmos.close() }
        var written = 0
        for index in 0..<20 {
            // A write whose connection drops may or may not have happened: it is not retried, it fails typed.
            do {
                try cosmos.upsertItem(Array(#"{"id": "d\#(index)", "pk": "a"}"#.utf8))
                written += 1
            } catch {
                XCTAssertEqual(error.code, .networkFailure, "\(error)")
            }
        }
        XCTAssertGreaterThan(written, 0)
        let all = try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(partitionKey: "a"))
        XCTAssertGreaterThanOrEqual(all.items.count, written)
        for _ in 0..<10 { XCTAssertNoThrow(try cosmos.queryItems(nil)) }
    }

    func testManagedReadinessAndWarmUp() throws {
        let emulator = try start()
        defer { emulator.stop() }
        var options = CosmosClientOptions()
        options.pool.maxSize = 3
        options.pool.metricsLabel = nil
        let cosmos = try ManagedCosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                       containerName: "items", options: options)
        defer { try? cosmos.close() }
        XCTAssertEqual(try cosmos.warmUp(connections: 3), 3)
        XCTAssertEqual(cosmos.poolSnapshot?.ready, 3)
        try cosmos.upsertItem(Array(#"{"id": "w", "pk": "a"}"#.utf8))
        XCTAssertEqual(cosmos.connectionsOpened, 3)
        let missing = try ManagedCosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                        containerName: "nope", options: options)
        defer { try? missing.close() }
        XCTAssertThrowsError(try missing.warmUp(connections: 1)) {
            XCTAssertEqual(($0 as! ToolboxError).serviceCondition?.httpStatus, 404, "\($0)")
        }
    }

    /// An item operation on a container (or database) that does not exist is 404 with substatus 1003, as the
    /// service answers, and says so; a missing item is 404/0; reading a missing container is a plain 404.
    func testAMissingContainerIsToldFromAMissingItem() throws {
        let cosmos = try startWithClient()
        XCTAssertThrowsError(try cosmos.readItem(id: "nope", partitionKey: "a")) { error in
            let error = error as? ToolboxError
            XCTAssertEqual(error?.code, .resourceNotFound)
            XCTAssertEqual(error?.serviceCondition?.subStatus, 0)
        }
        for (database, container) in [("testdb", "missing"), ("missingdb", "items")] {
            let other = cosmos.container(container, database: database)
            XCTAssertThrowsError(try other.readItem(id: "nope", partitionKey: "a")) { error in
                let error = error as? ToolboxError
                XCTAssertEqual(error?.code, .resourceNotFound)
                XCTAssertEqual(error?.serviceCondition?.subStatus, 1003)
                XCTAssertTrue("\(String(describing: error))".contains("the database or container does not exist"),
                              "\(String(describing: error))")
            }
        }
        XCTAssertThrowsError(try cosmos.readContainer("missing", database: "testdb")) { error in
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.httpStatus, 404)
            XCTAssertEqual((error as? ToolboxError)?.serviceCondition?.subStatus, 0)
        }
    }

    /// A range whose SUM or AVG is undefined (it summed a string) makes the cross-partition result undefined, as
    /// the same query gives within that one range; before, the other range's partial was the answer (SUM 0).
    func testAnUndefinedPartialAggregateMakesTheResultUndefined() throws {
        let cosmos = try startWithClient()
        _ = try seed(cosmos)
        try cosmos.createItem(Array(#"{"id": "text", "pk": "tenant-0", "n": "10"}"#.utf8))
        func scalar(_ text: String, partitionKey: CosmosPartitionKey? = nil) throws -> [[UInt8]] {
            try cosmos.queryItems(CosmosQuery(text), options: CosmosQueryOptions(partitionKey: partitionKey)).items
        }
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c WHERE c.id = 'text'", partitionKey: "tenant-0"), [])
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c WHERE c.id = 'text'"), [], "other ranges sum to 0")
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c"), [])
        XCTAssertEqual(try scalar("SELECT VALUE AVG(c.n) FROM c"), [])
        XCTAssertEqual(try scalar("SELECT VALUE COUNT(c.n) FROM c"), [Array("21".utf8)])
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c WHERE IS_NUMBER(c.n)"), [Array("190".utf8)])
    }

    /// ORDER BY across ranges compares strings byte for byte, as each range does: canonically equivalent strings
    /// ("\u{E9}" and "e\u{301}") are different values, and treating them as equal made the merge's order
    /// intransitive — results came out of order and, across pages, one was lost.
    func testOrderByAcrossRangesComparesStringsByteForByte() throws {
        let cosmos = try startWithClient()
        // Which partition keys the emulator files in which of its two ranges.
        let keys = (0..<40).map { "tenant-\($0)" }
        let boundary = "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        let low = try XCTUnwrap(keys.first { CosmosEffectivePartitionKey.hash(.string($0)) < boundary })
        let high = try XCTUnwrap(keys.first { CosmosEffectivePartitionKey.hash(.string($0)) >= boundary })
        // "\u{E9}" in one range, "e\u{301}" with "f" (which sorts between them) in the other; both ways round.
        let composed = ["\u{E9}", "\u{FF21}"]
        let decomposed = ["e", "e\u{301}", "f", "\u{1F600}"]
        for (group, (first, second)) in [("A", (low, high)), ("B", (high, low))] {
            for (index, text) in composed.enumerated() {
                try cosmos.createItem(Array(#"{"id": "\#(group)c\#(index)", "pk": "\#(first)", "g": "\#(group)", "s": "\#(text)"}"#.utf8))
            }
            for (index, text) in decomposed.enumerated() {
                try cosmos.createItem(Array(#"{"id": "\#(group)d\#(index)", "pk": "\#(second)", "g": "\#(group)", "s": "\#(text)"}"#.utf8))
            }
            // No `s`: `SELECT VALUE` of it yields nothing (across ranges it came back as `null`).
            try cosmos.createItem(Array(#"{"id": "\#(group)none", "pk": "\#(second)", "g": "\#(group)"}"#.utf8))
        }
        let ascending = (composed + decomposed).map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        for group in ["A", "B"] {
            for pageSize in [nil, 1, 2, 3] {
                for descending in [false, true] {
                    let query = "SELECT VALUE c.s FROM c WHERE c.g = '\(group)' ORDER BY c.s" + (descending ? " DESC" : "")
                    let result = try cosmos.queryItems(CosmosQuery(query),
                                                       options: CosmosQueryOptions(maxItemCount: pageSize))
                    let got = try result.items.map { Array(try XCTUnwrap(CosmosJSON(parsing: $0).stringValue).utf8) }
                    XCTAssertEqual(got, descending ? ascending.reversed() : ascending,
                                   "\(query), pages of \(pageSize ?? -1)")
                }
            }
        }
    }
}
