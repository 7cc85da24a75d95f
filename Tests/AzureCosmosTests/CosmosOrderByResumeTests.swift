import AzureClientsToolboxTesting
@testable import AzureCosmos
import AzureEmulator
import ToolboxCore
import XCTest

/// Cross-partition ORDER BY resumed from a continuation the way the SDKs do it: the plan's
/// `{documentdb-formattableorderbyquery-filter}` becomes `true` on the first page and the resume filter after.
final class CosmosOrderByResumeTests: XCTestCase {
    func plan(descending: Bool) -> CosmosQueryPlan {
        var plan = CosmosQueryPlan(
            rewrittenQuery: "SELECT c._rid, [{\"item\": c.n}] AS orderByItems, c AS payload FROM c "
                + "WHERE ({documentdb-formattableorderbyquery-filter}) ORDER BY c.n",
            orderByDescending: [descending], top: nil, offset: nil, limit: nil, aggregates: [], hasSelectValue: false,
            queryRanges: [["", "FF"]])
        plan.orderByExpressions = ["c.n"]
        return plan
    }

    func testPlaceholderBecomesTrueThenTheResumeFilter() throws {
        let ascending = plan(descending: false)
        XCTAssertEqual(ascending.rangeQuery(original: "x", filter: nil),
                       "SELECT c._rid, [{\"item\": c.n}] AS orderByItems, c AS payload FROM c WHERE (true) ORDER BY c.n")
        XCTAssertEqual(ascending.resumeFilter(after: .integer(5), inclusive: false),
                       "(c.n > 5 OR IS_STRING(c.n) OR IS_ARRAY(c.n) OR IS_OBJECT(c.n))")
        XCTAssertEqual(ascending.resumeFilter(after: .string("a\"b"), inclusive: true),
                       #"(c.n >= "a\"b" OR IS_ARRAY(c.n) OR IS_OBJECT(c.n))"#)
        XCTAssertEqual(ascending.resumeFilter(after: .null, inclusive: false),
                       "(IS_BOOL(c.n) OR IS_NUMBER(c.n) OR IS_STRING(c.n) OR IS_ARRAY(c.n) OR IS_OBJECT(c.n))")
        let filtered = try XCTUnwrap(ascending.resumeFilter(after: .integer(5), inclusive: true))
        XCTAssertTrue(ascending.rangeQuery(original: "x", filter: filtered).contains("WHERE ((c.n >= 5 OR IS_STRING"))
        let descending = plan(descending: true)
        XCTAssertEqual(descending.resumeFilter(after: .bool(true), inclusive: true),
                       "(c.n <= true OR NOT IS_DEFINED(c.n) OR IS_NULL(c.n))")
        XCTAssertEqual(descending.resumeFilter(after: .null, inclusive: false), "(NOT IS_DEFINED(c.n))")
        // Undefined, arrays and objects, or several ORDER BY expressions: no filter (resume by position).
        XCTAssertNil(ascending.resumeFilter(after: nil, inclusive: true))
        XCTAssertNil(ascending.resumeFilter(after: .array([]), inclusive: true))
        var multiple = ascending
        multiple.orderByExpressions = ["c.n", "c.id"]
        multiple.orderByDescending = [false, true]
        XCTAssertNil(multiple.resumeFilter(after: .integer(1), inclusive: true))
    }

    func pages(_ emulator: TestEmulator, _ cosmos: Cosmos, _ query: String, pageSize: Int, splitAfter: Int?) throws
        -> [CosmosJSON]
    {
        var options = CosmosQueryOptions(maxItemCount: pageSize)
        var found: [CosmosJSON] = []
        var pages = 0
        repeat {
            let page = try cosmos.queryPage(CosmosQuery(query), options: options)
            found += try page.items.map { try CosmosJSON(parsing: $0) }
            pages += 1
            if pages == splitAfter { try emulator.splitCosmosPartitionKeyRange(database: "testdb", container: "items") }
            options.continuation = page.continuation
        } while options.continuation != nil && pages < 200
        return found
    }

    func testResumedPagesLoseAndRepeatNothingAcrossSplitsTiesAndTypes() throws {
        for pageSize in [1, 3, 5] {
            for splitAfter in [nil, 1, 2, 4] {
                let emulator = try TestEmulator.startCosmos(containers: ["testdb/items": "/pk"])
                defer { emulator.stop() }
                let cosmos = try Cosmos(connectionString: emulator.cosmosConnectionString, databaseName: "testdb",
                                        containerName: "items")
                defer { try? cosmos.close() }
                // Ties (n = index / 3) spread over both ranges, plus strings, null, bool and a missing n.
                for index in 0..<24 {
                    try cosmos.createItem(Array(#"{"id": "i\#(index)", "pk": "t\#(index % 7)", "n": \#(index / 3)}"#.utf8))
                }
                for (index, extra) in [#""a""#, #""b""#, "null", "true", #""a""#].enumerated() {
                    try cosmos.createItem(Array(#"{"id": "x\#(index)", "pk": "t\#(index)", "n": \#(extra)}"#.utf8))
                }
                try cosmos.createItem(Array(#"{"id": "none", "pk": "t3"}"#.utf8))
                let context = "page size \(pageSize), split after \(splitAfter.map(String.init) ?? "none")"
                let ascending = try pages(emulator, cosmos, "SELECT * FROM c ORDER BY c.n", pageSize: pageSize,
                                          splitAfter: splitAfter)
                let ids = ascending.compactMap { $0["id"]?.stringValue }
                XCTAssertEqual(ids.count, 30, context)
                XCTAssertEqual(Set(ids).count, 30, "no result twice: \(context)")
                let keys = ascending.map { $0["n"] }
                XCTAssertEqual(keys, keys.sorted { CosmosJSON.cosmosCompare($0, $1) < 0 }, context)
                let descending = try pages(emulator, cosmos, "SELECT * FROM c ORDER BY c.n DESC", pageSize: pageSize,
                                           splitAfter: splitAfter.map { $0 + 1 })
                XCTAssertEqual(Set(descending.compactMap { $0["id"]?.stringValue }), Set(ids), context)
                XCTAssertEqual(descending.count, 30, context)
                let downKeys = descending.map { $0["n"] }
                XCTAssertEqual(downKeys, downKeys.sorted { CosmosJSON.cosmosCompare($0, $1) > 0 }, context)
            }
        }
    }
}
