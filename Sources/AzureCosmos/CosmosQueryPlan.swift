import Foundation
import ToolboxCore

/// What the gateway's query plan (`x-ms-cosmos-is-query-plan-request`) says about merging per-range results,
/// reduced to what this client carries in its continuation tokens.
struct CosmosQueryPlan: Codable, Sendable, Equatable {
    /// The query each range runs (the plan's `rewrittenQuery`), nil to run the caller's query unchanged.
    var rewrittenQuery: String?
    /// One entry per ORDER BY expression: true when descending.
    var orderByDescending: [Bool]
    /// The ORDER BY expressions (`c.n`), for the resume filter; nil in plans without them.
    var orderByExpressions: [String]?
    var top: Int?
    var offset: Int?
    var limit: Int?
    /// `Count`, `Sum`, `Min`, `Max`, `Average`.
    var aggregates: [String]
    var hasSelectValue: Bool
    /// The effective-partition-key ranges the query can touch (`queryRanges`), as `[min, max)`.
    var queryRanges: [[String]]

    /// Everything: a read feed or a query the gateway did not plan.
    static let unplanned = CosmosQueryPlan(rewrittenQuery: nil, orderByDescending: [], top: nil, offset: nil, limit: nil,
                                           aggregates: [], hasSelectValue: false, queryRanges: [["", "FF"]])

    var isOrderBy: Bool { !orderByDescending.isEmpty }
    var isAggregate: Bool { !aggregates.isEmpty }

    /// Parses the gateway's answer; a feature this client cannot merge is a `.unsupportedQuery` error.
    init(parsing body: [UInt8]) throws(ToolboxError) {
        let json = try CosmosJSON(parsing: body, what: "the query plan")
        guard let info = json["queryInfo"] else {
            throw ToolboxError(.invalidResponse, "the query plan has no \"queryInfo\"")
        }
        func int(_ key: String) throws(ToolboxError) -> Int? {
            guard let value = info[key], value != .null else { return nil }
            guard let number = value.numberValue, let exact = Int(exactly: number), exact >= 0 else {
                throw ToolboxError(.invalidResponse, "the query plan's \"\(key)\" is not a non-negative integer")
            }
            return exact
        }
        if let distinct = info["distinctType"]?.stringValue, distinct != "None" {
            throw ToolboxError(.unsupportedQuery, "DISTINCT across partitions is not merged by this client; "
                + "query one partition (pass a partition key) or drop DISTINCT")
        }
        if let groupBy = info["groupByExpressions"]?.arrayValue, !groupBy.isEmpty {
            throw ToolboxError(.unsupportedQuery, "GROUP BY across partitions is not merged by this client; "
                + "query one partition (pass a partition key)")
        }
        if info["hasNonStreamingOrderBy"] == .bool(true) {
            throw ToolboxError(.unsupportedQuery, "vector/full-text ORDER BY across partitions is not merged by "
                + "this client")
        }
        if let dCount = info["dCountInfo"], dCount != .null {
            throw ToolboxError(.unsupportedQuery, "COUNT(DISTINCT) across partitions is not merged by this client")
        }
        let rewritten = info["rewrittenQuery"]?.stringValue ?? ""
        rewrittenQuery = rewritten.isEmpty ? nil : rewritten
        orderByDescending = (info["orderBy"]?.arrayValue ?? []).map { $0.stringValue == "Descending" }
        let expressions = (info["orderByExpressions"]?.arrayValue ?? []).compactMap(\.stringValue)
        orderByExpressions = expressions.count == orderByDescending.count && !expressions.isEmpty ? expressions : nil
        top = try int("top")
        offset = try int("offset")
        limit = try int("limit")
        aggregates = (info["aggregates"]?.arrayValue ?? []).compactMap(\.stringValue)
        hasSelectValue = info["hasSelectValue"] == .bool(true)
        if !aggregates.isEmpty, !hasSelectValue {
            throw ToolboxError(.unsupportedQuery, "aggregates across partitions are merged for SELECT VALUE queries "
                + "only (SELECT VALUE COUNT(1) FROM c); rewrite the query or pass a partition key")
        }
        if aggregates.count > 1 {
            throw ToolboxError(.unsupportedQuery, "only one aggregate per cross-partition query is merged")
        }
        var ranges: [[String]] = []
        for range in json["queryRanges"]?.arrayValue ?? [] {
            guard let min = range["min"]?.stringValue, let max = range["max"]?.stringValue else {
                throw ToolboxError(.invalidResponse, "a query range of the plan lacks min or max")
            }
            // An inclusive max (a point range) still lies inside the pk range whose max is above it.
            let inclusiveMax = range["isMaxInclusive"] == .bool(true)
            ranges.append([min, inclusiveMax ? max + "\u{0}" : max])
        }
        queryRanges = ranges.isEmpty ? [["", "FF"]] : ranges
    }

    init(rewrittenQuery: String?, orderByDescending: [Bool], top: Int?, offset: Int?, limit: Int?, aggregates: [String],
         hasSelectValue: Bool, queryRanges: [[String]]) {
        self.rewrittenQuery = rewrittenQuery
        self.orderByDescending = orderByDescending
        self.orderByExpressions = nil
        self.top = top
        self.offset = offset
        self.limit = limit
        self.aggregates = aggregates
        self.hasSelectValue = hasSelectValue
        self.queryRanges = queryRanges
    }

    static let orderByFilterPlaceholder = "{documentdb-formattableorderbyquery-filter}"

    /// The query text a range runs: the rewritten query with the ORDER BY filter placeholder replaced by
    /// `filter` — `true` on a query's first page, the resume filter after a continuation, as the SDKs do.
    func rangeQuery(original: String, filter: String?) -> String {
        guard let rewrittenQuery else { return original }
        return rewrittenQuery.replacingOccurrences(of: Self.orderByFilterPlaceholder, with: filter ?? "true")
    }

    /// The SDKs' ORDER BY resume filter for one range: results after (`inclusive` false) or from (`inclusive`
    /// true) `last`, the ORDER BY value of the last result handed out, in the query's direction and in Cosmos
    /// DB's type order (`c.n > 5 OR IS_STRING(c.n) OR …` ascending). Nil when the plan has several ORDER BY
    /// expressions or `last` is undefined, an array or an object; the caller then resumes by position only.
    func resumeFilter(after last: CosmosJSON?, inclusive: Bool) -> String? {
        guard let expressions = orderByExpressions, expressions.count == 1, let descending = orderByDescending.first,
            let last, last.typeRank <= 4
        else { return nil }
        let expression = expressions[0]
        let typeTests = ["NOT IS_DEFINED(\(expression))", "IS_NULL(\(expression))", "IS_BOOL(\(expression))",
                         "IS_NUMBER(\(expression))", "IS_STRING(\(expression))", "IS_ARRAY(\(expression))",
                         "IS_OBJECT(\(expression))"]
        let rank = last.typeRank
        var terms: [String] = []
        if last == .null {
            // Only one null: there is nothing strictly after it within its type.
            if inclusive { terms.append(typeTests[1]) }
        } else {
            let op = (descending ? "<" : ">") + (inclusive ? "=" : "")
            terms.append("\(expression) \(op) \(last.jsonString)")
        }
        terms += descending ? Array(typeTests[..<rank]) : Array(typeTests[(rank + 1)...])
        return terms.isEmpty ? "false" : "(" + terms.joined(separator: " OR ") + ")"
    }

    /// How many results the caller may still get (TOP or OFFSET/LIMIT), given how many were returned.
    func remaining(emitted: Int) -> Int? {
        let cap = [top, limit].compactMap { $0 }.min()
        return cap.map { max(0, $0 - emitted) }
    }
}

/// A cross-partition continuation token: where each range stands, plus the plan, so the next page needs no
/// new plan. Sent to callers as `ct1.` + base64url(JSON).
struct CosmosQueryContinuation: Codable, Sendable, Equatable {
    struct RangeState: Codable, Sendable, Equatable {
        var min: String
        var max: String
        /// The service's continuation for the page being read (nil: from the start).
        var token: String?
        /// Results of that page already handed out (ORDER BY merges stop mid-page).
        var skip: Int
        /// ORDER BY after a continuation: the resume filter this range's query runs with (nil: `true`).
        var filter: String?
        /// ORDER BY after a continuation, in the range the last result came from (or its children after a split):
        /// the `_rid`s of the results equal to it already handed out, which the resumed query returns again.
        var dropRIDs: [String]?
        /// That result's ORDER BY value as JSON text (a `CosmosJSON?` would decode `null` as nil).
        var dropValue: String?
        /// ORDER BY after a continuation, in every range: the ORDER BY value `filter` was built from (JSON text).
        /// A result at or before it (before it, under an inclusive filter) was handed out already: a service that
        /// returns one ignored the filter.
        var resumeValue: String?
    }

    var version = 1
    /// The gateway ran the query itself; `direct` is its continuation.
    var direct: String?
    var plan: CosmosQueryPlan?
    var ranges: [RangeState] = []
    /// OFFSET results skipped so far.
    var skipped = 0
    /// Results returned so far (TOP / LIMIT).
    var emitted = 0

    static let prefix = "ct1."

    var encoded: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return Self.prefix + data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init(direct: String?, plan: CosmosQueryPlan?, ranges: [RangeState], skipped: Int, emitted: Int) {
        self.direct = direct
        self.plan = plan
        self.ranges = ranges
        self.skipped = skipped
        self.emitted = emitted
    }

    /// - throws: `.invalidArgument` for a token this client did not make.
    init(decoding token: String) throws(ToolboxError) {
        let bad = ToolboxError(.invalidArgument, "the continuation token is not one this client returned for a "
            + "cross-partition query; pass the `continuation` of the previous page unchanged")
        guard token.hasPrefix(Self.prefix), token.utf8.count < 1 << 20 else { throw bad }
        var base64 = String(token.dropFirst(Self.prefix.count))
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
            let decoded = try? JSONDecoder().decode(CosmosQueryContinuation.self, from: data),
            decoded.version == 1, decoded.skipped >= 0, decoded.emitted >= 0,
            decoded.ranges.allSatisfy({ $0.skip >= 0 })
        else { throw bad }
        self = decoded
    }
}
