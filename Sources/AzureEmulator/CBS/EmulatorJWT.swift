import AzureAuth
import Foundation
import ToolboxCore

/// The emulator's own token issuer: compact JWS tokens (HS256) signed with the namespace key, standing in for the
/// Entra ID access tokens Azure accepts on `$cbs` with type `jwt`.
///
/// Azure grants an Entra token the whole namespace (roles decide what it may do); the emulator does the same for
/// any valid token whose audience is the Event Hubs or Service Bus data plane.
enum EmulatorJWT {
    /// The `iss` claim of every token the emulator issues.
    static let issuer = "https://emulator.azureclientstoolbox.local/"
    /// Audiences Azure's data planes accept (the scope without `/.default`).
    static let audiences: Set<String> = ["https://eventhubs.azure.net/", "https://servicebus.azure.net/"]

    /// The audience a scope such as `https://eventhubs.azure.net//.default` asks for.
    static func audience(forScope scope: String) -> String {
        var audience = scope
        if audience.hasSuffix("/.default") { audience.removeLast("/.default".count) }
        while audience.hasSuffix("//") { audience.removeLast() }
        return audience.hasSuffix("/") ? audience : audience + "/"
    }

    /// A signed token for `audience`; `extraClaims` (e.g. `appid`, `tid`) are added to the standard ones.
    static func issue(audience: String, lifetime: Int, key: Secret<String>, now: Int,
                      extraClaims: [String: String] = [:]) -> String {
        let header = #"{"alg":"HS256","typ":"JWT"}"#
        let (expiry, overflow) = now.addingReportingOverflow(max(0, lifetime))
        var claims: [String: Any] = ["sub": "azure-clients-toolbox-emulator"].merging(extraClaims) { $1 }
        claims.merge(["aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": overflow ? Int.max : expiry]) { $1 }
        let payload = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        let signingInput = base64URL(Array(header.utf8)) + "." + base64URL(Array(payload))
        return signingInput + "." + base64URL(signature(signingInput, key: key))
    }

    /// The token's audience and expiry when its signature, issuer, audience and validity period check out;
    /// otherwise why not (never echoing the token).
    struct Rejection: Error {
        let reason: String
    }

    static func verify(_ token: String, key: Secret<String>, now: Int,
                       audiences: Set<String> = EmulatorJWT.audiences) -> Result<(audience: String, expiry: Int), Rejection> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = base64URLDecode(String(parts[0])),
              let payloadBytes = base64URLDecode(String(parts[1])),
              let signatureBytes = base64URLDecode(String(parts[2]))
        else { return .failure(Rejection(reason: "the token is neither a SharedAccessSignature nor a compact JWT")) }
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
              header["alg"] as? String == "HS256"
        else { return .failure(Rejection(reason: "the JWT's header must say alg HS256 (tokens from the emulator's own issuer)")) }
        let expected = signature(parts[0] + "." + parts[1], key: key)
        guard AuthCrypto.constantTimeEqual(expected, signatureBytes) else {
            return .failure(Rejection(reason: "the JWT's signature does not verify: it was not issued by this emulator"))
        }
        guard let claims = try? JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any],
              let audience = claims["aud"] as? String, let expiry = (claims["exp"] as? NSNumber)?.intValue
        else { return .failure(Rejection(reason: "the JWT lacks aud or exp")) }
        guard claims["iss"] as? String == issuer else { return .failure(Rejection(reason: "the JWT's issuer is not this emulator")) }
        guard audiences.contains(audience) else {
            let expected = audiences.sorted().joined(separator: " or ")
            return .failure(Rejection(reason: "the JWT's audience '\(audience)' is not this service's (\(expected))"))
        }
        if let notBefore = (claims["nbf"] as? NSNumber)?.intValue, notBefore > now + 300 {
            return .failure(Rejection(reason: "the JWT is not valid yet"))
        }
        guard expiry > now else { return .failure(Rejection(reason: "the JWT has expired")) }
        return .success((audience, expiry))
    }

    private static func signature(_ input: some StringProtocol, key: Secret<String>) -> [UInt8] {
        AuthCrypto.hmacSHA256(key: Array(key.exposedValue.utf8), message: Array(input.utf8))
    }


    static func base64URL(_ bytes: [UInt8]) -> String {
        AuthCrypto.base64(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return AuthCrypto.base64Decode(standard)
    }
}
