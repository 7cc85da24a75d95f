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
        let expiresIn = integer(object["expires_in"])
        let expiresOn = integer(object["expires_on"]) ?? expiresIn.map { now + $0 }
        guard let expiresOn else {
            return .failure(AuthError(.authenticationFailed, "\(source) answered without 'expires_in' or "
                + "'expires_on'; the token's lifetime is unknown"))
        }
        var refreshOn: Int?
        if let refreshIn = integer(object["refresh_in"]) {
            refreshOn = now + refreshIn
        } else if let expiresIn, expiresIn >= 7200 {
            refreshOn = now + expiresIn / 2
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

    /// A number or a numeric string (IMDS sends strings); nil otherwise.
    static func integer(_ value: Any?) -> Int? {
        switch value {
        case let number as Int: return number
        case let number as Double: return Int(number)
        case let text as String: return Int(text) ?? Double(text).map { Int($0) }
        default: return nil
        }
    }
}
