import ToolboxCore

/// Event Grid topic SAS tokens (`aeg-sas-token`), built as azure-eventgrid's `generate_sas` builds them.
///
/// ```swift
/// let token = try EventGridSharedAccessSignature.token(
///     endpoint: "https://mytopic.westus2-1.eventgrid.azure.net/api/events", key: Secret(topicKey),
///     expiry: UTCDate.nowUnixSeconds() + 3600)
/// // r=https%3A%2F%2Fmytopic...%2Fapi%2Fevents%3FapiVersion%3D2018-01-01&e=2030-01-01%2001%3A00%3A00%2B00%3A00&s=...
/// ```
///
/// `r` is the endpoint plus `?apiVersion=<version>`, `e` the expiry as Python's `str(datetime)` writes it
/// (`2030-01-01 01:00:00+00:00`), both quoted with `~()*!.'` kept; `s` is the quoted base64 HMAC-SHA256, under the
/// **base64-decoded** topic key, of the ASCII text `r=<quoted r>&e=<quoted e>`.
public enum EventGridSharedAccessSignature {
    /// Characters `generate_sas` leaves unquoted besides RFC 3986's unreserved ones.
    static let safe = "~()*!.'"
    /// The API version the SDKs sign and publish with.
    public static let defaultAPIVersion = "2018-01-01"

    /// A token for `endpoint` valid until `expiry` (UNIX seconds).
    ///
    /// - throws: `AuthError.Code.invalidKey` when `key` is not base64 (topic keys are).
    public static func token(endpoint: String, key: Secret<String>, expiry: Int,
                             apiVersion: String = defaultAPIVersion) throws(AuthError) -> Secret<String> {
        let resource = PercentEncoding.quote("\(endpoint)?apiVersion=\(apiVersion)", safe: safe)
        let expiration = PercentEncoding.quote(pythonDateTime(expiry), safe: safe)
        let unsigned = "r=\(resource)&e=\(expiration)"
        let signature = try sign(unsigned, key: key)
        return Secret("\(unsigned)&s=\(PercentEncoding.quote(signature, safe: safe))")
    }

    /// Base64 HMAC-SHA256 of `text` under the base64-decoded `key`.
    package static func sign(_ text: String, key: Secret<String>) throws(AuthError) -> String {
        guard let keyBytes = AuthCrypto.base64Decode(key.exposedValue), !keyBytes.isEmpty else {
            throw AuthError(.invalidKey, "the Event Grid topic key is not valid base64 (copy it from the topic's "
                + "Access keys page)")
        }
        return AuthCrypto.base64(AuthCrypto.hmacSHA256(key: keyBytes, message: text))
    }

    /// `2030-01-01 01:00:00+00:00`: Python's `str()` of an aware UTC datetime without microseconds.
    static func pythonDateTime(_ unixSeconds: Int) -> String {
        let iso = UTCDate.iso8601(unixSeconds)  // 2030-01-01T01:00:00Z
        return iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// The parts of a received token, as a server checks it.
    public struct Parsed: Sendable, Equatable {
        /// `r` decoded: the topic endpoint the token was made for, with its `?apiVersion=` suffix.
        public let resource: String
        /// `e` decoded, as sent.
        public let expiration: String
        /// `e` as UNIX seconds, when it is in a format Azure's SDKs write (see `parseExpiration`).
        public let expiry: Int?
        /// `r=…&e=…` exactly as it appears in the token: what the signature covers.
        package let signedText: String
        package let signature: String
    }

    /// Splits a token into its fields; nil when `r`, `e` or `s` is missing.
    public static func parse(_ token: String) -> Parsed? {
        guard let signatureMark = token.range(of: "&s=") else { return nil }
        let signedText = String(token[..<signatureMark.lowerBound])
        let signature = PercentEncoding.unquote(String(token[signatureMark.upperBound...]))
        var resource: String?
        var expiration: String?
        for pair in signedText.split(separator: "&") {
            if pair.hasPrefix("r=") { resource = PercentEncoding.unquote(String(pair.dropFirst(2))) }
            if pair.hasPrefix("e=") { expiration = PercentEncoding.unquote(String(pair.dropFirst(2))) }
        }
        guard let resource, let expiration, !signature.isEmpty else { return nil }
        return Parsed(resource: resource, expiration: expiration, expiry: parseExpiration(expiration),
                      signedText: signedText, signature: signature)
    }

    /// UNIX seconds of an expiry as the SDKs write it: Python `str(datetime)` (`2030-01-01 01:00:00[.ffffff]`
    /// with an optional `+HH:MM` offset; naive means UTC), ISO 8601 (`2030-01-01T01:00:00Z`), .NET/Java's
    /// `M/d/yyyy h:mm:ss AM|PM` (UTC), or plain UNIX seconds. Nil for anything else.
    public static func parseExpiration(_ text: String) -> Int? {
        let text = text.trimmingWhitespace()
        if let seconds = Int(text), seconds > 0 { return seconds }
        if text.contains("/") { return parseUSDate(text) }
        return parseISOLike(text)
    }

    private static func parseISOLike(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(bytes[0..<4]), let month = number(bytes[5..<7]), let day = number(bytes[8..<10]),
              let hour = number(bytes[11..<13]), let minute = number(bytes[14..<16]), let second = number(bytes[17..<19])
        else { return nil }
        var index = 19
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        }
        var offset = 0
        if index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "Z") where index + 1 == bytes.count:
                break
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard bytes.count == index + 6, bytes[index + 3] == UInt8(ascii: ":"),
                      let hours = number(bytes[(index + 1)..<(index + 3)]),
                      let minutes = number(bytes[(index + 4)..<(index + 6)])
                else { return nil }
                offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
            default:
                return nil
            }
        }
        return timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
            .map { $0 - offset }
    }

    private static func parseUSDate(_ text: String) -> Int? {
        let parts = text.split(separator: " ")
        guard parts.count == 3 else { return nil }
        let date = parts[0].split(separator: "/")
        let time = parts[1].split(separator: ":")
        guard date.count == 3, time.count == 3, let month = Int(date[0]), let day = Int(date[1]),
              let year = Int(date[2]), var hour = Int(time[0]), let minute = Int(time[1]), let second = Int(time[2]),
              (1...12).contains(hour)
        else { return nil }
        switch parts[2].uppercased() {
        case "AM": if hour == 12 { hour = 0 }
        case "PM": if hour != 12 { hour += 12 }
        default: return nil
        }
        return timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func timestamp(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int? {
        guard (1970...9999).contains(year) else { return nil }
        return UTCDate.unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }
}
