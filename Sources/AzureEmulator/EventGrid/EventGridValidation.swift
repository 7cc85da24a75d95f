import Foundation
import ToolboxCore
import ToolboxTransport

/// The two event schemas Event Grid topics take.
public enum EventGridSchema: String, Sendable, Equatable {
    /// Event Grid's own schema (`id`, `subject`, `eventType`, `eventTime`, `dataVersion`, `data`), published as
    /// `application/json` arrays.
    case eventGrid = "eventgrid"
    /// CloudEvents 1.0 (`id`, `source`, `type`, `specversion`), `application/cloudevents-batch+json` arrays or one
    /// `application/cloudevents+json` object.
    case cloudEvent = "cloudevent"
}

/// Checks a publish body against its schema, as the service does, and splits it into the events' own JSON bytes
/// (kept exactly as sent, so tests read back what the client wrote).
enum EventGridValidation {
    /// Why a body was refused, for a 400 in Event Grid's error shape.
    struct Failure: Error, Equatable {
        let message: String
    }

    /// The events of a body: `(schema, bytes of each event)`, or why not. `contentType` picks the schema.
    static func events(body: [UInt8], contentType: String?, allowEventGridSchema: Bool = true)
        -> Result<(EventGridSchema, [[UInt8]]), Failure>
    {
        // The media type before any parameters, found over UTF-8 (`String.split` walks grapheme clusters: ~8 % of
        // a publish's instructions).
        let typeText = contentType ?? ""
        let semicolon = typeText.utf8.firstIndex(of: UInt8(ascii: ";")) ?? typeText.utf8.endIndex
        let mediaType = HTTPHeaders.trimmed(Substring(typeText.utf8[..<semicolon])).lowercased()
        let schema: EventGridSchema
        let single: Bool
        switch mediaType {
        case "application/json" where allowEventGridSchema:
            (schema, single) = (.eventGrid, false)
        case "application/cloudevents-batch+json":
            (schema, single) = (.cloudEvent, false)
        case "application/cloudevents+json":
            (schema, single) = (.cloudEvent, true)
        default:
            let accepted = (allowEventGridSchema ? "application/json (EventGridEvent array), " : "")
                + "application/cloudevents-batch+json (CloudEvent array) or application/cloudevents+json (one CloudEvent)"
            return .failure(Failure(message: "Unsupported Content-Type '\(printable(mediaType))': use \(accepted)."))
        }
        let elements: [Element]
        do {
            elements = try scan(body, single: single)
        } catch {
            return .failure(Failure(message: "The request body is not valid JSON: \(error.message)."))
        }
        if single {
            guard elements.count == 1, elements[0].attributes != nil else {
                return .failure(Failure(message: "application/cloudevents+json takes one CloudEvent JSON object."))
            }
        } else {
            guard elements.count != 1 || elements[0].range != nil else {
                return .failure(Failure(message: "The request body must be a JSON array of events."))
            }
            guard !elements.isEmpty else { return .failure(Failure(message: "The request body has no events.")) }
        }
        for (index, element) in elements.enumerated() {
            guard let event = element.attributes else {
                return .failure(Failure(message: "Event \(index) is not a JSON object."))
            }
            let problem = schema == .eventGrid ? eventGridProblem(event) : cloudEventProblem(event)
            if let problem { return .failure(Failure(message: "Event \(index): \(problem)")) }
        }
        return .success((schema, elements.map { Array(body[$0.range ?? 0..<body.count]) }))
    }

    /// A top-level member of an event: its string, or what kind of JSON value it is.
    enum Attribute: Equatable {
        case string(String)
        case other

        var string: String? {
            if case .string(let text) = self { return text }
            return nil
        }
    }

    /// One event of a body: where its bytes are, and its top-level members when it is an object (nil otherwise).
    /// `range` is nil for a body that was not an array (one value standing for itself).
    struct Element {
        var range: Range<Int>?
        var attributes: [String: Attribute]?
    }

    /// Deeper nesting than this is refused as invalid JSON (the events themselves are one level down).
    static let maxDepth = 128

    /// Checks the whole body as JSON and reads each event's top-level members, without building the values of
    /// anything deeper (`data` is only checked). A body that is not an array (or, for `single`, not one object)
    /// comes back as one element whose `range` is nil.
    static func scan(_ body: [UInt8], single: Bool) throws(CosmosValue.ParseError) -> [Element] {
        // JSON text is UTF-8 (RFC 8259); strings are otherwise taken byte for byte.
        if UTF8Text.decode(body[...]) == nil {
            throw CosmosValue.ParseError(message: "it is not UTF-8")
        }
        var parser = CosmosValue.Parser(bytes: body, maxDepth: maxDepth)
        parser.skipWhitespace()
        var elements: [Element] = []
        if !single, parser.index < body.count, body[parser.index] == UInt8(ascii: "[") {
            parser.index += 1
            parser.skipWhitespace()
            if parser.index < body.count, body[parser.index] == UInt8(ascii: "]") {
                parser.index += 1
            } else {
                while true {
                    parser.skipWhitespace()
                    let start = parser.index
                    let attributes = try event(&parser, depth: 1)
                    elements.append(Element(range: start..<parser.index, attributes: attributes))
                    if try !parser.moreElements(closer: UInt8(ascii: "]")) { break }
                }
            }
        } else {
            let start = parser.index
            let attributes = try event(&parser, depth: 0)
            elements.append(Element(range: single ? start..<parser.index : nil, attributes: attributes))
        }
        parser.skipWhitespace()
        guard parser.index == body.count else { throw parser.error("unexpected content after the JSON value") }
        return elements
    }

    /// One value: an object's top-level members (strings read, everything else checked and passed over), or nil
    /// after checking a value that is not an object.
    private static func event(_ parser: inout CosmosValue.Parser, depth: Int) throws(CosmosValue.ParseError)
        -> [String: Attribute]?
    {
        let bytes = parser.bytes
        guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "{") else {
            try parser.skipValue(depth: depth)
            return nil
        }
        parser.index += 1
        var attributes: [String: Attribute] = [:]
        parser.skipWhitespace()
        if parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "}") { parser.index += 1; return attributes }
        while true {
            parser.skipWhitespace()
            guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "\"") else {
                throw parser.error("expected a member name")
            }
            let name = try parser.string()
            parser.skipWhitespace()
            guard parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: ":") else { throw parser.error("expected ':'") }
            parser.index += 1
            parser.skipWhitespace()
            if parser.index < bytes.count, bytes[parser.index] == UInt8(ascii: "\"") {
                attributes[name] = .string(try parser.string())  // A repeated name: the last wins.
            } else {
                try parser.skipValue(depth: depth + 1)
                attributes[name] = .other
            }
            if try !parser.moreElements(closer: UInt8(ascii: "}")) { return attributes }
        }
    }

    /// What is wrong with an EventGridEvent, or nil.
    static func eventGridProblem(_ event: [String: Attribute]) -> String? {
        for name in ["id", "subject", "eventType"] {
            if let problem = requiredString(event, name) { return problem }
        }
        guard let eventTime = event["eventTime"] else { return "required property 'eventTime' is missing." }
        guard let text = eventTime.string, isRFC3339(text) else {
            return "'eventTime' must be an RFC 3339 date-time string such as 2030-01-01T00:00:00.000Z."
        }
        guard let dataVersion = event["dataVersion"] else { return "required property 'dataVersion' is missing." }
        guard dataVersion.string != nil else { return "'dataVersion' must be a string." }
        guard event.keys.contains("data") else { return "required property 'data' is missing." }
        if let topic = event["topic"], topic.string == nil { return "'topic' must be a string." }
        if let version = event["metadataVersion"], version.string != "1" {
            return "'metadataVersion' must be \"1\" when present."
        }
        return nil
    }

    /// What is wrong with a CloudEvent (CloudEvents 1.0, JSON format), or nil.
    static func cloudEventProblem(_ event: [String: Attribute]) -> String? {
        for name in ["id", "source", "type", "specversion"] {
            if let problem = requiredString(event, name) { return problem }
        }
        guard event["specversion"]?.string == "1.0" else {
            return "'specversion' must be \"1.0\" (got \"\(printable(event["specversion"]?.string ?? ""))\")."
        }
        if let time = event["time"] {
            guard let text = time.string, isRFC3339(text) else {
                return "'time' must be an RFC 3339 date-time string."
            }
        }
        for name in ["subject", "datacontenttype", "dataschema"] {
            if let value = event[name], value.string == nil { return "'\(name)' must be a string." }
        }
        if let encoded = event["data_base64"] {
            guard !event.keys.contains("data") else { return "'data' and 'data_base64' are mutually exclusive." }
            guard let text = encoded.string, Data(base64Encoded: text) != nil else {
                return "'data_base64' must be a base64 string."
            }
        }
        for name in event.keys where name != "data_base64" {
            let valid = !name.isEmpty && name.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            }
            guard valid else {
                return "attribute name '\(printable(name))' is invalid: CloudEvents attribute names use only "
                    + "lower-case letters a-z and digits 0-9."
            }
        }
        return nil
    }

    private static func requiredString(_ event: [String: Attribute], _ name: String) -> String? {
        guard let value = event[name] else { return "required property '\(name)' is missing." }
        guard let text = value.string else { return "'\(name)' must be a string." }
        guard !text.isEmpty else { return "'\(name)' must not be empty." }
        return nil
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339; `t`/`z` and a space separator accepted).
    static func isRFC3339(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Bool {
            range.upperBound <= bytes.count
                && bytes[range].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        }
        guard bytes.count >= 20, digits(0..<4), bytes[4] == UInt8(ascii: "-"), digits(5..<7),
              bytes[7] == UInt8(ascii: "-"), digits(8..<10), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[10]),
              digits(11..<13), bytes[13] == UInt8(ascii: ":"), digits(14..<16), bytes[16] == UInt8(ascii: ":"), digits(17..<19)
        else { return false }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > start else { return false }
        }
        guard index < bytes.count else { return false }
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") { return index + 1 == bytes.count }
        guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return false }
        return bytes.count == index + 6 && digits((index + 1)..<(index + 3)) && bytes[index + 3] == UInt8(ascii: ":")
            && digits((index + 4)..<(index + 6))
    }

    /// `text` cut to 100 characters of printable ASCII, for echoing a client's value in an error.
    static func printable(_ text: String) -> String {
        String(String(text.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }).prefix(100))
    }
}
