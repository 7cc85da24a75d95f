/// Runs a parsed query over documents: filter, projection or aggregation, ORDER BY, OFFSET/LIMIT and TOP, then
/// pages the result with continuations that name a position in a total order (the ORDER BY value, then creation
/// sequence) — so a continuation handed to the children of a split range resumes exactly where the parent stopped.
struct CosmosQueryRunner {
    struct Row {
        var value: CosmosValue?
        var orderKey: CosmosValue?
        var sequence: UInt64
    }

    let query: CosmosSQL.Query
    let parameters: [String: CosmosValue]
    private let evaluator: CosmosSQLEvaluator

    init(query: CosmosSQL.Query, parameters: [String: CosmosValue]) {
        self.query = query
        self.parameters = parameters
        evaluator = CosmosSQLEvaluator(alias: query.alias, parameters: parameters)
    }

    /// The body of a query request: `{"query": "...", "parameters": [{"name": "@p", "value": …}]}`.
    static func parse(body: CosmosValue) throws(CosmosFailure) -> (CosmosSQL.Query, [String: CosmosValue], String) {
        guard let text = body["query"]?.stringValue else { throw .badRequest("The query body needs a string 'query'.") }
        var parameters: [String: CosmosValue] = [:]
        if let list = body["parameters"] {
            guard case .array(let entries) = list else { throw .badRequest("The query 'parameters' must be an array.") }
            for entry in entries {
                guard let name = entry["name"]?.stringValue, name.hasPrefix("@") else {
                    throw .badRequest("Each query parameter needs a 'name' starting with '@'.")
                }
                if let value = entry["value"] { parameters[name] = value }
            }
        }
        return (try CosmosSQL.parse(text), parameters, text)
    }

    /// A TOP/OFFSET/LIMIT operand: a non-negative integer literal or parameter.
    func count(_ expression: CosmosSQL.Expression?, _ clause: String) throws(CosmosFailure) -> Int? {
        guard let expression else { return nil }
        guard let value = try evaluator.evaluate(expression, .null)?.numberValue, let number = Int(exactly: value),
              number >= 0, number <= Int(Int32.max)
        else { throw CosmosSQL.error("The \(clause) value must be a non-negative integer.") }
        return number
    }

    /// Every result row, in order, with OFFSET/LIMIT and TOP applied.
    func rows(_ documents: [(document: CosmosValue, sequence: UInt64)]) throws(CosmosFailure) -> [Row] {
        var matching: [(document: CosmosValue, sequence: UInt64)] = []
        for entry in documents {
            if let filter = query.filter, try evaluator.evaluate(filter, entry.document) != .bool(true) { continue }
            matching.append(entry)
        }
        var rows: [Row] = []
        if query.isAggregate {
            let all = matching.map(\.document)
            let value = try project(.null, aggregateRows: all)
            rows = [Row(value: value, orderKey: nil, sequence: 0)]
        } else {
            for entry in matching {
                let key = try query.orderBy.map { order throws(CosmosFailure) in try evaluator.evaluate(order.expression, entry.document) } ?? nil
                rows.append(Row(value: try project(entry.document, aggregateRows: nil), orderKey: key, sequence: entry.sequence))
            }
            rows.sort { Self.precedes($0, $1, descending: query.orderBy?.descending) }
        }
        if let offset = try count(query.offset, "OFFSET") { rows = Array(rows.dropFirst(offset)) }
        if let limit = try count(query.limit, "LIMIT") { rows = Array(rows.prefix(limit)) }
        if let top = try count(query.top, "TOP") { rows = Array(rows.prefix(top)) }
        // SELECT VALUE drops undefined results; other projections always give an object.
        return rows.filter { $0.value != nil }
    }

    static func precedes(_ lhs: Row, _ rhs: Row, descending: Bool?) -> Bool {
        if let descending {
            let order = CosmosSQLEvaluator.orderCompare(lhs.orderKey, rhs.orderKey)
            if order != 0 { return descending ? order > 0 : order < 0 }
        }
        return lhs.sequence < rhs.sequence
    }

    private func project(_ document: CosmosValue, aggregateRows: [CosmosValue]?) throws(CosmosFailure) -> CosmosValue? {
        if query.selectStar { return document }
        if query.selectValue, let projection = query.projections.first {
            return try evaluator.evaluate(projection.expression, document, aggregateRows: aggregateRows)
        }
        var members: [(String, CosmosValue)] = []
        var unnamed = 0
        for projection in query.projections {
            let name = projection.name(unnamed: &unnamed)
            if let value = try evaluator.evaluate(projection.expression, document, aggregateRows: aggregateRows) {
                members.append((name, value))
            }
        }
        return .object(members)
    }

    // MARK: Paging

    /// Where the previous page ended.
    struct Position {
        var sequence: UInt64
        var orderKey: CosmosValue?

        init(sequence: UInt64, orderKey: CosmosValue?) {
            self.sequence = sequence
            self.orderKey = orderKey
        }

        init?(token: String?) throws(CosmosFailure) {
            guard let token, !token.isEmpty else { return nil }
            guard let value = try? CosmosValue.parse(token), let number = value["seq"]?.numberValue,
                  let sequence = UInt64(exactly: number)
            else { throw .badRequest("Invalid Continuation Token: '\(token.prefix(100))'.") }
            self.sequence = sequence
            orderKey = value["ob"]
        }

        var token: String {
            var members: [(String, CosmosValue)] = [("seq", .number(Double(sequence)))]
            if let orderKey { members.append(("ob", orderKey)) }
            return CosmosValue.object(members).json
        }
    }

    /// What a page's documents may take as JSON: the service ends a page near 4 MB whatever `x-ms-max-item-count`
    /// asks for.
    static let pageBytes = 4 << 20
    /// The largest single result a query may produce by default (a projection can repeat a 2 MB document many
    /// times over); at least twice the item limit when that is raised.
    static let resultBytes = 16 << 20

    /// The rows after `position`, at most `limit` and about `pageBytes` of JSON (at least one), and the continuation
    /// when more remain; a row above `maxResultBytes` is a 400.
    func page(_ rows: [Row], after position: Position?, limit: Int,
              maxResultBytes: Int = resultBytes) throws(CosmosFailure) -> (rows: [Row], continuation: String?) {
        var remaining = rows[...]
        if let position {
            let marker = Row(value: nil, orderKey: position.orderKey, sequence: position.sequence)
            let descending = query.isAggregate ? nil : query.orderBy?.descending
            remaining = rows.drop { !Self.precedes(marker, $0, descending: descending) }
        }
        var page: [Row] = []
        var bytes = 0
        for row in remaining.prefix(limit) {
            let length = row.value?.jsonLength(upTo: maxResultBytes) ?? 0
            guard length <= maxResultBytes else {
                throw .badRequest("A query result is larger than the emulator's \(maxResultBytes) bytes; project less.")
            }
            if !page.isEmpty, bytes.saturatingAdd(length) > Self.pageBytes { break }
            bytes = bytes.saturatingAdd(length)
            page.append(row)
        }
        guard remaining.count > page.count, let last = page.last else { return (page, nil) }
        return (page, Position(sequence: last.sequence, orderKey: last.orderKey).token)
    }
}
