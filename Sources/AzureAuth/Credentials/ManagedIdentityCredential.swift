import Dispatch
import Logging
import ToolboxCore

/// Authenticates as the Azure resource's managed identity: App Service / Functions (`IDENTITY_ENDPOINT` +
/// `IDENTITY_HEADER`) or the Instance Metadata Service (VMs, AKS).
///
/// ```swift
/// let systemAssigned = try ManagedIdentityCredential(transport: transport)
/// let userAssigned = try ManagedIdentityCredential(id: .clientID("..."), transport: transport)
/// ```
///
/// The source is chosen from `environment` in azure-identity's order. Service Fabric, Azure Arc and Cloud Shell
/// are recognised but not supported: those environments make the credential unavailable with a message saying
/// so. IMDS answers 404, 410, 429 and 5xx, and App Service answers 408, 429, 500, 502, 503 and 504 (azure-core's
/// retry statuses), are retried with backoff (`retryDelays`). Tokens are cached per scope.
public final class ManagedIdentityCredential: TokenCredential, CustomStringConvertible {
    /// Which user-assigned identity to use; nil means the system-assigned one.
    public enum UserAssignedID: Sendable, Equatable, CustomStringConvertible {
        case clientID(String)
        case objectID(String)
        case resourceID(String)

        public var description: String {
            switch self {
            case .clientID(let id): return "clientID(\(id))"
            case .objectID(let id): return "objectID(\(id))"
            case .resourceID(let id): return "resourceID(\(id))"
            }
        }
    }

    /// Where tokens come from.
    public enum Source: String, Sendable {
        case appService
        case imds
    }

    public let credentialName = "ManagedIdentityCredential"
    public let source: Source
    public let id: UserAssignedID?
    private let endpoint: String
    private let cache: TokenCache

    /// - parameters:
    ///   - id: a user-assigned identity (client id, object id or resource id); nil for the system-assigned one.
    ///   - environment: where to look for App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`.
    ///   - transport: how token requests are sent.
    ///   - retryDelays: seconds to wait before each retry of a retryable answer.
    ///   - logger: where the credential logs (never tokens).
    ///   - clock: the wall clock in UNIX seconds, for token expiry.
    /// - throws: `AuthError.Code.credentialUnavailable` in an environment this credential does not support.
    public convenience init(
        id: UserAssignedID? = nil, environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, retryDelays: [Double] = [0.8, 1.6, 3.2],
        logger: Logger = Logger(label: "AzureAuth.ManagedIdentityCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        try self.init(
            id: id, environment: environment, transport: transport, retryDelays: retryDelays, probe: false,
            logger: logger, clock: clock)
    }

    /// `probe`: inside DefaultAzureCredential, the first IMDS request (without an endpoint override) gets a
    /// one-second deadline and no retries, and a network failure makes the credential unavailable.
    init(
        id: UserAssignedID?, environment: [String: String], transport: any TokenHTTPTransport,
        retryDelays: [Double], probe: Bool, logger: Logger, clock: @escaping @Sendable () -> Int
    ) throws(AuthError) {
        typealias Env = AzureEnvironmentVariable
        let name = "ManagedIdentityCredential"
        func unsupported(_ what: String) -> AuthError {
            AuthError(.credentialUnavailable, "\(name) is unavailable: \(what) managed identity is not supported "
                + "by this library; use another credential")
        }
        self.id = id
        if let identityEndpoint = environment.nonEmpty(Env.identityEndpoint) {
            // A user name or password in the URL would be quoted by every error naming the endpoint.
            let parts = identityEndpoint.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            if parts.count > 2, parts[2].contains("@") {
                throw AuthError(.invalidArgument, "\(Env.identityEndpoint) carries a user name or password "
                    + "('user@host'); App Service sets none there")
            }
            if environment.nonEmpty(Env.identityHeader) != nil,
                environment.nonEmpty(Env.identityServerThumbprint) != nil
            {
                throw unsupported("Service Fabric")
            }
            if let header = environment.nonEmpty(Env.identityHeader) {
                source = .appService
                endpoint = identityEndpoint
                let request = ManagedIdentityRequest(
                    source: .appService, endpoint: identityEndpoint, id: id, secretHeader: Secret(header))
                cache = TokenCache(name: name, logger: logger, clock: clock) { scopes, deadline, done in
                    request.send(scopes: scopes, transport: transport, deadline: deadline, retryDelays: retryDelays,
                        probe: nil, clock: clock, completion: done)
                }
                return
            }
            if environment.nonEmpty(Env.imdsEndpoint) != nil { throw unsupported("Azure Arc") }
            throw AuthError(.credentialUnavailable, "\(name) is unavailable: \(Env.identityEndpoint) is set but "
                + "\(Env.identityHeader) is not; App Service sets both")
        }
        if environment.nonEmpty(Env.msiEndpoint) != nil { throw unsupported("Cloud Shell / Azure ML (MSI_ENDPOINT)") }
        let override = environment.nonEmpty(Env.podIdentityAuthorityHost)
        var host = override ?? Env.defaultIMDSHost
        while host.hasSuffix("/") { host.removeLast() }
        source = .imds
        endpoint = host + "/metadata/identity/oauth2/token"
        let request = ManagedIdentityRequest(source: .imds, endpoint: endpoint, id: id, secretHeader: nil)
        let probeState: LockedValue<Bool>? = (probe && override == nil) ? LockedValue(false) : nil
        cache = TokenCache(name: name, logger: logger, clock: clock) { scopes, deadline, done in
            request.send(scopes: scopes, transport: transport, deadline: deadline, retryDelays: retryDelays,
                probe: probeState, clock: clock, completion: done)
        }
    }

    @discardableResult
    public func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        if case .failure(let error) = ScopeResource.resource(for: scopes, credential: credentialName) {
            let delivery = TokenDelivery(queue: queue, deadline: .never, operation: "", completion: completion)
            delivery.deliver(.failure(error))
            return delivery
        }
        return cache.token(for: scopes, options: options, queue: queue, completion: completion)
    }

    public var description: String {
        "ManagedIdentityCredential(source: \(source.rawValue), endpoint: \(endpoint)"
            + "\(id.map { ", id: \($0)" } ?? ""))"
    }
}
