import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// What every Blob response carries, and Azure's XML error shape.
struct BlobResponder: Sendable {
    /// The service version answered when the client names none (what azure-storage-blob 12.31 sends).
    static let defaultVersion = "2026-10-06"

    let requestID: String
    let version: String
    let clientRequestID: String?

    init(request: EmulatorHTTPRequest) {
        requestID = RandomUUID.string()
        let asked = request.header("x-ms-version") ?? ""
        version = Self.isPrintable(asked) && !asked.isEmpty ? asked : Self.defaultVersion
        let client = request.header("x-ms-client-request-id")
        clientRequestID = client.flatMap { Self.isPrintable($0) && $0.utf8.count <= 1024 ? $0 : nil }
    }

    private static func isPrintable(_ text: String) -> Bool {
        text.utf8.count <= 64 * 1024 && text.utf8.allSatisfy { $0 >= 32 && $0 < 127 }
    }

    func headers(_ extra: [(String, String)] = []) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: "Windows-Azure-Blob/1.0 AzureClientsToolbox-Emulator")
        headers.add(name: "x-ms-request-id", value: requestID)
        headers.add(name: "x-ms-version", value: version)
        headers.add(name: "Date", value: UTCDate.rfc1123(UTCDate.nowUnixSeconds()))
        if let clientRequestID { headers.add(name: "x-ms-client-request-id", value: clientRequestID) }
        for (name, value) in extra { headers.add(name: name, value: value) }
        return headers
    }

    func respond(_ status: Int, _ extra: [(String, String)] = [], body: HTTPServerResponse.Body = .bytes([])) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headers: headers(extra), body: body)
    }

    func xml(_ status: Int, _ xml: String, _ extra: [(String, String)] = []) -> HTTPServerResponse {
        respond(status, [("Content-Type", "application/xml")] + extra, body: .bytes(Array(xml.utf8)))
    }

    /// `<Error><Code>…</Code><Message>…</Message></Error>` with `x-ms-error-code`, as the SDKs map errors from it.
    func error(_ error: BlobError) -> HTTPServerResponse {
        var extra: [(String, String)] = [("x-ms-error-code", error.code)]
        for (name, value) in error.headers.sorted(by: { $0.key < $1.key }) { extra.append((name, value)) }
        if error.status == 304 { return respond(304, extra) }
        let message = "\(error.message)\nRequestId:\(requestID)\nTime:\(UTCDate.iso8601(UTCDate.nowUnixSeconds()))"
        let body = #"<?xml version="1.0" encoding="utf-8"?><Error><Code>"# + BlobXML.escape(error.code)
            + "</Code><Message>" + BlobXML.escape(message) + "</Message></Error>"
        return xml(error.status, body, extra)
    }
}

/// RFC 1123 dates (`Wed, 25 Nov 2026 20:16:35 GMT`) in conditional headers and `x-ms-date`.
enum BlobHTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// UNIX seconds, or nil when `text` is not an RFC 1123 date (a client's bad date is then ignored, as HTTP says).
    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), (1...31).contains(day),
              let month = months.firstIndex(of: parts[2].lowercased()), let year = Int(parts[3]), (1970...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard clock.count == 3, let hour = clock[0], let minute = clock[1], let second = clock[2],
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        return UTCDate.unixSeconds(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second)
    }
}

/// Reading and writing the small XML documents of the Blob REST API.
enum BlobXML {
    /// Escapes text for element content and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            // A parser turns a raw CR (and CRLF) into LF, and a tab or newline in an attribute into a space: as
            // character references they come back as they were ("a\rb" listed as "a\nb", a name that does not exist).
            case "\r": out += "&#13;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// List Blobs' `NextMarker`: opaque, as Azure's are — "2!" and the next name's UTF-8 bytes in URL-safe base64 —
    /// so a name with characters XML cannot carry still pages (the raw name broke the answer).
    static func marker(for name: String) -> String {
        "2!" + EmulatorJWT.base64URL(Array(name.utf8))
    }

    /// The name a `marker` of ours stands for; any other marker is taken as a name.
    static func name(fromMarker marker: String) -> String {
        guard marker.hasPrefix("2!"), let bytes = EmulatorJWT.base64URLDecode(String(marker.dropFirst(2))),
              let name = String(validating: bytes, as: UTF8.self)
        else { return marker }
        return name
    }

    /// Whether `text` can appear in XML 1.0 at all (blob names may hold control characters; Azure then sends
    /// them percent-encoded with `Encoded="true"`).
    static func isXMLSafe(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            let value = scalar.value
            return value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value)
                || (0xE000...0xFFFD).contains(value) || value >= 0x10000
        }
    }

    /// `<Name>…</Name>`, or `<Name Encoded="true">…</Name>` percent-encoded when the name is not XML-safe.
    static func nameElement(_ name: String) -> String {
        if isXMLSafe(name) { return "<Name>\(escape(name))</Name>" }
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? ""
        return "<Name Encoded=\"true\">\(escape(encoded))</Name>"
    }

    /// `<name>value</name>`; a value XML cannot carry (a prefix with a control character, echoed) goes
    /// percent-encoded with `Encoded="true"`, as names do.
    static func element(_ name: String, _ value: String?) -> String {
        guard let value, !value.isEmpty else { return "<\(name) />" }
        guard isXMLSafe(value) else {
            let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? ""
            return "<\(name) Encoded=\"true\">\(escape(encoded))</\(name)>"
        }
        return "<\(name)>\(escape(value))</\(name)>"
    }
}
