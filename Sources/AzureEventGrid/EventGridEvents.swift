#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import AzureAuth
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
                id: String = RandomUUID.string(), eventTime: Date = Date(), topic: String? = nil) {
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
                id: String = RandomUUID.string(), time: Date? = Date(), dataContentType: String? = nil,
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
    ///
    /// Written straight into one buffer: building an array per field, object and separator (as before) was most
    /// of this function's cost, which was ~6 % of the client's CPU publishing from 64 callers.
    static func body(_ events: [EventGridEvent]) -> [UInt8] {
        objects(events, bytesEach: 256 + (events.first?.data.json.count ?? 0)) { event, out in
            field("id", first: true, &out)
            appendString(event.id, to: &out)
            field("subject", &out)
            appendString(event.subject, to: &out)
            field("data", &out)
            out.append(contentsOf: event.data.json)
            field("eventType", &out)
            appendString(event.eventType, to: &out)
            field("eventTime", &out)
            appendString(timestamp(event.eventTime), to: &out)
            field("dataVersion", &out)
            appendString(event.dataVersion, to: &out)
            if let topic = event.topic {
                field("topic", &out)
                appendString(topic, to: &out)
            }
        }
    }

    static func body(_ events: [CloudEvent]) -> [UInt8] {
        objects(events, bytesEach: 256) { event, out in
            let leading: [(String, String)] = [
                ("id", event.id), ("source", event.source), ("type", event.type), ("specversion", event.specVersion),
            ]
            for (index, (name, value)) in leading.enumerated() {
                field(name, first: index == 0, &out)
                appendString(value, to: &out)
            }
            switch event.data {
            case .json(let data):
                field("data", &out)
                out.append(contentsOf: data.json)
            case .binary(let bytes):
                field("data_base64", &out)
                appendString(Data(bytes).base64EncodedString(), to: &out)
            case nil: break
            }
            let optional: [(String, String?)] = [
                ("time", event.time.map(timestamp)), ("subject", event.subject),
                ("datacontenttype", event.dataContentType), ("dataschema", event.dataSchema),
            ]
            for case let (name, value?) in optional {
                field(name, &out)
                appendString(value, to: &out)
            }
            for (name, value) in event.extensions.sorted(by: { $0.key < $1.key }) {
                field(name, &out)
                out.append(contentsOf: value.json)
            }
        }
    }

    /// `[{…}, {…}]`: one object per item, its fields written by `fields`.
    private static func objects<Item>(_ items: [Item], bytesEach: Int,
                                      _ fields: (Item, inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(items.count * bytesEach + 2)
        out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(contentsOf: ", ".utf8) }
            out.append(UInt8(ascii: "{"))
            fields(item, &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// `, "name": ` (without the comma for the first field of an object).
    private static func field(_ name: String, first: Bool = false, _ out: inout [UInt8]) {
        if !first { out.append(contentsOf: ", ".utf8) }
        appendString(name, to: &out)
        out.append(contentsOf: ": ".utf8)
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
        // Digits written into one 27-byte buffer (this runs once per event; string padding and concatenation
        // cost more than the rest of the event's JSON).
        var text = [UInt8](repeating: UInt8(ascii: "0"), count: 27)
        func put(_ value: Int, at end: Int, width: Int) {
            var rest = max(0, value)
            for position in stride(from: end - 1, through: end - width, by: -1) {
                text[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, at: 4, width: 4)
        put(Int(parts.tm_mon) + 1, at: 7, width: 2)
        put(Int(parts.tm_mday), at: 10, width: 2)
        put(Int(parts.tm_hour), at: 13, width: 2)
        put(Int(parts.tm_min), at: 16, width: 2)
        put(Int(parts.tm_sec), at: 19, width: 2)
        put(micros, at: 26, width: 6)
        let separators: [(Int, UInt8)] = [
            (4, UInt8(ascii: "-")), (7, UInt8(ascii: "-")), (10, UInt8(ascii: "T")), (13, UInt8(ascii: ":")),
            (16, UInt8(ascii: ":")), (19, UInt8(ascii: ".")), (26, UInt8(ascii: "Z")),
        ]
        for (position, separator) in separators { text[position] = separator }
        return String(decoding: text, as: UTF8.self)
    }

    /// A JSON string literal (RFC 8259 escaping; non-ASCII kept as UTF-8).
    static func string(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        appendString(text, to: &out)
        return out
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string literal.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (names, ids, types) need no escape: copied in one piece.
        var text = text
        let plain = text.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0f)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
