import AzureAuth
import Dispatch
import ToolboxCore

/// `AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey=...;` — the portal's Cosmos DB
/// connection string.
public struct CosmosConnectionString: Sendable, CustomStringConvertible {
    public let accountEndpoint: String
    public let accountKey: Secret<String>

    /// - throws: `.malformedConnectionString` / `.missingConnectionStringKey` naming what is wrong (never the key).
    public init(parsing text: String) throws(ToolboxError) {
        let fields = try ConnectionStringFields(parsing: text, kind: "Cosmos DB", shape: "AccountEndpoint=https://...;AccountKey=...;")
        guard let endpoint = fields["AccountEndpoint"] else {
            throw ToolboxError(.missingConnectionStringKey, "the Cosmos DB connection string has no 'AccountEndpoint='; "
                + "copy it from the portal ('Keys' → 'PRIMARY CONNECTION STRING')")
        }
        guard let key = fields["AccountKey"] else {
            throw ToolboxError(.missingConnectionStringKey, "the Cosmos DB connection string has no 'AccountKey='")
        }
        accountEndpoint = endpoint
        accountKey = Secret(key)
    }

    public var description: String { "CosmosConnectionString(accountEndpoint: \(accountEndpoint), accountKey: <redacted>)" }
}

/// How requests are authorized: the account's master key, or an Entra ID token from any `TokenCredential`
/// (`DefaultAzureCredential`, `ClientSecretCredential`, ...).
public enum CosmosAuthorization: Sendable, CustomStringConvertible {
    case masterKey(Secret<String>)
    case credential(any TokenCredential)

    public var description: String {
        switch self {
        case .masterKey: return "masterKey(<redacted>)"
        case .credential(let credential): return "credential(\(credential.credentialName))"
        }
    }
}

/// Produces the `authorization` header of each request.
final class CosmosAuthorizer: Sendable {
    private enum Kind: Sendable {
        case key(CosmosMasterKeySigner)
        case token(any TokenCredential, scope: String)
    }

    private let kind: Kind
    /// The values no error may show even when the service echoes them: the account key.
    let secrets: [String]
    /// Master-key headers of the current second: the same verb, resource and `x-ms-date` sign alike.
    private let signatures = CosmosSignatureCache()
    /// After AADSTS500011 (the account-specific scope is unknown) the SDKs use the generic Cosmos scope.
    private let useFallbackScope = LockedValue(false)

    init(_ authorization: CosmosAuthorization, endpoint: String) throws(ToolboxError) {
        switch authorization {
        case .masterKey(let key):
            kind = .key(try CosmosMasterKeySigner(key: key))
            secrets = [key.exposedValue]
        case .credential(let credential):
            kind = .token(credential, scope: AzureScope.cosmos(endpoint: endpoint))
            secrets = []
        }
    }

    var isToken: Bool {
        if case .token = kind { return true }
        return false
    }

    /// The header for `verb` on the resource; `date` is the request's `x-ms-date`.
    func authorize(verb: String, resourceType: String, resourceLink: String, date: String, deadline: Deadline,
                   completion: @escaping @Sendable (Result<String, ToolboxError>) -> Void) {
        switch kind {
        case .key(let signer):
            completion(.success(signatures.value(verb: verb, resourceType: resourceType, resourceLink: resourceLink,
                                                 date: date) {
                signer.authorizationHeader(verb: verb, resourceType: resourceType, resourceLink: resourceLink,
                                           date: date).exposedValue
            }))
        case .token(let credential, let scope):
            // A `TokenCredential` may be the user's own code: it never runs on a connection's queue (a retry or
            // the next page of a multi-step operation is started there). On a library queue it is called from a
            // work queue; from the caller's own thread directly.
            let queue = LibraryQueues.makeWorkQueue(label: "AzureCosmos.token")
            guard LibraryQueues.currentLibraryQueueLabel == nil else {
                queue.async { [self] in
                    requestToken(credential, scope: scope, deadline: deadline, queue: queue, completion: completion)
                }
                return
            }
            requestToken(credential, scope: scope, deadline: deadline, queue: queue, completion: completion)
        }
    }

    private func requestToken(_ credential: any TokenCredential, scope: String, deadline: Deadline, queue: DispatchQueue,
                              completion: @escaping @Sendable (Result<String, ToolboxError>) -> Void) {
        let fallback = useFallbackScope
        let chosen = fallback.load() ? AzureScope.cosmosFallback : scope
        let options = TokenRequestOptions(deadline: deadline)
        credential.token(for: [chosen], options: options, queue: queue) { result in
            switch result {
            case .success(let token):
                completion(.success(CosmosResourcePath.aadAuthorizationHeader(token: token.token).exposedValue))
            case .failure(let error) where chosen != AzureScope.cosmosFallback
                && error.message.contains("AADSTS500011"):
                fallback.withLockedValue { $0 = true }
                credential.token(for: [AzureScope.cosmosFallback], options: options,
                                 queue: LibraryQueues.makeWorkQueue(label: "AzureCosmos.token")) { retried in
                    completion(retried
                        .map { CosmosResourcePath.aadAuthorizationHeader(token: $0.token).exposedValue }
                        .mapError { CosmosAuthorizer.wrap($0, credential: credential) })
                }
            case .failure(let error):
                completion(.failure(CosmosAuthorizer.wrap(error, credential: credential)))
            }
        }
    }

    private static func wrap(_ error: ToolboxError, credential: any TokenCredential) -> ToolboxError {
        if error.code == .cancelled || error.code == .timedOut { return error }
        return ToolboxError(error.code, "getting a Cosmos DB token from \(credential.credentialName): \(error.message)",
                            serviceCondition: error.serviceCondition, underlying: error, recovery: error.recovery)
    }
}
