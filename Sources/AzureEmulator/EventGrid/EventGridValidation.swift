import Foundation

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
        let mediaType = (contentType ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
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
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return .failure(Failure(message: "The request body is not valid JSON."))
        }
        let objects: [Any]
        let slices: [[UInt8]]
        if single {
            guard parsed is [String: Any] else {
                return .failure(Failure(message: "application/cloudevents+json takes one CloudEvent JSON object."))
            }
            objects = [parsed]
            slices = [trimmed(body)]
        } else {
            guard let array = parsed as? [Any] else {
                return .failure(Failure(message: "The request body must be a JSON array of events."))
            }
            guard !array.isEmpty else { return .failure(Failure(message: "The request body has no events.")) }
            guard let elements = arrayElements(body), elements.count == array.count else {
                return .failure(Failure(message: "The request body is not valid JSON."))
            }
            objects = array
            slices = elements
        }
        for (index, object) in objects.enumerated() {
            guard let event = object as? [String: Any] else {
                return .failure(Failure(message: "Event \(index) is not a JSON object."))
            }
            let problem = schema == .eventGrid ? eventGridProblem(event) : cloudEventProblem(event)
            if let problem { return .failure(Failure(message: "Event \(index): \(problem)")) }
        }
        return .success((schema, slices))
    }

    /// What is wrong with an EventGridEvent, or nil.
    static func eventGridProblem(_ event: [String: Any]) -> String? {
        for name in ["id", "subject", "eventType"] {
            if let problem = requiredString(event, name) { return problem }
        }
        guard let eventTime = event["eventTime"] else { return "required property 'eventTime' is missing." }
        guard let text = eventTime as? String, isRFC3339(text) else {
            return "'eventTime' must be an RFC 3339 date-time string such as 2030-01-01T00:00:00.000Z."
        }
        guard let dataVersion = event["dataVersion"] else { return "required property 'dataVersion' is missing." }
        guard dataVersion is String else { return "'dataVersion' must be a string." }
        guard event.keys.contains("data") else { return "required property 'data' is missing." }
        if let topic = event["topic"], !(topic is String) { return "'topic' must be a string." }
        if let version = event["metadataVersion"], version as? String != "1" {
            return "'metadataVersion' must be \"1\" when present."
        }
        return nil
    }

    /// What is wrong with a CloudEvent (CloudEvents 1.0, JSON format), or nil.
    static func cloudEventProblem(_ event: [String: Any]) -> String? {
        for name in ["id", "source", "type", "specversion"] {
            if let problem = requiredString(event, name) { return problem }
        }
        guard event["specversion"] as? String == "1.0" else {
            return "'specversion' must be \"1.0\" (got \"\(printable(event["specversion"] as? String ?? ""))\")."
        }
        if let time = event["time"] {
            guard let text = time as? String, isRFC3339(text) else {
                return "'time' must be an RFC 3339 date-time string."
            }
        }
        for name in ["subject", "datacontenttype", "dataschema"] {
            if let value = event[name], !(value is String) { return "'\(name)' must be a string." }
        }
        if let encoded = event["data_base64"] {
            guard !event.keys.contains("data") else { return "'data' and 'data_base64' are mutually exclusive." }
            guard let text = encoded as? String, Data(base64Encoded: text) != nil else {
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

    private static func requiredString(_ event: [String: Any], _ name: String) -> String? {
        guard let value = event[name] else { return "required property '\(name)' is missing." }
        guard let text = value as? String else { return "'\(name)' must be a string." }
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

    /// The bytes of each element of a top-level JSON array, exactly as written (whitespace around them trimmed).
    /// The body must already be known to be valid JSON.
    static func arrayElements(_ body: [UInt8]) -> [[UInt8]]? {
        var index = 0
        func skipSpace() {
            while index < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[index]) { index += 1 }
        }
        skipSpace()
        guard index < body.count, body[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var elements: [[UInt8]] = []
        var depth = 0
        var inString = false
        var start: Int?
        while index < body.count {
            let byte = body[index]
            if inString {
                if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
            } else {
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    if start == nil { start = index }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    if start == nil { start = index }
                case UInt8(ascii: "}"):
                    depth -= 1
                case UInt8(ascii: "]") where depth > 0:
                    depth -= 1
                case UInt8(ascii: ","), UInt8(ascii: "]"):
                    if depth == 0 {
                        if let first = start { elements.append(trimmed(Array(body[first..<index]))) }
                        start = nil
                        if byte == UInt8(ascii: "]") { return elements }
                    }
                case 0x20, 0x09, 0x0A, 0x0D:
                    break
                default:
                    if start == nil { start = index }
                }
            }
            index += 1
        }
        return nil
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        let space: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let first = bytes.firstIndex(where: { !space.contains($0) }),
              let last = bytes.lastIndex(where: { !space.contains($0) })
        else { return [] }
        return Array(bytes[first...last])
    }

    /// `text` cut to 100 characters of printable ASCII, for echoing a client's value in an error.
    static func printable(_ text: String) -> String {
        String(String(text.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }).prefix(100))
    }
}
