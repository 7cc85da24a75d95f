/// Cosmos DB partial document update: `{"operations": [{"op": "add|set|replace|remove|incr|move", "path": "/a/0",
/// "value": …, "from": …}], "condition": "from c where …"}` applied in order, all or nothing.
///
/// Semantics as the service documents them: `add` creates or replaces a member and inserts into arrays (index or
/// `-` to append); `set` is `add` except that an array index is overwritten; `replace` and `remove` need the target
/// to exist; `incr` adds a number (creating the member when absent); `move` removes `from` and sets it at `path`.
struct CosmosPatch {
    enum Kind: String { case add, set, replace, remove, incr, move }

    struct Operation {
        var kind: Kind
        var path: [String]
        var rawPath: String
        var value: CosmosValue?
        var from: [String]?
    }

    /// The service's cap on operations in one patch.
    static let maxOperations = 10

    var operations: [Operation]
    var condition: String?

    init(body: CosmosValue) throws(CosmosFailure) {
        guard case .array(let list)? = body["operations"] else {
            throw .badRequest("The patch body needs an 'operations' array.")
        }
        guard !list.isEmpty else { throw .badRequest("The patch has no operations.") }
        guard list.count <= Self.maxOperations else {
            throw .badRequest("The patch has \(list.count) operations; at most \(Self.maxOperations) are allowed.")
        }
        var operations: [Operation] = []
        for entry in list {
            guard let name = entry["op"]?.stringValue, let kind = Kind(rawValue: name.lowercased()) else {
                throw .badRequest("Unsupported patch operation '\(entry["op"]?.json ?? "")'; use add, set, replace, remove, incr or move.")
            }
            guard let rawPath = entry["path"]?.stringValue else { throw .badRequest("Patch operation '\(name)' needs a 'path'.") }
            let path = try Self.pointer(rawPath)
            var from: [String]?
            if kind == .move {
                guard let rawFrom = entry["from"]?.stringValue else { throw .badRequest("Patch operation 'move' needs a 'from' path.") }
                from = try Self.pointer(rawFrom)
            }
            let value = entry["value"]
            if [.add, .set, .replace, .incr].contains(kind), value == nil {
                throw .badRequest("Patch operation '\(name)' on \(rawPath) needs a 'value'.")
            }
            if kind == .incr, value?.numberValue == nil {
                throw .badRequest("Patch operation 'incr' on \(rawPath) needs a numeric value.")
            }
            operations.append(Operation(kind: kind, path: path, rawPath: rawPath, value: value, from: from))
        }
        self.operations = operations
        if let condition = body["condition"] {
            guard let text = condition.stringValue else { throw .badRequest("The patch 'condition' must be a string (from c where …).") }
            self.condition = text
        }
    }

    /// `/a/b~1c/0` → `["a", "b/c", "0"]`.
    static func pointer(_ text: String) throws(CosmosFailure) -> [String] {
        guard text.hasPrefix("/"), text.count > 1 else {
            throw .badRequest("The patch path '\(text)' is not a JSON pointer like /member or /array/0.")
        }
        return text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    func apply(to document: CosmosValue) throws(CosmosFailure) -> CosmosValue {
        var result = document
        for operation in operations {
            if let first = operation.path.first, first.hasPrefix("_") || (operation.path.count == 1 && first == "id") {
                throw .badRequest("Patch cannot change the system property or id at \(operation.rawPath).")
            }
            switch operation.kind {
            case .move:
                let from = operation.from ?? []
                guard let moved = Self.get(result, from) else {
                    throw .badRequest("Patch 'move' failed: the source path /\(from.joined(separator: "/")) does not exist.")
                }
                guard !(operation.path.count > from.count && Array(operation.path.prefix(from.count)) == from) else {
                    throw .badRequest("Patch 'move' cannot move \(operation.rawPath)'s ancestor into it.")
                }
                try Self.update(&result, from[...], rawPath: operation.rawPath) { _, _ throws(CosmosFailure) in .remove }
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { _, _ in .set(moved) }
            case .remove:
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { existing, _ throws(CosmosFailure) in
                    guard existing != nil else { throw .badRequest("Patch 'remove' failed: \(operation.rawPath) does not exist.") }
                    return .remove
                }
            case .replace:
                let value = operation.value ?? .null
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { existing, _ throws(CosmosFailure) in
                    guard existing != nil else { throw .badRequest("Patch 'replace' failed: \(operation.rawPath) does not exist.") }
                    return .set(value)
                }
            case .set:
                let value = operation.value ?? .null
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { _, _ in .set(value) }
            case .add:
                let value = operation.value ?? .null
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { _, isArray in isArray ? .insert(value) : .set(value) }
            case .incr:
                let delta = operation.value?.numberValue ?? 0
                try Self.update(&result, operation.path[...], rawPath: operation.rawPath) { existing, _ throws(CosmosFailure) in
                    guard let existing else { return .set(.number(delta)) }
                    guard case .number(let number) = existing else {
                        throw .badRequest("Patch 'incr' failed: \(operation.rawPath) is not a number.")
                    }
                    let sum = number + delta
                    guard sum.isFinite else { throw .badRequest("Patch 'incr' on \(operation.rawPath) overflows.") }
                    return .set(.number(sum))
                }
            }
        }
        return result
    }

    enum Change { case set(CosmosValue), insert(CosmosValue), remove }

    static func get(_ value: CosmosValue, _ path: [String]) -> CosmosValue? {
        var current: CosmosValue? = value
        for component in path {
            switch current {
            case .object?: current = current?[component]
            case .array(let items)?:
                guard let index = Int(component), items.indices.contains(index) else { return nil }
                current = items[index]
            default: return nil
            }
        }
        return current
    }

    /// Walks to the parent of `path` (which must exist) and applies `change` to the last component; `change` gets
    /// the current value there (nil if absent) and whether the parent is an array.
    static func update(_ value: inout CosmosValue, _ path: ArraySlice<String>, rawPath: String,
                       _ change: (CosmosValue?, Bool) throws(CosmosFailure) -> Change) throws(CosmosFailure) {
        guard let component = path.first else { return }
        let rest = path.dropFirst()
        switch value {
        case .object:
            if rest.isEmpty {
                switch try change(value[component], false) {
                case .set(let new), .insert(let new): value.setMember(component, new)
                case .remove: value.removeMember(component)
                }
                return
            }
            guard var child = value[component] else {
                throw .badRequest("Patch failed: the parent of \(rawPath) does not exist.")
            }
            try update(&child, rest, rawPath: rawPath, change)
            value.setMember(component, child)
        case .array(var items):
            let isAppend = component == "-"
            guard isAppend || Int(component) != nil, let index = isAppend ? items.count : Int(component),
                  index >= 0, index <= items.count
            else { throw .badRequest("Patch failed: \(rawPath) has an array index out of range.") }
            if rest.isEmpty {
                let existing = index < items.count ? items[index] : nil
                switch try change(existing, true) {
                case .insert(let new): items.insert(new, at: index)
                case .set(let new):
                    if index < items.count { items[index] = new } else { items.append(new) }
                case .remove:
                    guard index < items.count else { throw .badRequest("Patch failed: \(rawPath) does not exist.") }
                    items.remove(at: index)
                }
                value = .array(items)
                return
            }
            guard index < items.count else { throw .badRequest("Patch failed: the parent of \(rawPath) does not exist.") }
            try update(&items[index], rest, rawPath: rawPath, change)
            value = .array(items)
        default:
            throw .badRequest("Patch failed: the parent of \(rawPath) is not an object or array.")
        }
    }
}
