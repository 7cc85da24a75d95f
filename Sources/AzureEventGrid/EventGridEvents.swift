#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ToolboxCore

/// An event's `data`: JSON text, checked to be valid when it is made.
///
/// ```swift
/// let data = try EventGridData(["orderId": 42])                // like the Python toolbox's dict
/// let same = try EventGridData(encoding: Order(id: 42))        // any Encodable
/// let raw = try EventGridData(json: Array(#"{"orderId":42}"#.utf8))
/// ```
public struct EventGridData: Sendable, Equatable, CustomStringConvertible {
    /// The JSON text, as it goes on the wire.
    public let json: [UInt8]

    /// JSON `null`.
    public static let null = EventGridData(validated: Array("null".utf8))

    /// Raw JSON text (any JSON value).
    ///
    /// - throws: `.invalidArgument` when `json` is not valid JSON.
    public init(json: [UInt8]) throws(ToolboxError) {
        guard (try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])) != nil else {
            throw ToolboxError(.invalidArgument, "the event data is not valid JSON")
        }
        self.json = json
    }

    /// A JSON object, array or value from Foundation types (`[String: Any]`, `[Any]`, `String`, `NSNumber`, …), as
    /// the Python toolbox takes a dict.
    ///
    /// - throws: `.invalidArgument` when `value` holds something JSON cannot represent.
    public init(_ value: Any) throws(ToolboxError) {
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        else {
            throw ToolboxError(.invalidArgument, "the event data (\(type(of: value))) cannot be written as JSON")
        }
        json = Array(data)
    }

    /// Any `Encodable`, written with `encoder`.
    ///
    /// - throws: `.invalidArgument` with the encoder's reason.
    public init<Value: Encodable>(encoding value: Value, encoder: JSONEncoder = JSONEncoder()) throws(ToolboxError) {
        do {
            json = Array(try encoder.encode(value))
        } catch {
            throw ToolboxError(.invalidArgument, "the event data could not be encoded as JSON: \(error)", underlying: error)
        }
    }

    private init(validated: [UInt8]) { json = validated }

    /// Decodes the JSON into `type`.
    public func decode<Value: Decodable>(_ type: Value.Type, decoder: JSONDecoder = JSONDecoder()) throws -> Value {
        try decoder.decode(type, from: Data(json))
    }

    public var description: String { String(decoding: json, as: UTF8.self) }
}

/// An event in Event Grid's own schema, as azure-eventgrid's `EventGridEvent` sends it.
///
/// `id` (a UUID) and `eventTime` (now) are filled in when not given; `dataVersion` defaults to `"v1"` as in the
/// Python toolbox's `emit_event`.
public struct EventGridEvent: Sendable, Equatable {
    public var id: String
    public var subject: String
    public var eventType: String
    public var data: EventGridData
    public var dataVersion: String
    public var eventTime: Date
    /// The full resource path of the topic; Event Grid fills it in when absent.
    public var topic: String?

    public init(subject: String, eventType: String, data: EventGridData, dataVersion: String = "v1",
                id: String = UUID().uuidString.lowercased(), eventTime: Date = Date(), topic: String? = nil) {
        self.id = id
        self.subject = subject
        self.eventType = eventType
        self.data = data
        self.dataVersion = dataVersion
        self.eventTime = eventTime
        self.topic = topic
    }
}

/// A CloudEvents 1.0 event, as azure-core's `CloudEvent` sends it (JSON format; binary data as `data_base64`).
public struct CloudEvent: Sendable, Equatable {
    /// The payload: JSON (`data`), or bytes (`data_base64`).
    public enum Payload: Sendable, Equatable {
        case json(EventGridData)
        case binary([UInt8])
    }

    public var id: String
    public var source: String
    public var type: String
    public var data: Payload?
    public var subject: String?
    public var time: Date?
    public var dataContentType: String?
    public var dataSchema: String?
    /// Extension attributes: names of lower-case letters and digits, values any JSON.
    public var extensions: [String: EventGridData]
    /// Always `"1.0"`.
    public var specVersion: String { "1.0" }

    public init(source: String, type: String, data: Payload? = nil, subject: String? = nil,
                id: String = UUID().uuidString.lowercased(), time: Date? = Date(), dataContentType: String? = nil,
                dataSchema: String? = nil, extensions: [String: EventGridData] = [:]) {
        self.id = id
        self.source = source
        self.type = type
        self.data = data
        self.subject = subject
        self.time = time
        self.dataContentType = dataContentType
        self.dataSchema = dataSchema
        self.extensions = extensions
    }
}

/// The JSON the service takes, written by hand so each event's `data` goes out exactly as given.
enum EventGridWire {
    static let reservedCloudEventNames: Set<String> = [
        "id", "source", "type", "specversion", "data", "data_base64", "subject", "time", "datacontenttype",
        "dataschema",
    ]

    /// `[{…}, {…}]` in azure-eventgrid's field order.
    static func body(_ events: [EventGridEvent]) -> [UInt8] {
        array(events.map { event in
            var fields: [(String, [UInt8])] = [
                ("id", string(event.id)), ("subject", string(event.subject)), ("data", event.data.json),
                ("eventType", string(event.eventType)), ("eventTime", string(timestamp(event.eventTime))),
                ("dataVersion", string(event.dataVersion)),
            ]
            if let topic = event.topic { fields.append(("topic", string(topic))) }
            return object(fields)
        })
    }

    static func body(_ events: [CloudEvent]) -> [UInt8] {
        array(events.map { event in
            var fields: [(String, [UInt8])] = [
                ("id", string(event.id)), ("source", string(event.source)), ("type", string(event.type)),
                ("specversion", string(event.specVersion)),
            ]
            switch event.data {
            case .json(let data): fields.append(("data", data.json))
            case .binary(let bytes): fields.append(("data_base64", string(Data(bytes).base64EncodedString())))
            case nil: break
            }
            if let time = event.time { fields.append(("time", string(timestamp(time)))) }
            if let subject = event.subject { fields.append(("subject", string(subject))) }
            if let type = event.dataContentType { fields.append(("datacontenttype", string(type))) }
            if let schema = event.dataSchema { fields.append(("dataschema", string(schema))) }
            for (name, value) in event.extensions.sorted(by: { $0.key < $1.key }) { fields.append((name, value.json)) }
            return object(fields)
        })
    }

    /// What is wrong with a CloudEvent's extension names, or nil (CloudEvents: `[a-z0-9]+`, not a core name).
    static func extensionProblem(_ events: [CloudEvent]) -> String? {
        for event in events {
            for name in event.extensions.keys {
                let valid = !name.isEmpty && name.utf8.allSatisfy {
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                }
                if !valid { return "the CloudEvent extension name '\(name)' must use only a-z and 0-9" }
                if reservedCloudEventNames.contains(name) {
                    return "the CloudEvent extension name '\(name)' is a core attribute"
                }
            }
        }
        return nil
    }

    /// `2026-11-25T20:20:18.461078Z`: UTC with microseconds, as the SDK writes `eventTime`.
    static func timestamp(_ date: Date) -> String {
        // Dates outside years 1–9999 (or not finite) are written as the nearest end of that range.
        let interval = date.timeIntervalSince1970.isFinite
            ? min(max(date.timeIntervalSince1970, -62_135_596_800), 253_402_300_799) : 0
        let seconds = interval.rounded(.down)
        var micros = Int(((interval - seconds) * 1_000_000).rounded())
        var whole = Int(seconds)
        if micros >= 1_000_000 {
            whole += 1
            micros -= 1_000_000
        }
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let fraction = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z"
    }

    private static func array(_ items: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, item) in items.enumerated() {
            if index > 0 { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            out += item
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    private static func object(_ fields: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            out += string(name) + [UInt8(ascii: ":"), UInt8(ascii: " ")] + value
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal (RFC 8259 escaping; non-ASCII kept as UTF-8).
    static func string(_ text: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}
