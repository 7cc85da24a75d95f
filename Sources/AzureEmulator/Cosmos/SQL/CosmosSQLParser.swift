/// Recursive-descent parser for `CosmosSQL`; precedence (low to high): `?:`, `??`, `OR`, `AND`, `NOT`,
/// comparisons / `IN` / `BETWEEN`, `||`, `+ -`, `* / %`, unary `- +`, member access and indexing.
struct CosmosSQLParser {
    typealias Expression = CosmosSQL.Expression
    let tokens: [(token: CosmosSQLToken, offset: Int, text: String)]
    var position = 0
    /// Nesting bound: hostile queries cannot exhaust the stack.
    static let maxDepth = 64
    var depth = 0
    /// Operators and member accesses build left-deep trees that the evaluator walks recursively; bounding them
    /// (the service allows 500 ANDs) bounds that recursion too.
    static let maxOperators = 500
    var operators = 0

    init(tokens: [(token: CosmosSQLToken, offset: Int, text: String)]) { self.tokens = tokens }

    var current: CosmosSQLToken { tokens[position].token }
    var offset: Int { tokens[position].offset }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    mutating func countOperator() throws(CosmosFailure) {
        operators += 1
        guard operators <= Self.maxOperators else {
            throw CosmosSQL.error("The query has more than \(Self.maxOperators) operators.", code: "SC1001", at: offset)
        }
    }

    mutating func accept(keyword: String) -> Bool {
        if current == .keyword(keyword) { advance(); return true }
        return false
    }

    mutating func accept(symbol: String) -> Bool {
        if current == .symbol(symbol) { advance(); return true }
        return false
    }

    func syntaxError(_ expected: String) -> CosmosFailure {
        CosmosSQL.error("Syntax error, \(expected) expected near \(describe(current)).", code: "SC1001", at: offset)
    }

    func describe(_ token: CosmosSQLToken) -> String {
        switch token {
        case .identifier(let name): return "'\(name)'"
        case .keyword(let word): return "'\(word)'"
        case .number(let value): return "'\(CosmosValue.format(value))'"
        case .string(let text): return "'\(text)'"
        case .parameter(let name): return "'\(name)'"
        case .symbol(let symbol): return "'\(symbol)'"
        case .end: return "the end of the query"
        }
    }

    mutating func expect(keyword: String) throws(CosmosFailure) {
        guard accept(keyword: keyword) else { throw syntaxError("'\(keyword)'") }
    }

    mutating func expect(symbol: String) throws(CosmosFailure) {
        guard accept(symbol: symbol) else { throw syntaxError("'\(symbol)'") }
    }

    // MARK: Query

    mutating func query() throws(CosmosFailure) -> CosmosSQL.Query {
        var query = CosmosSQL.Query()
        try expect(keyword: "SELECT")
        if current == .keyword("DISTINCT") { throw CosmosSQL.unsupported("SELECT DISTINCT", at: offset) }
        if accept(keyword: "TOP") { query.top = try topOperand() }
        if accept(keyword: "VALUE") {
            query.selectValue = true
            query.projections = [CosmosSQL.Projection(expression: try expression(), alias: nil)]
        } else if accept(symbol: "*") {
            query.selectStar = true
        } else {
            repeat {
                let expression = try expression()
                var alias: String?
                if accept(keyword: "AS") {
                    switch current {
                    case .identifier, .keyword: alias = tokens[position].text
                    default: throw syntaxError("an alias")
                    }
                    advance()
                } else if case .identifier(let name) = current {
                    alias = name
                    advance()
                }
                query.projections.append(CosmosSQL.Projection(expression: expression, alias: alias))
            } while accept(symbol: ",")
        }
        if current == .end {
            throw CosmosSQL.unsupported("a query without FROM", at: offset)
        }
        try expect(keyword: "FROM")
        switch current {
        case .identifier(let name): query.alias = name; advance()
        case .keyword("ROOT"): query.alias = "root"; advance()
        case .symbol("("): throw CosmosSQL.unsupported("subqueries", at: offset)
        default: throw syntaxError("a collection alias after FROM")
        }
        if accept(keyword: "AS") {
            guard case .identifier(let name) = current else { throw syntaxError("an alias") }
            query.alias = name
            advance()
        } else if case .identifier(let name) = current {
            query.alias = name
            advance()
        }
        if current == .keyword("IN") { throw CosmosSQL.unsupported("FROM … IN (iteration)", at: offset) }
        if current == .keyword("JOIN") { throw CosmosSQL.unsupported("JOIN", at: offset) }
        if accept(keyword: "WHERE") { query.filter = try expression() }
        if current == .keyword("GROUP") { throw CosmosSQL.unsupported("GROUP BY", at: offset) }
        if accept(keyword: "ORDER") {
            try expect(keyword: "BY")
            let key = try expression()
            var descending = false
            if accept(keyword: "DESC") { descending = true } else { _ = accept(keyword: "ASC") }
            if current == .symbol(",") { throw CosmosSQL.unsupported("ORDER BY on more than one field", at: offset) }
            query.orderBy = (key, descending)
        }
        if accept(keyword: "OFFSET") {
            query.offset = try topOperand()
            try expect(keyword: "LIMIT")
            query.limit = try topOperand()
        } else if current == .keyword("LIMIT") {
            throw CosmosSQL.error("Syntax error, LIMIT needs OFFSET (OFFSET m LIMIT n).", code: "SC1001", at: offset)
        }
        guard current == .end else { throw syntaxError("the end of the query") }
        if query.isAggregate, !query.projections.allSatisfy({ Self.isPureAggregate($0.expression) }) {
            throw CosmosSQL.unsupported("mixing aggregates and non-aggregate values without GROUP BY", at: 0)
        }
        return query
    }

    /// An aggregate query's projections may only combine aggregates with constants.
    static func isPureAggregate(_ expression: Expression) -> Bool {
        switch expression {
        case .aggregate, .literal, .parameter: return true
        case .root, .member, .index: return false
        case .object(let members): return members.allSatisfy { isPureAggregate($0.value) }
        case .array(let items), .call(_, let items): return items.allSatisfy(isPureAggregate)
        case .unary(_, let operand): return isPureAggregate(operand)
        case .binary(_, let lhs, let rhs): return isPureAggregate(lhs) && isPureAggregate(rhs)
        case .between(let a, let b, let c, _), .conditional(let a, let b, let c):
            return isPureAggregate(a) && isPureAggregate(b) && isPureAggregate(c)
        case .inList(let a, let list, _): return isPureAggregate(a) && list.allSatisfy(isPureAggregate)
        }
    }

    mutating func topOperand() throws(CosmosFailure) -> Expression {
        switch current {
        case .number(let value):
            advance()
            return .literal(.number(value))
        case .parameter(let name):
            advance()
            return .parameter(name)
        default: throw syntaxError("a number or parameter")
        }
    }

    // MARK: Expressions

    mutating func expression() throws(CosmosFailure) -> Expression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            throw CosmosSQL.error("The query is nested too deeply (more than \(Self.maxDepth) levels).", code: "SC1001", at: offset)
        }
        let condition = try coalesce()
        if accept(symbol: "?") {
            let whenTrue = try expression()
            try expect(symbol: ":")
            let whenFalse = try expression()
            return .conditional(condition, whenTrue, whenFalse)
        }
        return condition
    }

    /// `??`, then `OR`, then `AND`, over `NOT` expressions.
    mutating func coalesce() throws(CosmosFailure) -> Expression {
        try binaryLevels([["??"], ["OR"], ["AND"]]) { (parser: inout Self) throws(CosmosFailure) in try parser.not() }
    }

    mutating func not() throws(CosmosFailure) -> Expression {
        if accept(keyword: "NOT") {
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw CosmosSQL.error("The query is nested too deeply.", code: "SC1001", at: offset) }
            return .unary("NOT", try not())
        }
        return try comparison()
    }

    mutating func comparison() throws(CosmosFailure) -> Expression {
        var lhs = try concatenation()
        while true {
            if case .symbol(let op) = current, ["=", "!=", "<", "<=", ">", ">="].contains(op) {
                try countOperator()
                advance()
                lhs = .binary(op, lhs, try concatenation())
                continue
            }
            let negated = current == .keyword("NOT") && [.keyword("IN"), .keyword("BETWEEN"), .keyword("LIKE")]
                .contains(tokens[min(position + 1, tokens.count - 1)].token)
            if negated { advance() }
            if current == .keyword("BETWEEN") || current == .keyword("IN") { try countOperator() }
            if accept(keyword: "BETWEEN") {
                let low = try concatenation()
                try expect(keyword: "AND")
                let high = try concatenation()
                lhs = .between(lhs, low, high, negated: negated)
                continue
            }
            if accept(keyword: "IN") {
                try expect(symbol: "(")
                if current == .keyword("SELECT") { throw CosmosSQL.unsupported("subqueries", at: offset) }
                var list: [Expression] = []
                repeat { list.append(try expression()) } while accept(symbol: ",")
                try expect(symbol: ")")
                lhs = .inList(lhs, list, negated: negated)
                continue
            }
            if current == .keyword("LIKE") { throw CosmosSQL.unsupported("LIKE", at: offset) }
            return lhs
        }
    }

    /// `||`, then `+ -`, then `* / %`, over unary expressions; the bitwise operators are refused by name.
    mutating func concatenation() throws(CosmosFailure) -> Expression {
        let levels: ArraySlice<Set<String>> = [["||"], ["+", "-"], ["*", "/", "%"]]
        let lhs = try binaryLevels(levels) { (parser: inout Self) throws(CosmosFailure) in try parser.unary() }
        if case .symbol(let op) = current, ["&", "|", "^", "<<", ">>", "~"].contains(op) {
            throw CosmosSQL.unsupported("the bitwise operator '\(op)'", at: offset)
        }
        return lhs
    }

    /// Left-associative binary operators, one precedence level per element of `levels` (loosest first): each
    /// level's operands are expressions of the levels after it, the last level's are `operand`'s. Every operator
    /// counts against `maxOperators`.
    mutating func binaryLevels(_ levels: ArraySlice<Set<String>>,
                               _ operand: (inout Self) throws(CosmosFailure) -> Expression) throws(CosmosFailure)
        -> Expression
    {
        guard let level = levels.first else { return try operand(&self) }
        var lhs = try binaryLevels(levels.dropFirst(), operand)
        while let op = Self.binaryOperator(current, in: level) {
            try countOperator()
            advance()
            lhs = .binary(op, lhs, try binaryLevels(levels.dropFirst(), operand))
        }
        return lhs
    }

    /// The operator `token` spells (keywords upper-cased) when it is one of `level`'s.
    static func binaryOperator(_ token: CosmosSQLToken, in level: Set<String>) -> String? {
        switch token {
        case .symbol(let op), .keyword(let op): return level.contains(op) ? op : nil
        default: return nil
        }
    }

    mutating func unary() throws(CosmosFailure) -> Expression {
        if case .symbol(let op) = current, op == "-" || op == "+" {
            advance()
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw CosmosSQL.error("The query is nested too deeply.", code: "SC1001", at: offset) }
            return .unary(op, try unary())
        }
        return try postfix()
    }

    mutating func postfix() throws(CosmosFailure) -> Expression {
        var base = try primary()
        while true {
            if current == .symbol(".") || current == .symbol("[") { try countOperator() }
            if accept(symbol: ".") {
                switch current {
                case .identifier(let name): base = .member(base, name)
                case .keyword: base = .member(base, tokens[position].text)
                default: throw syntaxError("a property name")
                }
                advance()
            } else if accept(symbol: "[") {
                let index = try expression()
                try expect(symbol: "]")
                if case .literal(.string(let name)?) = index { base = .member(base, name) } else { base = .index(base, index) }
            } else {
                return base
            }
        }
    }

    mutating func primary() throws(CosmosFailure) -> Expression {
        let start = offset
        switch current {
        case .number(let value): advance(); return .literal(.number(value))
        case .string(let text): advance(); return .literal(.string(text))
        case .parameter(let name): advance(); return .parameter(name)
        case .keyword("TRUE"): advance(); return .literal(.bool(true))
        case .keyword("FALSE"): advance(); return .literal(.bool(false))
        case .keyword("NULL"): advance(); return .literal(.null)
        case .keyword("UNDEFINED"): advance(); return .literal(nil)
        case .keyword("ROOT"): advance(); return .root("root")
        case .keyword("EXISTS"): throw CosmosSQL.unsupported("EXISTS", at: start)
        case .keyword("ARRAY"): throw CosmosSQL.unsupported("ARRAY subqueries", at: start)
        case .keyword("UDF"): throw CosmosSQL.unsupported("user-defined functions", at: start)
        case .keyword("SELECT"): throw CosmosSQL.unsupported("subqueries", at: start)
        case .symbol("("):
            advance()
            if current == .keyword("SELECT") { throw CosmosSQL.unsupported("subqueries", at: start) }
            let inner = try expression()
            try expect(symbol: ")")
            return inner
        case .symbol("["):
            advance()
            var items: [Expression] = []
            if !accept(symbol: "]") {
                repeat { items.append(try expression()) } while accept(symbol: ",")
                try expect(symbol: "]")
            }
            return .array(items)
        case .symbol("{"):
            advance()
            var members: [CosmosSQL.Member] = []
            if !accept(symbol: "}") {
                repeat {
                    let name: String
                    switch current {
                    case .string(let text): name = text
                    case .identifier(let word): name = word
                    case .keyword: name = tokens[position].text
                    default: throw syntaxError("a property name in the object")
                    }
                    advance()
                    try expect(symbol: ":")
                    members.append(CosmosSQL.Member(name: name, value: try expression()))
                } while accept(symbol: ",")
                try expect(symbol: "}")
            }
            return .object(members)
        case .identifier(let name):
            advance()
            guard accept(symbol: "(") else { return .root(name) }
            let upper = name.uppercased()
            var arguments: [Expression] = []
            if !accept(symbol: ")") {
                repeat { arguments.append(try expression()) } while accept(symbol: ",")
                try expect(symbol: ")")
            }
            if CosmosSQL.aggregates.contains(upper) {
                guard arguments.count == 1 else {
                    throw CosmosSQL.error("The aggregate \(upper) takes one argument.", code: "SC2001", at: start)
                }
                if arguments[0].containsAggregate { throw CosmosSQL.unsupported("nested aggregates", at: start) }
                return .aggregate(upper, arguments[0])
            }
            guard let arity = CosmosSQL.functions[upper] else { throw CosmosSQL.unsupported("the function \(upper)", at: start) }
            guard arity.contains(arguments.count) else {
                throw CosmosSQL.error("The function \(upper) takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") arguments, not \(arguments.count).", code: "SC2001", at: start)
            }
            return .call(upper, arguments)
        default:
            throw syntaxError("an expression")
        }
    }
}
