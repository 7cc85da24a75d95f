import AzureAuth
import Foundation
import ToolboxCore

/// Get User Delegation Key: keys derived from the account key, so the emulator keeps no state for them and a
/// user-delegation SAS verifies by deriving the key again from the token's own `skoid/sktid/skt/ske/sks/skv`.
enum BlobUserDelegation {
    /// The object id the emulator's Entra principal has (`SignedOid`, `skoid`).
    static let objectID = "e1a70b10-0000-4000-8000-00000000b10b"
    /// Azure refuses keys valid for longer than seven days.
    static let maxLifetime = 7 * 24 * 3600

    /// base64(HMAC-SHA256(account key, the key's signed fields)); nil when the account key is not base64.
    static func keyValue(accountKey: Secret<String>, objectID: String, tenantID: String, start: String, expiry: String,
                         service: String, version: String, delegatedUserTenantID: String) -> Secret<String>? {
        guard let key = AuthCrypto.base64Decode(accountKey.exposedValue) else { return nil }
        let text = ["emulator-user-delegation-key", objectID, tenantID, start, expiry, service, version, delegatedUserTenantID]
            .joined(separator: "\n")
        return Secret(AuthCrypto.base64(AuthCrypto.hmacSHA256(key: key, message: text)))
    }

    /// Answers `POST /<account>/?restype=service&comp=userdelegationkey` with body
    /// `<KeyInfo><Start>…</Start><Expiry>…</Expiry></KeyInfo>`.
    static func respond(to request: EmulatorHTTPRequest, configuration: EmulatorConfiguration, responder: BlobResponder,
                        now: Int = UTCDate.nowUnixSeconds()) -> Result<String, BlobError> {
        let root: BlobXMLElement
        switch BlobXMLReader.parse(request.body) {
        case .success(let element): root = element
        case .failure(let error): return .failure(error)
        }
        let badNode = { (why: String) in
            Result<String, BlobError>.failure(BlobError(400, "InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format: \(why)"))
        }
        guard root.name == "KeyInfo" else { return badNode("the root element must be KeyInfo") }
        guard let expiryText = root.child("Expiry")?.text, let expiry = UTCDate.parseISO8601(expiryText) else {
            return badNode("Expiry must be an ISO 8601 UTC time")
        }
        var start = now
        if let startText = root.child("Start")?.text, !startText.isEmpty {
            guard let parsed = UTCDate.parseISO8601(startText) else { return badNode("Start must be an ISO 8601 UTC time") }
            start = parsed
        }
        if expiry <= now { return badNode("Expiry is in the past") }
        if expiry <= start { return badNode("Expiry must be after Start") }
        if expiry - now > maxLifetime { return badNode("Expiry is more than 7 days in the future") }
        let delegated = root.child("DelegatedUserTid")?.text ?? ""
        // The SDK re-formats these to whole seconds before signing, so hand them out that way.
        let skt = UTCDate.iso8601(start)
        let ske = UTCDate.iso8601(expiry)
        let tenant = configuration.tenantID
        guard let value = keyValue(accountKey: configuration.blobAccountKey, objectID: objectID, tenantID: tenant,
                                   start: skt, expiry: ske, service: "b", version: responder.version,
                                   delegatedUserTenantID: delegated)
        else { return .failure(BlobError(500, "InternalError", "The emulator's account key is not valid base64.")) }
        var xml = #"<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>"#
        xml += "<SignedOid>\(objectID)</SignedOid><SignedTid>\(BlobXML.escape(tenant))</SignedTid>"
        xml += "<SignedStart>\(skt)</SignedStart><SignedExpiry>\(ske)</SignedExpiry>"
        xml += "<SignedService>b</SignedService><SignedVersion>\(BlobXML.escape(responder.version))</SignedVersion>"
        if !delegated.isEmpty { xml += "<SignedDelegatedUserTid>\(BlobXML.escape(delegated))</SignedDelegatedUserTid>" }
        xml += "<Value>\(value.exposedValue)</Value></UserDelegationKey>"
        return .success(xml)
    }
}
