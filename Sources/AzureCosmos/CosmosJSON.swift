import Foundation
import ToolboxCore

/// A JSON value, for the parts of Cosmos DB's protocol the client itself must read or write: partition key
/// values, query parameters, patch values, query plans and the per-range results it merges.
///
/// ```swift
/// let value = try CosmosJSON(parsing: Array(#"{"id": "a", "n": 3}"#.utf8))
/// value["n"]                       // .integer(3)
/// ```
///
/// Numbers keep their integer-ness when they have no fraction and fit in `Int64`. Ordering (`cosmosCompare`)
/// follows Cosmos DB's ORDER BY across types: undefined < null < booleans < numbers < strings < arrays < objects.
public enum CosmosJSON: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([CosmosJSON])
    case object([String: CosmosJSON])

    /// Containers are tried first and scalars last, so a value costs at most a few failed tries, each of which
    /// builds an error with the whole coding path: arrays nested 500 deep cost no failed try at all (tried after the
    /// scalars, they cost five per level, each as long as the path — seconds per field). Bytes are best parsed with
    /// `init(parsing:)`, which does not go through a `Decoder`.
    public init(from decoder: any Decoder) throws {
        if var elements = try? decoder.unkeyedContainer() {
            var array: [CosmosJSON] = []
            if let count = elements.count { array.reserveCapacity(count) }
            while !elements.isAtEnd { array.append(try elements.decode(CosmosJSON.self)) }
            self = .array(array)
            return
        }
        if let members = try? decoder.container(keyedBy: MemberName.self) {
            var object: [String: CosmosJSON] = [:]
            for key in members.allKeys { object[key.stringValue] = try members.decode(CosmosJSON.self, forKey: key) }
            self = .object(object)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else {
            self = .double(try container.decode(Double.self))
        }
    }

    /// Any member name of an object.
    private struct MemberName: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text (one value, nothing after it but whitespace) in time linear in its length; a typed
    /// `.invalidJSON` error names `what`, the fault and its byte offset when it is not JSON.
    public init(parsing bytes: [UInt8], what: String = "the JSON document") throws(ToolboxError) {
        do {
            self = try CosmosJSONParser.parse(bytes)
        } catch {
            throw ToolboxError(.invalidJSON, "\(what) is not valid JSON: \(error)", underlying: error)
        }
    }

    /// Parses a JSON value given on a command line or in a config: `"a"`, `7`, `true`, `null`, `{...}`.
    public init(parsing text: String, what: String = "the JSON value") throws(ToolboxError) {
        try self.init(parsing: Array(text.utf8), what: what)
    }

    /// Compact JSON text (object keys sorted, so equal values serialize alike).
    public var jsonBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a value of this enum cannot fail except for non-finite doubles, which JSON cannot carry:
        // those become null, as JavaScript's JSON.stringify does.
        if let data = try? encoder.encode(self) { return Array(data) }
        return Array("null".utf8)
    }

    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    public var description: String { jsonString }

    /// The member `key` of an object, nil otherwise.
    public subscript(key: String) -> CosmosJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value as a `Double` when it is a number.
    public var numberValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [CosmosJSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Rank of the type in Cosmos DB's cross-type ordering.
    /// Cosmos DB's type order: undefined (0) < null < bool < number < string < array < object.
    var typeRank: Int {
        switch self {
        case .null: return 1
        case .bool: return 2
        case .integer, .double: return 3
        case .string: return 4
        case .array: return 5
        case .object: return 6
        }
    }

    /// Cosmos DB's ORDER BY comparison; nil stands for undefined (a missing property), which sorts first.
    public static func cosmosCompare(_ lhs: CosmosJSON?, _ rhs: CosmosJSON?) -> Int {
        guard let lhs else { return rhs == nil ? 0 : -1 }
        guard let rhs else { return 1 }
        if lhs.typeRank != rhs.typeRank { return lhs.typeRank < rhs.typeRank ? -1 : 1 }
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): return a == b ? 0 : (!a ? -1 : 1)
        case (.integer(let a), .integer(let b)): return a == b ? 0 : (a < b ? -1 : 1)
        case (.string(let a), .string(let b)):
            // Ordinal (UTF-8 byte) order, as the service compares strings; Swift's `==` would call canonically
            // equivalent strings ("é", "e\u{301}") equal and break the order's transitivity.
            return ordinal(a, b)
        default:
            if let a = lhs.numberValue, let b = rhs.numberValue { return a == b ? 0 : (a < b ? -1 : 1) }
            return ordinal(lhs.jsonString, rhs.jsonString)
        }
    }

    private static func ordinal(_ a: String, _ b: String) -> Int {
        if a.utf8.elementsEqual(b.utf8) { return 0 }
        return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
    }
}

extension ToolboxError.Code {
    /// Bytes that should have been JSON (a document, a service answer, a command-line value) are not.
    public static let invalidJSON = Self("invalidJSON")
}
