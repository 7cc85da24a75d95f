@testable import AzureCosmos
import Dispatch
import ToolboxCLITestSupport
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer
import XCTest

/// A service that answers wrongly — continuations that never end, results that ignore the query, partition key
/// ranges that do not cover the key space, absurd headers, bodies that are not what they claim: the client ends
/// every query, within its time-out, with a typed error that names what was wrong.
final class CosmosHostileServiceTests: XCTestCase {
    var gateway: FakeCosmosGateway!
    var cosmos: Cosmos!

    override func setUpWithError() throws {
        gateway = try FakeCosmosGateway()
        gateway.addContainer("db", "items")
        cosmos = try Cosmos(connectionString: gateway.connectionString, databaseName: "db", containerName: "items")
    }

    override func tearDown() {
        try? cosmos.close()
        gateway.close()
    }

    /// Answers the requests `script` returns a response for; the fake answers the others.
    func hostile(_ script: @escaping (_ method: String, _ path: String, _ headers: HTTPHeaders, _ body: [UInt8])
        -> HTTPServerResponse?)
    {
        gateway.state.withLockedValue { $0.hostile = script }
    }

    /// Runs `body` on another thread; nil when it has not ended after `seconds` (the test then fails, not hangs).
    func ending<T: Sendable>(within seconds: Double, _ body: @escaping @Sendable () throws -> T)
        -> Result<T, ToolboxError>?
    {
        let outcome = LockedValue<Result<T, ToolboxError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                let value = try body()
                outcome.withLockedValue { $0 = .success(value) }
            } catch {
                outcome.withLockedValue { $0 = .failure(error as? ToolboxError ?? ToolboxError(.invalidArgument, "\(error)")) }
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return outcome.load()
    }

    func failure<T>(_ result: Result<T, ToolboxError>?, file: StaticString = #filePath, line: UInt = #line) -> ToolboxError? {
        switch result {
        case nil:
            XCTFail("it never ended", file: file, line: line)
        case .success(let value)?:
            XCTFail("it succeeded: \(value)", file: file, line: line)
        case .failure(let error)?:
            return error
        }
        return nil
    }

    static func page(_ documents: [CosmosJSON], continuation: String?) -> HTTPServerResponse {
        let body: CosmosJSON = ["_rid": "coll", "Documents": .array(documents), "_count": .integer(Int64(documents.count))]
        return FakeCosmosGateway.answer(body, headers: continuation.map { ["x-ms-continuation": $0] } ?? [:])
    }

    func cosmosCLI(_ arguments: [String], timeLimit: Double = 60) throws -> ToolboxCLI.Output {
        try ToolboxCLI.run(["cosmos"] + arguments + ["--endpoint", gateway.endpoint, "--key", FakeCosmosGateway.key,
                                                    "--database", "db", "--container", "items", "--json"],
                           timeLimit: timeLimit)
    }

    // MARK: Continuations

    /// Answers every query page empty, with a continuation never seen before; counts the pages.
    func answerEmptyPagesForever() -> LockedValue<Int> {
        let counter = LockedValue(0)
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-isquery") != nil else { return nil }
            let next = counter.withLockedValue { count -> Int in
                count += 1
                return count
            }
            return Self.page([], continuation: "page-\(next)")
        }
        return counter
    }

    /// A continuation equal to the one just sent would read the same page forever (the CLI made ~2,500 requests
    /// a second, printing the same results): single-partition, gateway-run and per-range pages refuse it.
    func testAContinuationEqualToTheOneSentFailsTheQuery() throws {
        let cosmos = self.cosmos!
        // Single partition: the first page names "same" as the next, and so does the next.
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-isquery") != nil else { return nil }
            return Self.page([["id": "x"]], continuation: "same")
        }
        let single = failure(ending(within: 30) {
            try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(partitionKey: "a")).items.count
        })
        XCTAssertEqual(single?.code, .invalidResponse, "\(String(describing: single))")
        XCTAssertTrue(single?.message.contains("same continuation token") == true, "\(String(describing: single))")
        XCTAssertEqual(gateway.state.load().hostileAnswers, 2)

        // Cross-partition, fanned out: a range's empty pages, each naming the same next page (the fan-out reads
        // on by itself while pages are empty, so this looped inside one page until its time-out).
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-partitionkeyrangeid") != nil else { return nil }
            return Self.page([], continuation: "stuck")
        }
        let ranged = failure(ending(within: 30) {
            try cosmos.queryPage(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(timeout: .seconds(20))).items.count
        })
        XCTAssertEqual(ranged?.code, .invalidResponse, "\(String(describing: ranged))")
        XCTAssertTrue(ranged?.message.contains("same continuation token") == true, "\(String(describing: ranged))")
    }

    /// Continuations that go round (A, B, A …) are refused at the page naming one already followed, by
    /// `queryItems` and by `toolbox cosmos query`, before that page's results are used (they looped until the
    /// time-out, or forever without one).
    func testAContinuationCycleFailsTheQuery() throws {
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-isquery") != nil else { return nil }
            switch headers.first(name: "x-ms-continuation") {
            case nil: return Self.page([["id": "first"]], continuation: "A")
            case "A": return Self.page([["id": "second"]], continuation: "B")
            default: return Self.page([["id": "again"]], continuation: "A")
            }
        }
        let cosmos = self.cosmos!
        let error = failure(ending(within: 30) {
            try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(partitionKey: "a")).pages
        })
        XCTAssertEqual(error?.code, .invalidResponse, "\(String(describing: error))")
        XCTAssertTrue(error?.message.contains("already followed") == true, "\(String(describing: error))")
        let output = try cosmosCLI(["query", "--query", "SELECT * FROM c", "--partition-key", "a"])
        XCTAssertEqual(output.status, 1, output.stderr)
        XCTAssertEqual(output.jsonLines.compactMap { $0["id"] as? String }, ["first", "second"], output.stdout)
    }

    /// `queryItems`' time-out bounds the whole query: a service answering empty pages with a fresh continuation
    /// each time ended only with the process (each page had the whole time-out to itself).
    func testQueryItemsTimeoutBoundsEveryPageTogether() throws {
        let counter = answerEmptyPagesForever()
        let cosmos = self.cosmos!
        let error = failure(ending(within: 30) {
            try cosmos.queryItems(CosmosQuery("SELECT * FROM c"),
                                  options: CosmosQueryOptions(partitionKey: "a", timeout: .milliseconds(500))).pages
        })
        XCTAssertEqual(error?.code, .timedOut, "\(String(describing: error))")
        XCTAssertGreaterThan(counter.load(), 1)
    }

    /// `toolbox cosmos query --timeout` bounds the whole command, not each page; a repeated continuation is an
    /// error (exit 1), not output repeated forever.
    func testCLIQueryTimeoutBoundsTheWholeQuery() throws {
        _ = answerEmptyPagesForever()
        let fresh = try cosmosCLI(["query", "--partition-key", "a", "--query", "SELECT * FROM c", "--timeout", "1"],
                                  timeLimit: 30)
        XCTAssertEqual(fresh.status, 1, fresh.stderr)
        XCTAssertTrue(fresh.stdout.contains("timedOut"), fresh.stdout)

        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-isquery") != nil else { return nil }
            return Self.page([["id": "x"]], continuation: "same")
        }
        let same = try cosmosCLI(["query", "--partition-key", "a", "--query", "SELECT * FROM c", "--timeout", "10"],
                                 timeLimit: 30)
        XCTAssertEqual(same.status, 1, same.stderr)
        XCTAssertTrue(same.stderr.contains("same continuation token"), same.stderr)
        XCTAssertEqual(same.stdout.split(separator: "\n").count, 2, "the first page's result, then the error: \(same.stdout)")
    }

    // MARK: ORDER BY

    /// A service that ignores the ORDER BY resume filter answers every resumed range from its start: the results
    /// before the resume point came back on every page, forever (1 MB documents took the CLI to 1.6 GB). The
    /// first one is refused.
    func testOrderByResultsBeforeTheResumePointFailTheQuery() throws {
        hostile { _, _, headers, _ in
            if headers.first(name: "x-ms-cosmos-is-query-plan-request") != nil {
                let rewritten = "SELECT c._rid, [{\"item\": c.n}] AS orderByItems, c AS payload FROM c "
                    + "WHERE {documentdb-formattableorderbyquery-filter} ORDER BY c.n"
                let info: CosmosJSON = [
                    "distinctType": "None", "orderBy": ["Ascending"], "orderByExpressions": ["c.n"],
                    "rewrittenQuery": .string(rewritten),
                ]
                return FakeCosmosGateway.answer(["queryInfo": info, "queryRanges": [["min": "", "max": "FF"]]])
            }
            guard let range = headers.first(name: "x-ms-documentdb-partitionkeyrangeid") else { return nil }
            let values: [Int64] = range == "0" ? [1, 3, 5] : [2, 4, 6]
            return Self.page(values.map { n -> CosmosJSON in
                ["_rid": .string("r\(n)"), "orderByItems": [["item": .integer(n)]], "payload": ["id": .string("\(n)"), "n": .integer(n)]]
            }, continuation: nil)
        }
        var options = CosmosQueryOptions(maxItemCount: 2)
        var seen: [Int] = []
        var refused: ToolboxError?
        for _ in 0..<20 {
            do {
                let page = try cosmos.queryPage(CosmosQuery("SELECT * FROM c ORDER BY c.n"), options: options)
                seen += try page.items.map { Int(try CosmosJSON(parsing: $0)["n"]?.numberValue ?? -1) }
                guard let next = page.continuation else { break }
                options.continuation = next
            } catch let error as ToolboxError {
                refused = error
                break
            }
        }
        XCTAssertEqual(seen, [1, 2])
        XCTAssertEqual(refused?.code, .invalidResponse, "\(String(describing: refused))")
        XCTAssertTrue(refused?.message.contains("ignored the resume filter") == true, "\(String(describing: refused))")
    }

    // MARK: Partition key ranges

    /// Partition key ranges that do not cover the key space route nothing to the keys left out: no ranges gave 0
    /// results, a gap was skipped silently, ranges naming themselves or each other as parents were all dropped.
    func testPartitionKeyRangesThatDoNotCoverTheKeySpaceFailTheQuery() throws {
        typealias Range = FakeCosmosGateway.Range
        // The gateway asks for a plan whatever the ranges, so the client reads them.
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-query-enablecrosspartition") != nil,
                headers.first(name: "x-ms-documentdb-partitionkeyrangeid") == nil,
                headers.first(name: "x-ms-cosmos-is-query-plan-request") == nil
            else { return nil }
            return FakeCosmosGateway.answer(["code": "BadRequest", "message": "needs a plan"], status: 400,
                                            headers: ["x-ms-substatus": "1004"])
        }
        let cases: [(ranges: [Range], reason: String)] = [
            ([], "has no partition key ranges"),
            ([Range(id: "0", min: "", max: "10", parents: []), Range(id: "1", min: "20", max: "FF", parents: [])],
             "leave keys ['10', '20') uncovered"),
            ([Range(id: "0", min: "", max: "80", parents: [])], "leave keys ['80', 'FF') uncovered"),
            ([Range(id: "0", min: "10", max: "FF", parents: [])], "leave keys ['', '10') uncovered"),
            ([Range(id: "0", min: "", max: "FF", parents: ["0"])], "has no partition key ranges"),
            ([Range(id: "0", min: "", max: "80", parents: ["1"]), Range(id: "1", min: "80", max: "FF", parents: ["0"])],
             "has no partition key ranges"),
        ]
        for (ranges, reason) in cases {
            gateway.state.withLockedValue {
                $0.ranges = ranges
                $0.rangesEtag += 1
            }
            let client = try Cosmos(connectionString: gateway.connectionString, databaseName: "db", containerName: "items")
            defer { try? client.close() }
            let error = failure(ending(within: 30) {
                try client.queryItems(CosmosQuery("SELECT * FROM c")).items.count
            })
            XCTAssertEqual(error?.code, .invalidResponse, "\(ranges): \(String(describing: error))")
            XCTAssertTrue(error?.message.contains(reason) == true, "\(ranges): \(String(describing: error))")
        }
    }

    // MARK: Headers

    /// Pages charged 1e308, inf and nan RU, then 2.5: the absurd charges are ignored (they made every total
    /// infinite, and the CLI's summary line unprintable — with exit status 0).
    func testAbsurdRequestChargesAreIgnored() throws {
        hostile { _, _, headers, _ in
            guard headers.first(name: "x-ms-documentdb-isquery") != nil else { return nil }
            let sent = headers.first(name: "x-ms-continuation")
            let charges = ["1e308", "1e308", "inf", "nan", "-5", "2.5"]
            let index = sent.flatMap { Int($0) } ?? 0
            var page = Self.page([["id": .string("\(index)")]], continuation: index + 1 < charges.count ? "\(index + 1)" : nil)
            page.head.headers.replaceOrAdd(name: "x-ms-request-charge", value: charges[index])
            return page
        }
        let result = try cosmos.queryItems(CosmosQuery("SELECT * FROM c"), options: CosmosQueryOptions(partitionKey: "a"))
        XCTAssertEqual(result.items.count, 6)
        XCTAssertEqual(result.requestCharge, 2.5)

        let cli = try cosmosCLI(["query", "--partition-key", "a", "--query", "SELECT * FROM c"], timeLimit: 60)
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let summary = try XCTUnwrap(cli.stdout.split(separator: "\n").last)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        XCTAssertEqual(object["count"] as? Int, 6)
        XCTAssertEqual(object["request_charge"] as? Double, 2.5)
    }

    // MARK: Items

    /// `cosmos read` printed a `null` or `[]` answer as the item, and an item with text after it.
    func testCLIRefusesAnItemThatIsNotOneJSONObject() throws {
        for body in ["null", "[]", "7", #"{"id":"1"} trailing"#] {
            hostile { method, path, _, _ in
                guard method == "GET", path.contains("/docs/") else { return nil }
                return FakeCosmosGateway.answer(bytes: Array(body.utf8))
            }
            let read = try cosmosCLI(["read", "--id", "1", "--partition-key", "a"], timeLimit: 60)
            XCTAssertEqual(read.status, 1, "\(body): \(read.stdout)")
            XCTAssertTrue(read.stdout.hasPrefix(#"{"error":"#), "\(body): \(read.stdout)")
            XCTAssertEqual(read.stdout.split(separator: "\n").count, 1, "\(body): \(read.stdout)")
        }
    }
}
