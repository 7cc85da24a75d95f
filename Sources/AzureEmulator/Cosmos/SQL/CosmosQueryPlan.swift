/// The query plan the gateway hands an SDK for a cross-partition query (`x-ms-cosmos-is-query-plan-request`): what
/// the SDK must do client-side (ORDER BY merge, TOP, OFFSET/LIMIT, VALUE aggregates) and the `rewrittenQuery` each
/// partition key range runs so its results carry what the merge needs (`orderByItems` + `payload`, or
/// `[{"item": …}]` partial aggregates).
enum CosmosQueryPlan {
    static let orderByFilterPlaceholder = "{documentdb-formattableorderbyquery-filter}"

    static func plan(for query: CosmosSQL.Query, parameters: [String: CosmosValue]) throws(CosmosFailure) -> CosmosValue {
        let runner = CosmosQueryRunner(query: query, parameters: parameters)
        let top = try runner.count(query.top, "TOP")
        let offset = try runner.count(query.offset, "OFFSET")
        let limit = try runner.count(query.limit, "LIMIT")
        var aggregates: [CosmosValue] = []
        var rewritten = ""
        let filter = query.filter?.sql
        if query.isAggregate {
            let single = query.selectValue && query.projections.count == 1
            if single, case .aggregate(let name, let argument) = query.projections[0].expression {
                aggregates = [.string(Self.aggregateName(name))]
                let item: String
                if name == "AVG" {
                    item = "{\"sum\": SUM(\(argument.sql)), \"count\": COUNT(\(argument.sql))}"
                } else {
                    item = "\(name)(\(argument.sql))"
                }
                rewritten = "SELECT VALUE [{\"item\": \(item)}] FROM \(query.alias)" + (filter.map { " WHERE \($0)" } ?? "")
            } else if single {
                throw CosmosSQL.unsupported("an aggregate inside an expression in a cross-partition query", at: 0)
            } else {
                // What the gateway answers too: the SDK refuses non-VALUE aggregates across partitions.
                aggregates = query.projections.compactMap { projection in
                    if case .aggregate(let name, _) = projection.expression { return .string(Self.aggregateName(name)) }
                    return nil
                }
                rewritten = ""
            }
        } else if let orderBy = query.orderBy {
            let payload: String
            if query.selectStar {
                payload = query.alias
            } else if query.selectValue, let projection = query.projections.first {
                payload = projection.expression.sql
            } else {
                var unnamed = 0
                let members = query.projections.map { projection in
                    "\(CosmosValue.string(projection.name(unnamed: &unnamed)).json): \(projection.expression.sql)"
                }
                payload = "{" + members.joined(separator: ", ") + "}"
            }
            var text = "SELECT "
            if let top { text += "TOP \(top) " }
            text += "\(query.alias)._rid, [{\"item\": \(orderBy.expression.sql)}] AS orderByItems, \(payload) AS payload FROM "
                + "\(query.alias) WHERE (\(orderByFilterPlaceholder))"
            if let filter { text += " AND (\(filter))" }
            text += " ORDER BY \(orderBy.expression.sql) \(orderBy.descending ? "DESC" : "ASC")"
            if let offset, let limit { text += " OFFSET 0 LIMIT \(Self.sum(offset, limit))" }
            rewritten = text
        } else if let offset, let limit {
            // Each range returns its first offset+limit rows; the SDK skips and limits globally.
            var copy = query
            copy.offset = .literal(.number(0))
            copy.limit = .literal(.number(Double(Self.sum(offset, limit))))
            rewritten = Self.text(of: copy)
        }
        let orderBy: [CosmosValue] = query.orderBy.map { [.string($0.descending ? "Descending" : "Ascending")] } ?? []
        let orderByExpressions: [CosmosValue] = query.orderBy.map { [.string($0.expression.sql)] } ?? []
        let queryInfo = CosmosValue.object([
            ("distinctType", .string("None")), ("top", top.map { .number(Double($0)) } ?? .null),
            ("offset", offset.map { .number(Double($0)) } ?? .null), ("limit", limit.map { .number(Double($0)) } ?? .null),
            ("orderBy", .array(orderBy)), ("orderByExpressions", .array(orderByExpressions)),
            ("groupByExpressions", .array([])), ("groupByAliases", .array([])), ("aggregates", .array(aggregates)),
            ("groupByAliasToAggregateType", .object([])), ("rewrittenQuery", .string(rewritten)),
            ("hasSelectValue", .bool(query.selectValue)), ("dCountInfo", .null), ("hasNonStreamingOrderBy", .bool(false)),
        ])
        return .object([
            ("partitionedQueryExecutionInfoVersion", .number(2)), ("queryInfo", queryInfo),
            ("queryRanges", .array([.object([("min", .string("")), ("max", .string("FF")), ("isMinInclusive", .bool(true)),
                                             ("isMaxInclusive", .bool(false))])])),
        ])
    }

    static func sum(_ a: Int, _ b: Int) -> Int {
        let (total, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int(Int32.max) : min(total, Int(Int32.max))
    }

    static func aggregateName(_ name: String) -> String {
        switch name {
        case "COUNT": return "Count"
        case "SUM": return "Sum"
        case "MIN": return "Min"
        case "MAX": return "Max"
        default: return "Average"
        }
    }

    /// A query as SQL text.
    static func text(of query: CosmosSQL.Query) -> String {
        var text = "SELECT "
        if let top = query.top { text += "TOP \(top.sql) " }
        if query.selectStar {
            text += "*"
        } else if query.selectValue, let projection = query.projections.first {
            text += "VALUE \(projection.expression.sql)"
        } else {
            text += query.projections.map { projection in
                projection.alias.map { "\(projection.expression.sql) AS \($0)" } ?? projection.expression.sql
            }.joined(separator: ", ")
        }
        text += " FROM \(query.alias)"
        if let filter = query.filter { text += " WHERE \(filter.sql)" }
        if let orderBy = query.orderBy { text += " ORDER BY \(orderBy.expression.sql) \(orderBy.descending ? "DESC" : "ASC")" }
        if let offset = query.offset, let limit = query.limit { text += " OFFSET \(offset.sql) LIMIT \(limit.sql)" }
        return text
    }
}
