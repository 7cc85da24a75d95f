import AzureAuth
import Foundation
import ToolboxCore
import AzureAuthVerification

/// Checks tokens put on `$cbs` against the namespace key and answers whether they cover an entity path.
struct TokenAuthority: Sendable {
    let keyName: String
    let key: Secret<String>

    /// The outcome of a put-token: the entity path now authorized, or why not (status code + description).
    enum Verdict: Equatable {
        case granted(path: String, expiry: Int)
        case refused(status: Int32, description: String)
    }

    /// Verifies a put-token: `token` must be a SAS signed with the namespace key by `keyName`, not expired, and
    /// its resource must cover `audience`. SAS tokens are recognised by their prefix whatever the CBS `type`
    /// (Service Bus sends them as `jwt`). Anything else must be a JWT from the emulator's own issuer
    /// (`Emulator.issueToken`), which, like an Entra ID token on Azure, covers the whole namespace.
    func verify(token: String, audience: String, now: Int = Int(Date().timeIntervalSince1970)) -> Verdict {
        guard let parsed = SharedAccessSignature.parse(token) else {
            switch EmulatorJWT.verify(token, key: key, now: now) {
            case .success(let claims):
                return .granted(path: "", expiry: claims.expiry)
            case .failure(let rejection):
                return .refused(status: 401, description: rejection.reason + "; the emulator accepts SharedAccessSignature "
                    + "tokens signed with the namespace key and JWTs from its own issuer")
            }
        }
        guard parsed.keyName == keyName else {
            return .refused(status: 401, description: "unknown SharedAccessKeyName '\(parsed.keyName)'; use '\(keyName)'")
        }
        guard parsed.expiry > now else { return .refused(status: 401, description: "the token has expired") }
        guard SharedAccessSignature.verify(token, key: key, now: now) else {
            return .refused(status: 401, description: "signature mismatch: the token was not signed with the namespace key")
        }
        let resource = EntityAddress.path(parsed.resource)
        let target = EntityAddress.path(audience)
        guard TokenAuthority.covers(resource, target) else {
            return .refused(status: 401, description: "the token's resource does not cover the audience '\(audience)'")
        }
        return .granted(path: target, expiry: parsed.expiry)
    }

    /// True if a token for `granted` allows `path` (same path, a sub-path, or the whole namespace).
    static func covers(_ granted: String, _ path: String) -> Bool {
        let granted = granted.lowercased()
        let path = path.lowercased()
        return granted.isEmpty || path == granted || path.hasPrefix(granted + "/")
    }
}
