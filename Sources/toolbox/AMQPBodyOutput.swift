import Foundation
import ToolboxAMQP

/// How `toolbox amqp receive --print-bodies` shows a message body, whatever kind it is (issue 13 item 2).
///
/// - `body_kind`: `data`, `amqp-value`, `amqp-sequence` or `none`.
/// - `body_base64`: the bytes — all data sections concatenated, or an amqp-value's binary or UTF-8 string;
///   for any other amqp-value or a sequence, the AMQP encoding of the body sections.
/// - `body_text`: an amqp-value string, as is.
/// - `body_json`: an amqp-value that is neither binary nor string, and sequences (a list of lists), as JSON.
/// - `size`: the number of bytes in `body_base64`.
enum AMQPBodyOutput {
    static func fields(_ message: AMQPMessage) -> [String: Any] {
        var fields: [String: Any]
        let bytes: [UInt8]
        switch message.body {
        case .none:
            fields = ["body_kind": "none"]
            bytes = []
        case .data(let sections):
            fields = ["body_kind": "data"]
            bytes = sections.flatMap { $0 }
        case .value(.binary(let binary)):
            fields = ["body_kind": "amqp-value"]
            bytes = binary
        case .value(.string(let text)):
            fields = ["body_kind": "amqp-value", "body_text": text]
            bytes = Array(text.utf8)
        case .value(let value):
            fields = ["body_kind": "amqp-value", "body_json": json(value)]
            bytes = AMQPEncoder.encode(value)
        case .sequence(let sections):
            fields = ["body_kind": "amqp-sequence", "body_json": sections.map { $0.map(json) }]
            bytes = sections.flatMap { AMQPEncoder.encode(.list($0)) }
        }
        fields["body_base64"] = Data(bytes).base64EncodedString()
        fields["size"] = bytes.count
        return fields
    }

    /// An AMQP value as something JSONSerialization writes: numbers, strings, arrays and objects (map keys as
    /// their text); binary as base64, timestamps as milliseconds, described values as {descriptor, value}.
    static func json(_ value: AMQPValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let v): return v
        case .ubyte(let v): return Int(v)
        case .ushort(let v): return Int(v)
        case .uint(let v): return Int(v)
        case .ulong(let v): return v <= UInt64(Int64.max) ? Int64(v) as Any : "\(v)"
        case .byte(let v): return Int(v)
        case .short(let v): return Int(v)
        case .int(let v): return Int(v)
        case .long(let v): return v
        case .float(let v): return v.isFinite ? Double(v) as Any : "\(v)"
        case .double(let v): return v.isFinite ? v as Any : "\(v)"
        case .timestamp(let v): return v
        case .uuid(let v): return v.uuidString.lowercased()
        case .binary(let v): return Data(v).base64EncodedString()
        case .string(let v): return v
        case .symbol(let v): return v.rawValue
        case .char(let v): return Unicode.Scalar(v).map { String(Character($0)) } ?? "\(v)"
        case .list(let items): return items.map(json)
        case .array(let array): return array.elements.map(json)
        case .map(let map):
            var object: [String: Any] = [:]
            for entry in map.entries { object[key(entry.key)] = json(entry.value) }
            return object
        case .described(let descriptor, let inner):
            return ["descriptor": json(descriptor), "value": json(inner)]
        default:
            return "\(value)"
        }
    }

    private static func key(_ value: AMQPValue) -> String {
        switch value {
        case .string(let v): return v
        case .symbol(let v): return v.rawValue
        default: return "\(value)"
        }
    }
}
