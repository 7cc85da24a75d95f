import Foundation
import ToolboxCore

/// What the gateway's query plan (`x-ms-cosmos-is-query-plan-request`) says about merging per-range results,
/// reduced to what this client carries in its continuation tokens.
struct CosmosQueryPlan: Codable, Sendable, Equatable {
    /// The query each range runs (the plan's `rewrittenQuery`), nil to run the caller's query unchanged.
    var rewrittenQuery: String?
    /// One entry per ORDER BY expression: true when descending.
    var orderByDescending: [Bool]
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
        self.top = top
        self.offset = offset
        self.limit = limit
        self.aggregates = aggregates
        self.hasSelectValue = hasSelectValue
        self.queryRanges = queryRanges
    }

    /// The query text a range runs: the rewritten query with the ORDER BY resume filter opened up.
    func rangeQuery(original: String) -> String {
        guard let rewrittenQuery else { return original }
        return rewrittenQuery.replacingOccurrences(of: "{documentdb-formattableorderbyquery-filter}", with: "true")
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
