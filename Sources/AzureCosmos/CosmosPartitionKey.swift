import ToolboxCore

/// A partition key value: string, number, boolean or null (Cosmos DB's four JSON scalar kinds), or several
/// values for a container with a hierarchical (MultiHash) key.
///
/// ```swift
/// try cosmos.readItem(id: "1", partitionKey: "tenant-a")   // string literal
/// try cosmos.readItem(id: "2", partitionKey: 7)            // number literal
/// try cosmos.readItem(id: "3", partitionKey: .null)
/// ```
///
/// Sent in `x-ms-documentdb-partitionkey` as a JSON array: `["tenant-a"]`, `[7]`, `[true]`, `[null]`; `.none`
/// (an item without the key property) is `[{}]`.
public enum CosmosPartitionKey: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    /// The item has no value at the partition key path ("undefined").
    case none
    /// Values of a hierarchical partition key, outermost first.
    case hierarchical([CosmosPartitionKey])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }

    /// A partition key from a JSON value: `"a"`, `7`, `true`, `null`, or an array for a hierarchical key.
    /// - throws: `.invalidArgument` for objects (other than `{}`, undefined) and nested arrays.
    public init(json: CosmosJSON) throws(ToolboxError) {
        switch json {
        case .string(let value): self = .string(value)
        case .integer(let value): self = .number(Double(value))
        case .double(let value): self = .number(value)
        case .bool(let value): self = .bool(value)
        case .null: self = .null
        case .object(let members) where members.isEmpty: self = .none
        case .array(let values):
            var parts: [CosmosPartitionKey] = []
            for value in values {
                if case .array = value {
                    throw ToolboxError(.invalidArgument, "a hierarchical partition key cannot nest arrays")
                }
                parts.append(try CosmosPartitionKey(json: value))
            }
            self = .hierarchical(parts)
        case .object:
            throw ToolboxError(.invalidArgument, "a partition key value must be a string, number, boolean or null, "
                + "not an object")
        }
    }

    /// Parses a command-line value: JSON (`"a"`, `7`, `true`, `null`), and any text that is not JSON is taken
    /// as a string (`tenant-a`).
    public init(commandLine text: String) throws(ToolboxError) {
        if let json = try? CosmosJSON(parsing: text) {
            try self.init(json: json)
        } else {
            self = .string(text)
        }
    }

    /// The JSON value of one component (undefined is `{}`).
    var json: CosmosJSON {
        switch self {
        case .string(let value): return .string(value)
        case .number(let value):
            if value.rounded() == value, let exact = Int64(exactly: value) { return .integer(exact) }
            return .double(value)
        case .bool(let value): return .bool(value)
        case .null: return .null
        case .none: return .object([:])
        case .hierarchical(let parts): return .array(parts.map(\.json))
        }
    }

    /// The `x-ms-documentdb-partitionkey` header value.
    public var headerValue: String {
        // Sent on every item request: the common keys are written directly, byte for byte what the encoder
        // below writes for them, without a JSONEncoder per request.
        switch self {
        case .string(let value) where value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }):
            return "[\"" + value + "\"]"
        case .number(let value) where value.rounded() == value && abs(value) < 1e15:
            if let exact = Int64(exactly: value) { return "[" + String(exact) + "]" }
        case .bool(let value): return value ? "[true]" : "[false]"
        case .null: return "[null]"
        case .none: return "[{}]"
        case .hierarchical(let parts): return CosmosJSON.array(parts.map(\.json)).jsonString
        default: break
        }
        return CosmosJSON.array([json]).jsonString
    }

    public var description: String { headerValue }

    /// The partition key of `document` under the container's key `paths` (`/pk`, `/address/city`): the value
    /// found at each path, `.none` where the path is missing.
    static func extract(from document: CosmosJSON, paths: [String]) throws(ToolboxError) -> CosmosPartitionKey {
        var parts: [CosmosPartitionKey] = []
        for path in paths {
            var current: CosmosJSON? = document
            for segment in CosmosPartitionKey.segments(of: path) { current = current?[segment] }
            if let current {
                switch current {
                case .array, .object:
                    throw ToolboxError(.invalidArgument, "the item's partition key at '\(path)' is an "
                        + "\(current.arrayValue != nil ? "array" : "object"); it must be a string, number, "
                        + "boolean or null")
                default:
                    parts.append(try CosmosPartitionKey(json: current))
                }
            } else {
                parts.append(.none)
            }
        }
        return parts.count == 1 ? parts[0] : .hierarchical(parts)
    }

    /// `/a/b` → `["a", "b"]`; a quoted segment (`/"a/b"`) keeps its slash.
    static func segments(of path: String) -> [String] {
        var segments: [String] = []
        var current = ""
        var quoted = false
        for character in path {
            switch character {
            case "\"": quoted.toggle()
            case "/" where !quoted:
                if !current.isEmpty { segments.append(current) }
                current = ""
            default: current.append(character)
            }
        }
        if !current.isEmpty { segments.append(current) }
        return segments
    }
}
