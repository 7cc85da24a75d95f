import Dispatch
import Logging
import ToolboxCore

/// Which tenant a request may use: the credential's own, or one the caller asks for in `TokenRequestOptions`
/// when it is listed in `additionallyAllowedTenants` (or the list holds `*`), as azure-identity's
/// `resolve_tenant`. `AZURE_IDENTITY_DISABLE_MULTITENANTAUTH` pins every request to the credential's tenant.
enum TenantPolicy {
    static func resolve(
        configured: String?, requested: String?, allowed: [String], environment: [String: String], credential: String
    ) -> Result<String?, AuthError> {
        let disabled = environment.nonEmpty("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH").map {
            ["1", "true", "yes", "on"].contains($0.lowercased())
        } ?? false
        guard let requested, !disabled, requested != configured else { return .success(configured) }
        do throws(AuthError) {
            try EntraTokenEndpoint.validateTenant(requested)
        } catch {
            return .failure(error)
        }
        if allowed.contains("*") || allowed.contains(requested) { return .success(requested) }
        return .failure(AuthError(.authenticationFailed, "\(credential) is not configured to acquire tokens for "
            + "tenant '\(requested)'; add it to additionallyAllowedTenants (or AZURE_ADDITIONALLY_ALLOWED_TENANTS), "
            + "or use '*' to allow any tenant"))
    }

    /// `AZURE_ADDITIONALLY_ALLOWED_TENANTS`: tenant ids separated by `;`.
    static func allowedFromEnvironment(_ environment: [String: String]) -> [String] {
        (environment.nonEmpty("AZURE_ADDITIONALLY_ALLOWED_TENANTS") ?? "")
            .split(separator: ";").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }
}

/// One token cache per tenant for the Entra ID credentials; created on first use of a tenant.
final class TenantTokenCaches: Sendable {
    private let defaultTenant: String
    private let allowed: [String]
    private let environment: [String: String]
    private let name: String
    private let authorityHost: String
    private let makeCache: @Sendable (EntraTokenEndpoint) -> TokenCache
    private let caches = LockedValue<[String: TokenCache]>([:])

    init(
        name: String, defaultTenant: String, authorityHost: String, allowed: [String],
        environment: [String: String], makeCache: @escaping @Sendable (EntraTokenEndpoint) -> TokenCache
    ) {
        self.name = name
        self.defaultTenant = defaultTenant
        self.authorityHost = authorityHost
        self.allowed = allowed
        self.environment = environment
        self.makeCache = makeCache
    }

    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        let tenant: String
        switch TenantPolicy.resolve(
            configured: defaultTenant, requested: options.tenantID, allowed: allowed, environment: environment,
            credential: name)
        {
        case .success(let resolved): tenant = resolved ?? defaultTenant
        case .failure(let error):
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
        let cache: TokenCache
        do throws(AuthError) {
            cache = try self.cache(for: tenant)
        } catch {
            queue.async { completion(.failure(error)) }
            return CompletedOperation()
        }
        return cache.token(for: scopes, options: options, queue: queue, completion: completion)
    }

    private func cache(for tenant: String) throws(AuthError) -> TokenCache {
        if let existing = caches.withLockedValue({ $0[tenant] }) { return existing }
        let created = makeCache(try EntraTokenEndpoint(authorityHost: authorityHost, tenantID: tenant))
        // Two first callers may race: the first cache stored wins, so all callers share one single-flight.
        return caches.withLockedValue { table in
            if let existing = table[tenant] { return existing }
            table[tenant] = created
            return created
        }
    }
}
