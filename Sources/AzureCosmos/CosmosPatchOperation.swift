import ToolboxCore

/// One partial-update operation, as the Python toolbox's `PatchOp` builds them.
///
/// ```swift
/// try cosmos.patchItem(id: "1", partitionKey: "a", operations: [
///     .add("/favorite_color", "red"), .remove("/ttl"), .replace("/tax_amount", 14),
///     .set("/items/0/discount", 20.0512), .increment("/total_due", by: 5), .move(from: "/freight", to: "/service_addition"),
/// ])
/// ```
///
/// `set` adds a property if it is missing (except inside an array); `replace` fails if it is missing.
public enum CosmosPatchOperation: Sendable, Hashable {
    case add(_ path: String, _ value: CosmosJSON)
    case remove(_ path: String)
    case replace(_ path: String, _ value: CosmosJSON)
    case set(_ path: String, _ value: CosmosJSON)
    case increment(_ path: String, by: CosmosJSON)
    case move(from: String, to: String)

    /// The wire form: `{"op": "add", "path": "/a", "value": 1}`, `{"op": "move", "from": "/a", "path": "/b"}`.
    public var json: CosmosJSON {
        switch self {
        case .add(let path, let value): return .object(["op": "add", "path": .string(path), "value": value])
        case .remove(let path): return .object(["op": "remove", "path": .string(path)])
        case .replace(let path, let value): return .object(["op": "replace", "path": .string(path), "value": value])
        case .set(let path, let value): return .object(["op": "set", "path": .string(path), "value": value])
        case .increment(let path, let value): return .object(["op": "incr", "path": .string(path), "value": value])
        case .move(let from, let to): return .object(["op": "move", "from": .string(from), "path": .string(to)])
        }
    }

    /// Reads one operation in the wire form (the CLI's `--ops`).
    /// - throws: `.invalidArgument` naming what is missing or wrong.
    public init(json: CosmosJSON) throws(ToolboxError) {
        guard case .object(let members) = json else {
            throw ToolboxError(.invalidArgument, "a patch operation must be a JSON object like "
                + #"{"op": "set", "path": "/a", "value": 1}"#)
        }
        guard let op = members["op"]?.stringValue else {
            throw ToolboxError(.invalidArgument, "a patch operation has no \"op\" string")
        }
        guard let path = members["path"]?.stringValue, path.hasPrefix("/") else {
            throw ToolboxError(.invalidArgument, "the \(op) patch operation needs a \"path\" starting with '/'")
        }
        func value() throws(ToolboxError) -> CosmosJSON {
            guard let value = members["value"] else {
                throw ToolboxError(.invalidArgument, "the \(op) patch operation at \(path) needs a \"value\"")
            }
            return value
        }
        switch op {
        case "add": self = .add(path, try value())
        case "remove": self = .remove(path)
        case "replace": self = .replace(path, try value())
        case "set": self = .set(path, try value())
        case "incr":
            let amount = try value()
            guard amount.numberValue != nil else {
                throw ToolboxError(.invalidArgument, "the incr patch operation at \(path) needs a number value")
            }
            self = .increment(path, by: amount)
        case "move":
            guard let from = members["from"]?.stringValue, from.hasPrefix("/") else {
                throw ToolboxError(.invalidArgument, "the move patch operation needs a \"from\" starting with '/'")
            }
            self = .move(from: from, to: path)
        default:
            throw ToolboxError(.invalidArgument, "unknown patch operation '\(op)'; use add, remove, replace, set, "
                + "incr or move")
        }
    }
}

extension CosmosJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: CosmosJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, CosmosJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
