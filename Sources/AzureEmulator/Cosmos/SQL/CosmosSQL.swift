/// The bounded Cosmos SQL subset the emulator answers: `SELECT [TOP n] [VALUE] … FROM c [WHERE …] [ORDER BY one
/// field] [OFFSET … LIMIT …]` with comparisons, `AND/OR/NOT`, `IN`, `BETWEEN`, arithmetic, `||`, `??`, parameters,
/// object and array constructors, a few functions and the `COUNT/SUM/MIN/MAX/AVG` aggregates. Anything else is a
/// 400 naming the construct — the emulator never answers a query it does not understand.
enum CosmosSQL {
    indirect enum Expression: Equatable {
        case literal(CosmosValue?)          // nil: undefined
        case parameter(String)
        case root(String)
        case member(Expression, String)
        case index(Expression, Expression)
        case object([Member])
        case array([Expression])
        case unary(String, Expression)
        case binary(String, Expression, Expression)
        case between(Expression, Expression, Expression, negated: Bool)
        case inList(Expression, [Expression], negated: Bool)
        case call(String, [Expression])
        case aggregate(String, Expression)
        case conditional(Expression, Expression, Expression)
    }

    struct Member: Equatable {
        var name: String
        var value: Expression
    }

    struct Projection: Equatable {
        var expression: Expression
        var alias: String?

        /// The property name in the result: the alias, else the last member name (`c.a.b` → `b`) or the alias
        /// of the root, else `$1`, `$2`, … counting the unnamed ones (`unnamed` is advanced).
        func name(unnamed: inout Int) -> String {
            if let alias { return alias }
            if case .member(_, let member) = expression { return member }
            if case .root(let root) = expression { return root }
            unnamed += 1
            return "$\(unnamed)"
        }
    }

    struct Query: Equatable {
        var top: Expression?
        var selectValue = false
        var selectStar = false
        var projections: [Projection] = []
        var alias = "c"
        var filter: Expression?
        var orderBy: (expression: Expression, descending: Bool)?
        var offset: Expression?
        var limit: Expression?

        static func == (lhs: Query, rhs: Query) -> Bool {
            lhs.top == rhs.top && lhs.selectValue == rhs.selectValue && lhs.selectStar == rhs.selectStar
                && lhs.projections == rhs.projections && lhs.alias == rhs.alias && lhs.filter == rhs.filter
                && lhs.orderBy?.expression == rhs.orderBy?.expression && lhs.orderBy?.descending == rhs.orderBy?.descending
                && lhs.offset == rhs.offset && lhs.limit == rhs.limit
        }

        /// Whether any projection uses an aggregate function.
        var isAggregate: Bool { projections.contains { $0.expression.containsAggregate } }
    }

    static let aggregates: Set<String> = ["COUNT", "SUM", "MIN", "MAX", "AVG"]
    /// Scalar functions the evaluator implements, with their allowed argument counts.
    static let functions: [String: ClosedRange<Int>] = [
        "ARRAY_CONTAINS": 2...3, "STARTSWITH": 2...3, "ENDSWITH": 2...3, "CONTAINS": 2...3, "IS_DEFINED": 1...1,
        "IS_NULL": 1...1, "IS_STRING": 1...1, "IS_NUMBER": 1...1, "IS_BOOL": 1...1, "IS_ARRAY": 1...1,
        "IS_OBJECT": 1...1, "IS_PRIMITIVE": 1...1, "LOWER": 1...1, "UPPER": 1...1, "LENGTH": 1...1,
        "ARRAY_LENGTH": 1...1,
    ]

    /// A query error in the service's shape: the message is the JSON `{"errors": [...]}` the gateway sends.
    static func error(_ message: String, code: String = "SC2001", at offset: Int = 0) -> CosmosFailure {
        let detail = CosmosValue.object([("errors", .array([.object([
            ("severity", .string("Error")),
            ("location", .object([("start", .number(Double(offset))), ("end", .number(Double(offset + 1)))])),
            ("code", .string(code)), ("message", .string(message)),
        ])]))])
        return .badRequest(detail.json)
    }

    static func unsupported(_ construct: String, at offset: Int) -> CosmosFailure {
        error("The emulator does not support \(construct) in Cosmos SQL queries (it serves a bounded subset; see "
            + "docs/emulator.md).", code: "SC2001", at: offset)
    }

    static func parse(_ text: String) throws(CosmosFailure) -> Query {
        // Rewritten ORDER BY queries carry the gateway's filter placeholder; SDKs replace it with `true`, and so
        // does the emulator for clients that send it back verbatim.
        let text = text.replacingOccurrences(of: CosmosQueryPlan.orderByFilterPlaceholder, with: "true")
        var parser = CosmosSQLParser(tokens: try CosmosSQLLexer.tokenize(text))
        return try parser.query()
    }

    /// A patch condition (`from c where …`) as a filter.
    static func parseCondition(_ text: String) throws(CosmosFailure) -> Condition {
        let query = try parse("SELECT * " + text)
        guard query.top == nil, query.orderBy == nil, query.offset == nil else {
            throw .badRequest("A patch condition is 'from <alias> where <predicate>' only.")
        }
        return Condition(query: query)
    }

    struct Condition {
        let query: Query

        func matches(_ document: CosmosValue) throws(CosmosFailure) -> Bool {
            guard let filter = query.filter else { return true }
            let evaluator = CosmosSQLEvaluator(alias: query.alias, parameters: [:])
            return try evaluator.evaluate(filter, document) == .bool(true)
        }
    }
}

extension CosmosSQL.Expression {
    var containsAggregate: Bool {
        switch self {
        case .aggregate: return true
        case .literal, .parameter, .root: return false
        case .member(let base, _): return base.containsAggregate
        case .index(let base, let index): return base.containsAggregate || index.containsAggregate
        case .object(let members): return members.contains { $0.value.containsAggregate }
        case .array(let items), .call(_, let items): return items.contains { $0.containsAggregate }
        case .unary(_, let operand): return operand.containsAggregate
        case .binary(_, let lhs, let rhs): return lhs.containsAggregate || rhs.containsAggregate
        case .between(let a, let b, let c, _), .conditional(let a, let b, let c):
            return a.containsAggregate || b.containsAggregate || c.containsAggregate
        case .inList(let a, let list, _): return a.containsAggregate || list.contains { $0.containsAggregate }
        }
    }

    /// The expression as SQL text (for query plans and rewritten queries).
    var sql: String {
        switch self {
        case .literal(nil): return "undefined"
        case .literal(let value?): return value.json
        case .parameter(let name): return name
        case .root(let name): return name
        case .member(let base, let name):
            let simple = name.unicodeScalars.first.map { $0 == "_" || $0.properties.isAlphabetic } == true
                && name.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
                && !CosmosSQLLexer.keywords.contains(name.uppercased())
            return simple ? "\(base.sql).\(name)" : "\(base.sql)[\(CosmosValue.string(name).json)]"
        case .index(let base, let index): return "\(base.sql)[\(index.sql)]"
        case .object(let members):
            return "{" + members.map { "\(CosmosValue.string($0.name).json): \($0.value.sql)" }.joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map(\.sql).joined(separator: ", ") + "]"
        case .unary(let op, let operand): return op == "NOT" ? "(NOT \(operand.sql))" : "(\(op)\(operand.sql))"
        case .binary(let op, let lhs, let rhs): return "(\(lhs.sql) \(op) \(rhs.sql))"
        case .between(let value, let low, let high, let negated):
            return "(\(value.sql) \(negated ? "NOT " : "")BETWEEN \(low.sql) AND \(high.sql))"
        case .inList(let value, let list, let negated):
            return "(\(value.sql) \(negated ? "NOT " : "")IN (\(list.map(\.sql).joined(separator: ", "))))"
        case .call(let name, let arguments): return "\(name)(\(arguments.map(\.sql).joined(separator: ", ")))"
        case .aggregate(let name, let argument): return "\(name)(\(argument.sql))"
        case .conditional(let condition, let a, let b): return "(\(condition.sql) ? \(a.sql) : \(b.sql))"
        }
    }
}
