import AzureAuth
import ToolboxCore

/// Server-side check of a blob or container SAS (service or user-delegation), for emulators and tests.
///
/// ```swift
/// let verdict = BlobSASVerifier.verify(query: "se=...&sp=r&sv=2026-10-06&sr=b&sig=...",
///     accountName: "devstoreaccount1", containerName: "ctr1", blobName: "dir/a.txt",
///     accountKey: key, now: now)
/// ```
///
/// The string to sign is rebuilt from the token's own field values (as sent, after percent-decoding), so a
/// token from any SDK verifies as long as it uses the `sv=2020-12-06`-or-later layout `BlobSASBuilder` produces.
public enum BlobSASVerifier {
    /// Why a SAS was refused.
    public enum Verdict: Equatable, Sendable {
        case valid
        case malformed(String)
        case expired
        case notYetValid
        case signatureMismatch
    }

    /// Checks `query` (without `?`) for the named resource. `userDelegationKeyValue` is the base64 key the
    /// service handed out for the token's `skoid`/`skt`/`ske`; pass it for user-delegation tokens.
    public static func verify(
        query: String, accountName: String, containerName: String, blobName: String?,
        accountKey: Secret<String>, userDelegationKeyValue: Secret<String>? = nil, now: Int
    ) -> Verdict {
        var fields: [String: String] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields[String(parts[0])] = PercentEncoding.unquote(parts.count > 1 ? String(parts[1]) : "")
        }
        guard let signature = fields["sig"], let expiry = fields["se"], let permissions = fields["sp"],
            let version = fields["sv"], let resource = fields["sr"]
        else { return .malformed("a SAS needs sig, se, sp, sv and sr") }
        guard let expiresOn = UTCDate.parseISO8601(expiry) else { return .malformed("se is not an ISO 8601 time") }
        if expiresOn <= now { return .expired }
        if let start = fields["st"] {
            guard let startsOn = UTCDate.parseISO8601(start) else { return .malformed("st is not an ISO 8601 time") }
            if startsOn > now { return .notYetValid }
        }
        var path = "/blob/\(accountName)/\(containerName)"
        if resource == "b" {
            guard let blobName else { return .malformed("sr=b on a container") }
            path += "/\(blobName)"
        }
        let f = { (name: String) in fields[name] ?? "" }
        let overrides = [f("rscc"), f("rscd"), f("rsce"), f("rscl"), f("rsct")]
        let text: String
        let key: [UInt8]?
        if fields["skoid"] != nil {
            text = ([permissions, f("st"), expiry, path, f("skoid"), f("sktid"), f("skt"), f("ske"), f("sks"),
                     f("skv"), f("skdutid"), f("sduoid"), f("saoid"), f("suoid"), f("scid"), f("sip"), f("spr"),
                     version, resource, f("snapshot"), f("ses"), "", ""] + overrides).joined(separator: "\n")
            key = userDelegationKeyValue.flatMap { AuthCrypto.base64Decode($0.exposedValue) }
        } else {
            text = ([permissions, f("st"), expiry, path, f("si"), f("sip"), f("spr"), version, resource,
                     f("snapshot"), f("ses")] + overrides).joined(separator: "\n")
            key = AuthCrypto.base64Decode(accountKey.exposedValue)
        }
        guard let key else { return .malformed("no usable key for this SAS") }
        let expected = Array(AuthCrypto.base64(AuthCrypto.hmacSHA256(key: key, message: text)).utf8)
        return AuthCrypto.constantTimeEqual(expected, Array(signature.utf8)) ? .valid : .signatureMismatch
    }
}
