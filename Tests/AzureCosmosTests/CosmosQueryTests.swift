@testable import AzureCosmos
import Dispatch
import ToolboxCore
import XCTest

/// Single- and cross-partition queries against the fake gateway's two ranges: paging, the plan-driven merges,
/// continuation tokens and a partition split in the middle of a query.
final class CosmosQueryTests: XCTestCase {
    var gateway: FakeCosmosGateway!
    var cosmos: Cosmos!
    /// 20 items; pk letters spread them over both ranges; n is 0...19 in an order unrelated to the ranges.
    var numbers: [Int] = []

    override func setUpWithError() throws {
        gateway = try FakeCosmosGateway()
        gateway.addContainer("db", "items")
        cosmos = try Cosmos(connectionString: gateway.connectionString, databaseName: "db", containerName: "items")
        numbers = (0..<20).map { ($0 * 7) % 20 }
        for (index, n) in numbers.enumerated() {
            let pk = ["a", "b", "x", "y"][index % 4]
            try cosmos.createItem(Array(#"{"id": "i\#(index)", "pk": "\#(pk)", "n": \#(n)}"#.utf8))
        }
    }

    override func tearDown() {
        try? cosmos.close()
        gateway.close()
    }

    func values(_ items: [[UInt8]], _ field: String = "n") throws -> [Int] {
        try items.map { Int(try CosmosJSON(parsing: $0)[field]?.numberValue ?? -1) }
    }

    func allPages(_ query: CosmosQuery, pageSize: Int?, afterFirst: () -> Void = {}) throws -> (items: [[UInt8]], pages: Int) {
        var options = CosmosQueryOptions(maxItemCount: pageSize)
        var items: [[UInt8]] = []
        var pages = 0
        repeat {
            let page = try cosmos.queryPage(query, options: options)
            items += page.items
            pages += 1
            options.continuation = page.continuation
            if pages == 1 { afterFirst() }
        } while options.continuation != nil && pages < 100
        return (items, pages)
    }

    func testSinglePartitionPaging() throws {
        let query = CosmosQuery("SELECT * FROM c WHERE c.n > @min", parameters: ["@min": 2])
        let first = try cosmos.queryPage(query, options: CosmosQueryOptions(partitionKey: "a", maxItemCount: 2))
        XCTAssertEqual(first.items.count, 2)
        let next = try XCTUnwrap(first.continuation)
        let rest = try cosmos.queryItems(query, options: CosmosQueryOptions(partitionKey: "a", maxItemCount: 2, continuation: next))
        let expected = numbers.enumerated().filter { $0.offset % 4 == 0 && $0.element > 2 }.map(\.element)
        XCTAssertEqual(try values(first.items + rest.items).sorted(), expected.sorted())
        XCTAssertGreaterThan(first.requestCharge, 0)
    }

    func testCrossPartitionFanOutReadsEveryRangeOnce() throws {
        let result = try allPages(CosmosQuery("SELECT * FROM c"), pageSize: 3)
        XCTAssertEqual(try values(result.items).sorted(), Array(0..<20))
        XCTAssertTrue(gateway.log.contains { $0.hasPrefix("POST") }, "plan requested")
        let readFeed = try cosmos.queryItems(nil)
        XCTAssertEqual(readFeed.items.count, 20)
        XCTAssertEqual(cosmos.core.metadata.rangeReads.load(), 2, "pkranges read once (+ one 304 round), not per page")
    }

    /// A partition key range feed whose ranges overlap (here a parent still listed beside its children) cannot
    /// route a query: it fails with `.invalidResponse` — fanning out along it split the same range again and again,
    /// forever, with no request sent and so no deadline checked.
    func testOverlappingPartitionKeyRangesFailTheQuery() throws {
        gateway.state.withLockedValue { state in
            state.ranges.append(FakeCosmosGateway.Range(id: "2", min: "", max: "FF", parents: []))
            state.rangesEtag += 1
        }
        let outcome = LockedValue<Result<Int, ToolboxError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let cosmos = self.cosmos!
        DispatchQueue.global().async {
            do {
                let page = try cosmos.queryPage(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(maxItemCount: 5))
                outcome.withLockedValue { $0 = .success(page.items.count) }
            } catch {
                outcome.withLockedValue { $0 = .failure(error as? ToolboxError ?? ToolboxError(.invalidArgument, "\(error)")) }
            }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the query never ended")
        guard case .failure(let error)? = outcome.load() else { return XCTFail("the query succeeded: \(String(describing: outcome.load()))") }
        XCTAssertEqual(error.code, .invalidResponse, "\(error)")
        XCTAssertTrue("\(error)".contains("overlap"), "\(error)")
    }

    func testOrderByMergesRangesInBothDirections() throws {
        let ascending = try allPages(CosmosQuery("SELECT * FROM c ORDER BY c.n"), pageSize: 4)
        XCTAssertEqual(try values(ascending.items), Array(0..<20))
        XCTAssertEqual(ascending.pages, 5)
        let descending = try cosmos.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.n DESC"),
                                               options: CosmosQueryOptions(maxItemCount: 7))
        XCTAssertEqual(try values(descending.items), Array((0..<20).reversed()))
    }

    func testTopOffsetLimit() throws {
        let top = try cosmos.queryItems(CosmosQuery("SELECT TOP 5 * FROM c ORDER BY c.n DESC"),
                                        options: CosmosQueryOptions(maxItemCount: 2))
        XCTAssertEqual(try values(top.items), [19, 18, 17, 16, 15])
        let window = try cosmos.queryItems(CosmosQuery("SELECT * FROM c ORDER BY c.n OFFSET 3 LIMIT 4"),
                                           options: CosmosQueryOptions(maxItemCount: 3))
        XCTAssertEqual(try values(window.items), [3, 4, 5, 6])
        let unordered = try cosmos.queryItems(CosmosQuery("SELECT * FROM c OFFSET 2 LIMIT 5"))
        XCTAssertEqual(unordered.items.count, 5)
    }

    func testAggregatesAcrossRanges() throws {
        func scalar(_ text: String) throws -> CosmosJSON? {
            let result = try cosmos.queryItems(CosmosQuery(text))
            return try result.items.first.map { try CosmosJSON(parsing: $0) }
        }
        XCTAssertEqual(try scalar("SELECT VALUE COUNT(1) FROM c"), .integer(20))
        XCTAssertEqual(try scalar("SELECT VALUE SUM(c.n) FROM c")?.numberValue, 190)
        XCTAssertEqual(try scalar("SELECT VALUE AVG(c.n) FROM c")?.numberValue, 9.5)
        XCTAssertEqual(try scalar("SELECT VALUE MIN(c.n) FROM c")?.numberValue, 0)
        XCTAssertEqual(try scalar("SELECT VALUE MAX(c.n) FROM c")?.numberValue, 19)
        XCTAssertEqual(try scalar("SELECT VALUE COUNT(1) FROM c WHERE c.n > 15"), .integer(4))
    }

    func testPartitionSplitInTheMiddleOfAQuery() throws {
        let ordered = try allPages(CosmosQuery("SELECT * FROM c ORDER BY c.n"), pageSize: 3) {
            self.gateway.split("1", at: "C0")
        }
        XCTAssertEqual(try values(ordered.items), Array(0..<20))
        XCTAssertTrue(gateway.log.filter { $0.contains("pkranges") }.count >= 3, "the routing map was refreshed")
        gateway.split("0", at: "40")
        let plain = try allPages(CosmosQuery("SELECT * FROM c"), pageSize: 2) { self.gateway.split("2", at: "A0") }
        XCTAssertEqual(try values(plain.items).sorted(), Array(0..<20))
    }

    func testForeignContinuationIsRejected() throws {
        XCTAssertThrowsError(try cosmos.queryPage(CosmosQuery("SELECT * FROM c"),
                                                  options: CosmosQueryOptions(continuation: "ct1.garbage!"))) {
            XCTAssertEqual(($0 as! ToolboxError).code, .invalidArgument)
        }
    }

    func testCancelledQueryDeliversCancelled() throws {
        gateway.inject([.throttle(ms: 20_000)])
        let done = expectation(description: "cancelled")
        let handle = cosmos.queryItems(CosmosQuery("SELECT * FROM c")) { result in
            if case .failure(let error) = result { XCTAssertEqual(error.code, .cancelled) } else { XCTFail("\(result)") }
            done.fulfill()
        }
        handle.cancel()
        wait(for: [done], timeout: 10)
    }
}
