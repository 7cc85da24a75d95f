import Foundation
import ToolboxCore

/// Reads token endpoint responses: Entra ID (`expires_in` numbers), IMDS and App Service (numbers as strings).
enum TokenResponseParser {
    /// The token in a 2xx response, or an `AuthError` built from the endpoint's error fields (never its token).
    static func parse(_ response: TokenHTTPResponse, now: Int, source: String) -> Result<AccessToken, AuthError> {
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard (200..<300).contains(response.status) else {
            return .failure(AuthError(.authenticationFailed, "\(source) answered HTTP \(response.status)"
                + errorDetail(object) + "; check the credential's tenant, client id and secret or identity"))
        }
        guard let object else {
            return .failure(AuthError(.authenticationFailed, "\(source) answered HTTP \(response.status) with a "
                + "body that is not a JSON object (\(response.body.count) bytes)"))
        }
        guard let token = object["access_token"] as? String ?? object["accessToken"] as? String, !token.isEmpty else {
            return .failure(AuthError(.authenticationFailed, "\(source) answered without 'access_token'"))
        }
        let expiresIn: Int?, expiresOn: Int?, refreshIn: Int?
        do {
            expiresIn = try seconds(object["expires_in"], field: "expires_in", source: source, in: 1...longestLifetime,
                                    token: token)
            refreshIn = try seconds(object["refresh_in"], field: "refresh_in", source: source, in: 0...longestLifetime,
                                    token: token)
            // Not required to lie ahead of our clock (an endpoint's clock may differ; the cache refetches an
            // expired token), but a positive time before the year 10000.
            expiresOn = try seconds(object["expires_on"], field: "expires_on", source: source, in: 1...latestExpiry,
                                    token: token) ?? expiresIn.map { now.saturatingAdd($0) }
        } catch let error as AuthError {
            return .failure(error)
        } catch {
            return .failure(AuthError(.authenticationFailed, "\(source): \(error)"))
        }
        guard let expiresOn else {
            return .failure(AuthError(.authenticationFailed, "\(source) answered without 'expires_in' or "
                + "'expires_on'; the token's lifetime is unknown"))
        }
        var refreshOn: Int?
        if let refreshIn {
            refreshOn = now.saturatingAdd(refreshIn)
        } else if let expiresIn, expiresIn >= 7200 {
            refreshOn = now.saturatingAdd(expiresIn / 2)
        }
        let type = object["token_type"] as? String ?? "Bearer"
        return .success(AccessToken(
            token: Secret(token), expiresOn: expiresOn, refreshOn: refreshOn, tokenType: type))
    }

    /// `: (error) description` from an OAuth error body, shortened; empty when there is none.
    static func errorDetail(_ object: [String: Any]?) -> String {
        guard let object else { return "" }
        var parts: [String] = []
        if let code = object["error"] as? String { parts.append("(\(code))") }
        if let text = object["error_description"] as? String ?? object["message"] as? String {
            parts.append(String(text.prefix(300)))
        }
        return parts.isEmpty ? "" : ": " + parts.joined(separator: " ")
    }

    /// The latest expiry accepted: 9999-12-31T23:59:59Z, in UNIX seconds.
    static let latestExpiry = 253_402_300_799
    /// The longest lifetime (`expires_in`, `refresh_in`) accepted: ten years, in seconds.
    static let longestLifetime = 315_360_000

    /// A field holding whole seconds, as a number or a numeric string (IMDS and App Service send strings); nil
    /// when absent. A value that is not a finite number, or is outside `range`, is an error naming the field —
    /// never a trap (`"1e999"`, `1e300`, `"nan"` and 23-digit numbers have all been seen to crash parsers).
    /// The error quotes the value only when it cannot be a secret: never when it contains `token`, the response's
    /// access token (an endpoint may put anything in any field).
    static func seconds(_ value: Any?, field: String, source: String, in range: ClosedRange<Int>,
                        token: String) throws -> Int? {
        guard let value, !(value is NSNull) else { return nil }
        switch wholeNumber(value) {
        case .none:
            let quoted = shown(value, token: token)
            throw AuthError(.authenticationFailed, "\(source) answered '\(field)' \(quoted), which is not a "
                + "whole number of seconds")
        case .some(let number) where !range.contains(number):
            let quoted = shown(value, token: token)
            throw AuthError(.authenticationFailed, "\(source) answered '\(field)' \(quoted), outside "
                + "\(range.lowerBound)...\(range.upperBound)" + (field == "expires_on" ? " (not a time between 1970 "
                + "and the year 9999)" : ""))
        case .some(let number):
            return number
        }
    }

    /// A number or a numeric string as a whole number, or nil when it is not finite or does not fit an `Int`.
    static func wholeNumber(_ value: Any?) -> Int? {
        // JSON `true` arrives as an NSNumber that bridges to 1: a boolean is not a number of seconds.
        if let number = value as? NSNumber, String(cString: number.objCType) == "c" { return nil }
        switch value {
        case let number as Int: return number
        case let number as Double: return finite(number)
        case let text as String:
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            return Int(trimmed) ?? Double(trimmed).flatMap(finite)
        default: return nil
        }
    }

    /// A number or a numeric string (IMDS sends strings) as a whole number; nil otherwise, never a trap.
    static func integer(_ value: Any?) -> Int? { wholeNumber(value) }

    private static func finite(_ number: Double) -> Int? {
        guard number.isFinite else { return nil }
        return Int(exactly: number.rounded(.down))
    }

    /// The value as the endpoint sent it, shortened (numbers and short strings only: never a token). A string that
    /// holds the response's token, or is part of it, and anything whose text would show the token are not quoted.
    private static func shown(_ value: Any, token: String) -> String {
        let redacted = "(a value that overlaps the access token, not shown)"
        if let text = value as? String {
            let shown = text.prefix(32)
            if !token.isEmpty, text.contains(token) || (!shown.isEmpty && token.contains(shown)) { return redacted }
            return "'\(shown)'"
        }
        if value is Int || value is Double {
            let text = "\(value)"
            return !token.isEmpty && text.contains(token) ? redacted : text
        }
        return "of type \(type(of: value))"
    }
}
