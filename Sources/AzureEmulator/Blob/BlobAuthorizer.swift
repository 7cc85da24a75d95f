import AzureAuth
import Foundation
import ToolboxCore
import AzureAuthVerification

/// How a request proved who it is.
enum BlobCredentialKind: Sendable, Equatable {
    case sharedKey, bearer, serviceSAS, userDelegationSAS
}

/// Checks every request's credential the way Blob Storage does: Shared Key (recomputed with AzureAuth's
/// `StorageSharedKeySigner`), bearer tokens from the emulator's own issuer (audience `https://storage.azure.com/`),
/// and service or user-delegation SAS (verified with AzureAuth's `BlobSASVerifier`, then permissions, protocol
/// and resource checked against the operation). A wrong credential gets 403 `AuthenticationFailed`.
struct BlobAuthorizer: Sendable {
    /// Audiences a storage bearer token may carry (`https://storage.azure.com/.default` asks for the first).
    static let audiences: Set<String> = ["https://storage.azure.com/", "https://storage.azure.com"]
    /// How far `x-ms-date` may be from the emulator's clock (Azure: 15 minutes).
    static let maxClockSkew = 15 * 60

    let context: EmulatorHTTPContext
    let accountName: String
    let accountKey: Secret<String>
    private let signer: StorageSharedKeySigner?

    init(context: EmulatorHTTPContext) {
        self.context = context
        accountName = context.configuration.blobAccountName
        accountKey = context.configuration.blobAccountKey
        signer = try? StorageSharedKeySigner(accountName: accountName, accountKey: accountKey)
    }

    static func authenticationFailed(_ detail: String) -> BlobError {
        BlobError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of "
            + "Authorization header is formed correctly including the signature.\nAuthenticationErrorDetail: \(detail)")
    }

    /// Whether `request` may perform `operation`; `blobExists` tells a create-only (`c`) SAS from an overwrite.
    func authorize(_ request: EmulatorHTTPRequest, operation: BlobOperation, container: String?, blob: String?,
                   now: Int = UTCDate.nowUnixSeconds(), blobExists: () -> Bool) -> Result<BlobCredentialKind, BlobError> {
        if request.queryValue("sig") != nil {
            return authorizeSAS(request, operation: operation, container: container, blob: blob, now: now, blobExists: blobExists)
        }
        guard let authorization = request.header("Authorization"), !authorization.isEmpty else {
            return .failure(BlobError(401, "NoAuthenticationInformation",
                                      "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."))
        }
        let scheme = authorization.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        switch scheme.lowercased() {
        case "sharedkey":
            if operation == .getUserDelegationKey {
                return .failure(Self.authenticationFailed("Get User Delegation Key accepts only bearer (Entra ID) tokens."))
            }
            return verifySharedKey(request, authorization: authorization, now: now).map { .sharedKey }
        case "bearer":
            switch context.verifyBearer(authorization, audiences: Self.audiences, now: now) {
            case .success: return .success(.bearer)
            case .failure(let rejection): return .failure(Self.authenticationFailed(rejection.reason))
            }
        default:
            return .failure(Self.authenticationFailed("the Authorization scheme '\(scheme.prefix(32))' is not SharedKey or Bearer."))
        }
    }

    // MARK: Shared Key

    private func verifySharedKey(_ request: EmulatorHTTPRequest, authorization: String, now: Int) -> Result<Void, BlobError> {
        guard let signer else { return .failure(Self.authenticationFailed("the emulator's account key is not valid base64.")) }
        let credential = authorization.dropFirst("SharedKey ".count)
        guard let colon = credential.lastIndex(of: ":") else {
            return .failure(Self.authenticationFailed("the Authorization header must be 'SharedKey <account>:<signature>'."))
        }
        let account = credential[..<colon].trimmingCharacters(in: .whitespaces)
        let given = credential[credential.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard account == accountName else {
            return .failure(Self.authenticationFailed("the Shared Key names account '\(account.prefix(64))', this is '\(accountName)'."))
        }
        guard let dateText = request.header("x-ms-date") ?? request.header("Date") else {
            return .failure(Self.authenticationFailed("the request has neither x-ms-date nor Date."))
        }
        guard let date = BlobHTTPDate.parse(dateText) else {
            return .failure(Self.authenticationFailed("the request date is not an RFC 1123 date."))
        }
        if abs(date - now) > Self.maxClockSkew {
            return .failure(Self.authenticationFailed("the request date is more than 15 minutes from the server's time."))
        }
        // An origin-form target behind a fixed scheme and host, so a path holding "://" still splits right.
        let url = "http://emulator" + request.path + (request.rawQuery.isEmpty ? "" : "?" + request.rawQuery)
        let headers = request.head.headers.map { ($0.name, $0.value) }
        let expected = signer.signature(method: request.method, url: url, headers: headers)
        guard AuthCrypto.constantTimeEqual(Array(expected.utf8), Array(given.utf8)) else {
            let text = Self.redacted(signer.stringToSign(method: request.method, url: url, headers: headers))
            return .failure(Self.authenticationFailed("The MAC signature found in the HTTP request is not the same as any "
                + "computed signature. Server used following string to sign: '\(text)'."))
        }
        return .success(())
    }

    /// The string to sign as it may appear in an error: signed headers that carry credentials
    /// (`x-ms-copy-source-authorization`, a copy source's SAS query) are replaced by `<redacted>`.
    static func redacted(_ stringToSign: String) -> String {
        stringToSign.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let lowered = line.lowercased()
            if lowered.hasPrefix("x-ms-") && lowered.contains("authorization:") {
                return String(line.prefix { $0 != ":" }) + ":<redacted>"
            }
            if lowered.hasPrefix("x-ms-copy-source:"), let mark = line.firstIndex(of: "?") {
                return String(line[..<mark]) + "?<redacted>"
            }
            return String(line)
        }.joined(separator: "\n")
    }

    // MARK: SAS

    private func authorizeSAS(_ request: EmulatorHTTPRequest, operation: BlobOperation, container: String?, blob: String?,
                              now: Int, blobExists: () -> Bool) -> Result<BlobCredentialKind, BlobError> {
        guard let container, operation.scope != .account else {
            return .failure(BlobError(403, "AuthorizationResourceTypeMismatch",
                                      "This request is not authorized to perform this operation using this resource type."))
        }
        let resource = request.queryValue("sr") ?? ""
        switch (resource, operation.scope) {
        case ("b", .blob), ("c", .blob), ("c", .container): break
        case ("b", .container):
            return .failure(BlobError(403, "AuthorizationResourceTypeMismatch",
                                      "This request is not authorized to perform this operation using this resource type."))
        default:
            return .failure(Self.authenticationFailed("sr must be 'b' or 'c' (the emulator serves no snapshot, version or directory SAS)."))
        }
        if request.queryValue("si") != nil {
            return .failure(Self.authenticationFailed("the SAS names a stored access policy (si); the emulator keeps none."))
        }
        var udkValue: Secret<String>?
        let kind: BlobCredentialKind
        if request.queryValue("skoid") != nil {
            kind = .userDelegationSAS
            switch userDelegationKeyValue(request, now: now) {
            case .success(let value): udkValue = value
            case .failure(let error): return .failure(error)
            }
        } else {
            kind = .serviceSAS
        }
        let verdict = BlobSASVerifier.verify(query: request.rawQuery, accountName: accountName, containerName: container,
                                             blobName: blob, accountKey: accountKey, userDelegationKeyValue: udkValue, now: now)
        switch verdict {
        case .valid: break
        case .expired: return .failure(Self.authenticationFailed("Signed expiry time must be after the current time: the SAS has expired."))
        case .notYetValid: return .failure(Self.authenticationFailed("Signed start time is in the future: the SAS is not valid yet."))
        case .malformed(let why): return .failure(Self.authenticationFailed("the SAS is malformed: \(why)."))
        case .signatureMismatch:
            return .failure(Self.authenticationFailed("Signature did not match: the SAS was not signed for this resource with this account's key."))
        }
        if let allowed = request.queryValue("spr"), !allowed.split(separator: ",").contains("http"), !request.isSecure {
            return .failure(BlobError(403, "AuthorizationProtocolMismatch",
                                      "This request is not authorized to perform this operation using this protocol (the SAS allows HTTPS only)."))
        }
        let granted = Set(request.queryValue("sp") ?? "")
        let needed = operation.sasPermissions(blobExists: operation.scope == .blob && blobExists())
        guard !granted.isDisjoint(with: needed) else {
            return .failure(BlobError(403, "AuthorizationPermissionMismatch",
                                      "This request is not authorized to perform this operation using this permission "
                                        + "(it needs one of '\(String(needed.sorted()))')."))
        }
        return .success(kind)
    }

    /// The key value Get User Delegation Key handed out for the token's `skoid/sktid/skt/ske/sks/skv`, after
    /// checking the key's own validity window.
    private func userDelegationKeyValue(_ request: EmulatorHTTPRequest, now: Int) -> Result<Secret<String>, BlobError> {
        let field = { (name: String) in request.queryValue(name) ?? "" }
        guard let start = UTCDate.parseISO8601(field("skt")), let expiry = UTCDate.parseISO8601(field("ske")) else {
            return .failure(Self.authenticationFailed("skt and ske must be ISO 8601 times."))
        }
        guard field("sks") == "b" else { return .failure(Self.authenticationFailed("sks must be 'b' (the Blob service).")) }
        if expiry <= now { return .failure(Self.authenticationFailed("the user delegation key has expired (ske).")) }
        if start > now + Self.maxClockSkew { return .failure(Self.authenticationFailed("the user delegation key is not valid yet (skt).")) }
        guard let value = BlobUserDelegation.keyValue(accountKey: accountKey, objectID: field("skoid"), tenantID: field("sktid"),
                                                      start: field("skt"), expiry: field("ske"), service: field("sks"),
                                                      version: field("skv"), delegatedUserTenantID: field("skdutid"))
        else { return .failure(Self.authenticationFailed("the emulator's account key is not valid base64.")) }
        return .success(value)
    }
}
