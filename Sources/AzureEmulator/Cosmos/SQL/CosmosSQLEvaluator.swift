import Foundation

/// Evaluates `CosmosSQL` expressions against one document with Cosmos DB's semantics: `nil` is *undefined*
/// (a missing property), distinct from JSON `null`; comparisons between different types, arithmetic on
/// non-numbers and functions on wrong types give undefined; `WHERE` keeps a document only when the filter is
/// exactly `true`; `AND`/`OR` are three-valued.
struct CosmosSQLEvaluator {
    typealias Expression = CosmosSQL.Expression
    let alias: String
    let parameters: [String: CosmosValue]

    func evaluate(_ expression: Expression, _ document: CosmosValue, aggregateRows: [CosmosValue]? = nil)
        throws(CosmosFailure) -> CosmosValue?
    {
        switch expression {
        case .literal(let value): return value
        case .parameter(let name):
            guard let value = parameters[name] else {
                throw CosmosSQL.error("Identifier '\(name)' could not be resolved: the query has no parameter \(name).")
            }
            return value
        case .root(let name):
            guard name == alias || (name.lowercased() == "root" && alias == "root") else {
                throw CosmosSQL.error("Identifier '\(name)' could not be resolved (the collection alias is '\(alias)').")
            }
            return document
        case .member(let base, let name):
            return try evaluate(base, document, aggregateRows: aggregateRows)?[name]
        case .index(let base, let index):
            let container = try evaluate(base, document, aggregateRows: aggregateRows)
            switch (container, try evaluate(index, document, aggregateRows: aggregateRows)) {
            case (.array(let items)?, .number(let number)?):
                guard let position = Int(exactly: number), items.indices.contains(position) else { return nil }
                return items[position]
            case (.object?, .string(let key)?): return container?[key]
            default: return nil
            }
        case .object(let members):
            var result: [(String, CosmosValue)] = []
            for member in members {
                if let value = try evaluate(member.value, document, aggregateRows: aggregateRows) { result.append((member.name, value)) }
            }
            return .object(result)
        case .array(let items):
            var result: [CosmosValue] = []
            for item in items {
                if let value = try evaluate(item, document, aggregateRows: aggregateRows) { result.append(value) }
            }
            return .array(result)
        case .unary(let op, let operand):
            let value = try evaluate(operand, document, aggregateRows: aggregateRows)
            switch (op, value) {
            case ("NOT", .bool(let flag)?): return .bool(!flag)
            case ("-", .number(let number)?): return .number(-number)
            case ("+", .number(let number)?): return .number(number)
            default: return nil
            }
        case .binary(let op, let lhs, let rhs):
            return try binary(op, lhs, rhs, document, aggregateRows: aggregateRows)
        case .between(let value, let low, let high, let negated):
            let v = try evaluate(value, document, aggregateRows: aggregateRows)
            let lower = Self.compare(v, try evaluate(low, document, aggregateRows: aggregateRows))
            let upper = Self.compare(v, try evaluate(high, document, aggregateRows: aggregateRows))
            guard let lower, let upper else { return nil }
            let inside = lower >= 0 && upper <= 0
            return .bool(negated ? !inside : inside)
        case .inList(let value, let list, let negated):
            guard let v = try evaluate(value, document, aggregateRows: aggregateRows) else { return nil }
            var found = false
            for item in list where try evaluate(item, document, aggregateRows: aggregateRows).map({ Self.equal(v, $0) == true }) == true {
                found = true
                break
            }
            return .bool(negated ? !found : found)
        case .conditional(let condition, let whenTrue, let whenFalse):
            let test = try evaluate(condition, document, aggregateRows: aggregateRows)
            return try evaluate(test == .bool(true) ? whenTrue : whenFalse, document, aggregateRows: aggregateRows)
        case .call(let name, let arguments):
            var values: [CosmosValue?] = []
            for argument in arguments { values.append(try evaluate(argument, document, aggregateRows: aggregateRows)) }
            return Self.call(name, values)
        case .aggregate(let name, let argument):
            guard let rows = aggregateRows else {
                throw CosmosSQL.error("The aggregate \(name) is only allowed in the SELECT list.")
            }
            var values: [CosmosValue] = []
            for row in rows {
                if let value = try evaluate(argument, row) { values.append(value) }
            }
            return Self.aggregate(name, values)
        }
    }

    private func binary(_ op: String, _ lhs: Expression, _ rhs: Expression, _ document: CosmosValue,
                        aggregateRows: [CosmosValue]?) throws(CosmosFailure) -> CosmosValue? {
        let left = try evaluate(lhs, document, aggregateRows: aggregateRows)
        switch op {
        case "AND":
            if left == .bool(false) { return .bool(false) }
            let right = try evaluate(rhs, document, aggregateRows: aggregateRows)
            if right == .bool(false) { return .bool(false) }
            return left == .bool(true) && right == .bool(true) ? .bool(true) : nil
        case "OR":
            if left == .bool(true) { return .bool(true) }
            let right = try evaluate(rhs, document, aggregateRows: aggregateRows)
            if right == .bool(true) { return .bool(true) }
            return left == .bool(false) && right == .bool(false) ? .bool(false) : nil
        case "??":
            if let left { return left }
            return try evaluate(rhs, document, aggregateRows: aggregateRows)
        default: break
        }
        let right = try evaluate(rhs, document, aggregateRows: aggregateRows)
        switch op {
        case "=": return Self.equal(left, right).map { .bool($0) }
        case "!=": return Self.equal(left, right).map { .bool(!$0) }
        case "<": return Self.compare(left, right).map { .bool($0 < 0) }
        case "<=": return Self.compare(left, right).map { .bool($0 <= 0) }
        case ">": return Self.compare(left, right).map { .bool($0 > 0) }
        case ">=": return Self.compare(left, right).map { .bool($0 >= 0) }
        case "||":
            guard case .string(let a)? = left, case .string(let b)? = right else { return nil }
            return .string(a + b)
        default:
            guard case .number(let a)? = left, case .number(let b)? = right else { return nil }
            let result: Double
            switch op {
            case "+": result = a + b
            case "-": result = a - b
            case "*": result = a * b
            case "/": result = a / b
            case "%": result = a.truncatingRemainder(dividingBy: b)
            default: throw CosmosSQL.unsupported("the operator '\(op)'", at: 0)
            }
            return result.isFinite ? .number(result) : nil
        }
    }

    /// `=`: undefined when either side is undefined or the types differ; deep for arrays and objects.
    static func equal(_ lhs: CosmosValue?, _ rhs: CosmosValue?) -> Bool? {
        guard let lhs, let rhs, typeRank(lhs) == typeRank(rhs) || (isBool(lhs) && isBool(rhs)) else { return nil }
        return lhs == rhs
    }

    /// `<`-style comparison: numbers with numbers, strings with strings (ordinal), booleans with booleans, null with
    /// null; undefined otherwise.
    static func compare(_ lhs: CosmosValue?, _ rhs: CosmosValue?) -> Int? {
        switch (lhs, rhs) {
        case (.number(let a)?, .number(let b)?): return a < b ? -1 : (a > b ? 1 : 0)
        case (.string(let a)?, .string(let b)?): return ordinal(a, b)
        case (.bool(let a)?, .bool(let b)?): return a == b ? 0 : (a ? 1 : -1)
        case (.null?, .null?): return 0
        default: return nil
        }
    }

    /// Code point order, which is UTF-8 byte order.
    static func ordinal(_ a: String, _ b: String) -> Int {
        if a.isOrdinallyEqual(to: b) { return 0 }
        return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
    }

    static func isBool(_ value: CosmosValue) -> Bool {
        if case .bool = value { return true }
        return false
    }

    /// ORDER BY's ranks: undefined < null < booleans < numbers < strings < arrays < objects (what the SDKs' merge
    /// comparators assume for the first five).
    static func typeRank(_ value: CosmosValue?) -> Int {
        switch value {
        case nil: return 0
        case .null?: return 1
        case .bool?: return 2
        case .number?: return 4
        case .string?: return 5
        case .array?: return 6
        case .object?: return 7
        }
    }

    /// A total order for sorting (ORDER BY, MIN/MAX): by type rank, then by value within numbers, strings and
    /// booleans (false < true); arrays and objects tie.
    static func orderCompare(_ lhs: CosmosValue?, _ rhs: CosmosValue?) -> Int {
        let rankDifference = typeRank(lhs) - typeRank(rhs)
        if rankDifference != 0 { return rankDifference < 0 ? -1 : 1 }
        return compare(lhs, rhs) ?? 0
    }

    static func aggregate(_ name: String, _ values: [CosmosValue]) -> CosmosValue? {
        switch name {
        case "COUNT": return .number(Double(values.count))
        case "SUM", "AVG":
            var sum = 0.0
            for value in values {
                guard case .number(let number) = value else { return nil }
                sum += number
            }
            guard sum.isFinite else { return nil }
            if name == "SUM" { return .number(sum) }
            return values.isEmpty ? nil : .number(sum / Double(values.count))
        case "MIN", "MAX":
            let candidates = values.filter { typeRank($0) <= 5 }
            guard candidates.count == values.count, var best = candidates.first else { return nil }
            for value in candidates.dropFirst() {
                let order = orderCompare(value, best)
                if name == "MIN" ? order < 0 : order > 0 { best = value }
            }
            return best
        default: return nil
        }
    }

    static func call(_ name: String, _ arguments: [CosmosValue?]) -> CosmosValue? {
        let first = arguments.first ?? nil
        let second = arguments.count > 1 ? arguments[1] : nil
        let flag = arguments.count > 2 ? arguments[2] : nil
        switch name {
        case "IS_DEFINED": return .bool(first != nil)
        case "IS_NULL": return .bool(first == .null)
        case "IS_STRING": if case .string? = first { return .bool(true) }; return .bool(false)
        case "IS_NUMBER": if case .number? = first { return .bool(true) }; return .bool(false)
        case "IS_BOOL": if case .bool? = first { return .bool(true) }; return .bool(false)
        case "IS_ARRAY": if case .array? = first { return .bool(true) }; return .bool(false)
        case "IS_OBJECT": if case .object? = first { return .bool(true) }; return .bool(false)
        case "IS_PRIMITIVE":
            switch first {
            case .null?, .bool?, .number?, .string?: return .bool(true)
            default: return .bool(false)
            }
        case "LOWER": return first?.stringValue.map { .string($0.lowercased()) }
        case "UPPER": return first?.stringValue.map { .string($0.uppercased()) }
        // Code points, as the other string functions count (Swift's `count` is user-perceived characters).
        case "LENGTH": return first?.stringValue.map { .number(Double($0.unicodeScalars.count)) }
        case "ARRAY_LENGTH":
            if case .array(let items)? = first { return .number(Double(items.count)) }
            return nil
        case "ARRAY_CONTAINS":
            guard case .array(let items)? = first, let needle = second else { return nil }
            var partial = false
            if let flag { guard case .bool(let value) = flag else { return nil }; partial = value }
            return .bool(items.contains { partial ? contains($0, needle) : $0 == needle })
        case "STARTSWITH", "ENDSWITH", "CONTAINS":
            guard case .string(var text)? = first, case .string(var part)? = second else { return nil }
            if let flag {
                guard case .bool(let ignoreCase) = flag else { return nil }
                if ignoreCase { text = text.lowercased(); part = part.lowercased() }
            }
            let (t, p) = (Array(text.unicodeScalars), Array(part.unicodeScalars))
            switch name {
            case "STARTSWITH": return .bool(t.starts(with: p))
            case "ENDSWITH": return .bool(t.reversed().starts(with: p.reversed()))
            default:
                return .bool(Self.occurs(p, in: t))
            }
        default: return nil
        }
    }

    /// Whether `needle` occurs in `text`, in time linear in both (Knuth–Morris–Pratt). Both come from the request:
    /// a naive scan for a long near-match ("a…ab" in "a…a") is quadratic — ~10¹² steps for megabyte strings, on
    /// the event loop's thread.
    static func occurs(_ needle: [Unicode.Scalar], in text: [Unicode.Scalar]) -> Bool {
        if needle.isEmpty { return true }
        guard text.count >= needle.count else { return false }
        // border[i]: the length of the longest proper prefix of needle[...i] that is also its suffix.
        var border = [Int](repeating: 0, count: needle.count)
        var matched = 0
        for index in needle.indices.dropFirst() {
            while matched > 0, needle[index] != needle[matched] { matched = border[matched - 1] }
            if needle[index] == needle[matched] { matched += 1 }
            border[index] = matched
        }
        matched = 0
        for scalar in text {
            while matched > 0, scalar != needle[matched] { matched = border[matched - 1] }
            if scalar == needle[matched] { matched += 1 }
            if matched == needle.count { return true }
        }
        return false
    }

    /// Partial match for `ARRAY_CONTAINS(…, true)`: every member of `needle` (an object) is in `value`.
    static func contains(_ value: CosmosValue, _ needle: CosmosValue) -> Bool {
        guard let wanted = needle.objectMembers else { return value == needle }
        guard value.objectMembers != nil else { return false }
        return wanted.allSatisfy { key, expected in value[key].map { contains($0, expected) } ?? false }
    }
}
