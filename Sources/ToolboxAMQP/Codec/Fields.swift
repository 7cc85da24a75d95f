/// Typed access to the fields of a described list (performatives, sections, outcomes).
///
/// Missing trailing fields and `null` read as nil; a field of the wrong type is a decoding error naming
/// the field, so a peer's mistake is reported precisely.
struct FieldReader {
    let type: String
    let fields: [AMQPValue]

    init(_ type: String, _ value: AMQPValue) throws {
        self.type = type
        switch value {
        case .list(let items): fields = items
        default: throw AMQPError(.decoding, "\(type) must be a described list, got \(value)")
        }
    }

    /// The fields of `value`, which must be the described list with descriptor `code` (a `type`).
    init(_ type: String, described value: AMQPValue, code: UInt64) throws {
        guard value.descriptorCode == code, let inner = value.describedValue else {
            let article = type.first.map { "aeiou".contains($0) } == true ? "an" : "a"
            throw AMQPError(.decoding, "expected \(article) \(type) (0x\(String(code, radix: 16))), got \(value)")
        }
        try self.init(type, inner)
    }

    subscript(index: Int) -> AMQPValue { index < fields.count ? fields[index] : .null }

    private func mismatch(_ index: Int, _ name: String, _ expected: String) -> AMQPError {
        AMQPError(.decoding, "\(type).\(name) (field \(index)) must be \(expected), got \(self[index])")
    }

    func required<T>(_ value: T?, _ index: Int, _ name: String) throws -> T {
        guard let value else { throw AMQPError(.decoding, "\(type).\(name) (field \(index)) is mandatory") }
        return value
    }

    /// Field `i` as the type `extract` accepts: nil for null or missing, a mismatch error naming `expected`
    /// for any other type.
    private func typed<T>(_ i: Int, _ name: String, _ expected: String, _ extract: (AMQPValue) -> T?) throws -> T? {
        let value = self[i]
        if value.isNull { return nil }
        guard let typed = extract(value) else { throw mismatch(i, name, expected) }
        return typed
    }

    func bool(_ i: Int, _ name: String) throws -> Bool? {
        try typed(i, name, "boolean") { if case .bool(let v) = $0 { v } else { nil } }
    }

    func ubyte(_ i: Int, _ name: String) throws -> UInt8? {
        try typed(i, name, "ubyte") { if case .ubyte(let v) = $0 { v } else { nil } }
    }

    func ushort(_ i: Int, _ name: String) throws -> UInt16? {
        try typed(i, name, "ushort") { if case .ushort(let v) = $0 { v } else { nil } }
    }

    func uint(_ i: Int, _ name: String) throws -> UInt32? {
        try typed(i, name, "uint") { if case .uint(let v) = $0 { v } else { nil } }
    }

    func ulong(_ i: Int, _ name: String) throws -> UInt64? {
        try typed(i, name, "ulong") { if case .ulong(let v) = $0 { v } else { nil } }
    }

    func string(_ i: Int, _ name: String) throws -> String? {
        try typed(i, name, "string") { if case .string(let v) = $0 { v } else { nil } }
    }

    func symbol(_ i: Int, _ name: String) throws -> AMQPSymbol? {
        try typed(i, name, "symbol") { if case .symbol(let v) = $0 { v } else { nil } }
    }

    func binary(_ i: Int, _ name: String) throws -> [UInt8]? {
        try typed(i, name, "binary") { if case .binary(let v) = $0 { v } else { nil } }
    }

    func timestamp(_ i: Int, _ name: String) throws -> Int64? {
        try typed(i, name, "timestamp") { if case .timestamp(let v) = $0 { v } else { nil } }
    }

    func map(_ i: Int, _ name: String) throws -> AMQPMap? {
        try typed(i, name, "map") { if case .map(let v) = $0 { v } else { nil } }
    }

    /// A `multiple="true"` symbol field: a single symbol or an array of symbols.
    func symbols(_ i: Int, _ name: String) throws -> [AMQPSymbol]? {
        switch self[i] {
        case .null: return nil
        case .symbol(let v): return [v]
        case .array(let array) where array.elementType == .symbol:
            return array.elements.compactMap { if case .symbol(let s) = $0 { s } else { nil } }
        default: throw mismatch(i, name, "symbol or array of symbols")
        }
    }

    func error(_ i: Int, _ name: String) throws -> AMQPRemoteError? {
        if self[i].isNull { return nil }
        return try AMQPRemoteError(described: self[i])
    }
}

extension AMQPValue {
    /// Helpers for building field lists: nil becomes `null`.
    static func optional<T>(_ value: T?, _ wrap: (T) -> AMQPValue) -> AMQPValue {
        guard let value else { return .null }
        return wrap(value)
    }

    static func symbols(_ symbols: [AMQPSymbol]?) -> AMQPValue {
        guard let symbols else { return .null }
        return .array(.symbols(symbols))
    }

    /// The descriptor code of a described value, accepting both the ulong code and the symbolic name.
    var descriptorCode: UInt64? {
        guard case .described(let descriptor, _) = self else { return nil }
        switch descriptor {
        case .ulong(let code): return code
        case .symbol(let name): return AMQPDescriptors.code(forName: name.rawValue)
        default: return nil
        }
    }

    var describedValue: AMQPValue? {
        guard case .described(_, let value) = self else { return nil }
        return value
    }

    /// The descriptor code and the value it describes; throws `error` when this is not a described value
    /// with a known descriptor.
    func describedParts(orThrow error: @autoclosure () -> AMQPError) throws -> (code: UInt64, value: AMQPValue) {
        guard let code = descriptorCode, let inner = describedValue else { throw error() }
        return (code, inner)
    }
}

/// Descriptor codes (domain 0x00000000) and their symbolic names, from the specification.
enum AMQPDescriptors {
    static let names: [String: UInt64] = [
        "amqp:open:list": 0x10, "amqp:begin:list": 0x11, "amqp:attach:list": 0x12, "amqp:flow:list": 0x13,
        "amqp:transfer:list": 0x14, "amqp:disposition:list": 0x15, "amqp:detach:list": 0x16,
        "amqp:end:list": 0x17, "amqp:close:list": 0x18, "amqp:error:list": 0x1d,
        "amqp:received:list": 0x23, "amqp:accepted:list": 0x24, "amqp:rejected:list": 0x25,
        "amqp:released:list": 0x26, "amqp:modified:list": 0x27, "amqp:source:list": 0x28,
        "amqp:target:list": 0x29, "amqp:sasl-mechanisms:list": 0x40, "amqp:sasl-init:list": 0x41,
        "amqp:sasl-challenge:list": 0x42, "amqp:sasl-response:list": 0x43, "amqp:sasl-outcome:list": 0x44,
        "amqp:header:list": 0x70, "amqp:delivery-annotations:map": 0x71, "amqp:message-annotations:map": 0x72,
        "amqp:properties:list": 0x73, "amqp:application-properties:map": 0x74, "amqp:data:binary": 0x75,
        "amqp:amqp-sequence:list": 0x76, "amqp:amqp-value:*": 0x77, "amqp:footer:map": 0x78,
    ]

    static func code(forName name: String) -> UInt64? { names[name] }
}

extension AMQPRemoteError {
    /// Decodes an `error` (0x1d) described list.
    init(described value: AMQPValue) throws {
        let f = try FieldReader("error", described: value, code: 0x1d)
        self.init(
            condition: try f.required(f.symbol(0, "condition"), 0, "condition"),
            description: try f.string(1, "description"),
            info: try f.map(2, "info"))
    }

    /// The `error` described list.
    var encoded: AMQPValue {
        .described(
            descriptor: .ulong(0x1d),
            value: .list(trimmed([.symbol(condition), .optional(errorDescription) { .string($0) }, .optional(info) { .map($0) }])))
    }
}

/// Drops trailing nulls, which the specification lets an encoder omit.
func trimmed(_ fields: [AMQPValue]) -> [AMQPValue] {
    var count = fields.count
    while count > 0, fields[count - 1].isNull { count -= 1 }
    return Array(fields[0..<count])
}

func describedList(_ code: UInt64, _ fields: [AMQPValue]) -> AMQPValue {
    .described(descriptor: .ulong(code), value: .list(trimmed(fields)))
}
