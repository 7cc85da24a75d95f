import Dispatch
import Foundation
import Logging
import ToolboxCore

/// Authenticates with a federated token file (Kubernetes workload identity): the file's content is sent as a
/// client assertion.
///
/// ```swift
/// let credential = try WorkloadIdentityCredential(transport: transport)   // reads the AZURE_* variables
/// ```
///
/// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST` from
/// `environment` unless given. The file is read again when it is older than ten minutes in memory (the
/// projected token rotates). Tokens are cached per tenant and scope set; other tenants as `ClientSecretCredential`.
public final class WorkloadIdentityCredential: TokenCredential, ClientCredentialsGrantCredential,
    CustomStringConvertible
{
    public let credentialName = "WorkloadIdentityCredential"
    public let tokenFilePath: String
    let grant: ClientCredentialsGrant
    /// The tenant tokens come from, unless a request names another allowed tenant.
    public var tenantID: String { grant.tenantID }
    /// The application (client) id.
    public var clientID: String { grant.clientID }

    /// - throws: `AuthError.Code.credentialUnavailable` naming each missing variable.
    public init(
        tenantID: String? = nil, clientID: String? = nil, tokenFilePath: String? = nil, authorityHost: String? = nil,
        additionallyAllowedTenants: [String]? = nil,
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, logger: Logger = Logger(label: "AzureAuth.WorkloadIdentityCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        typealias Env = AzureEnvironmentVariable
        let tenant = tenantID ?? environment.nonEmpty(Env.tenantID)
        let client = clientID ?? environment.nonEmpty(Env.clientID)
        let file = tokenFilePath ?? environment.nonEmpty(Env.federatedTokenFile)
        guard let tenant, let client, let file else {
            let missing = [(tenant, Env.tenantID), (client, Env.clientID), (file, Env.federatedTokenFile)]
                .filter { $0.0 == nil }.map(\.1)
            throw AuthError(.credentialUnavailable, "WorkloadIdentityCredential is unavailable: "
                + "\(missing.joined(separator: ", ")) not set; set them or pass tenantID, clientID and tokenFilePath")
        }
        let assertion = FederatedTokenFile(path: file, clock: clock)
        grant = try ClientCredentialsGrant(
            credentialName: "WorkloadIdentityCredential", tenantID: tenant, clientID: client,
            authorityHost: authorityHost, additionallyAllowedTenants: additionallyAllowedTenants,
            environment: environment, transport: transport, logger: logger, clock: clock
        ) { _ in
            assertion.read().map {
                [("client_assertion", $0.exposedValue), ("client_assertion_type", ClientCertificateCredential.jwtBearer)]
            }
        }
        self.tokenFilePath = file
    }

    public var description: String {
        "WorkloadIdentityCredential(tenantID: \(tenantID), clientID: \(clientID), tokenFile: \(tokenFilePath))"
    }
}

/// The federated token file, re-read at most every ten minutes (as azure-identity's `TokenFileMixin`).
final class FederatedTokenFile: Sendable {
    private let path: String
    private let clock: @Sendable () -> Int
    private let cached = LockedValue<(value: Secret<String>, readAt: Int)?>(nil)
    static let rereadInterval = 600
    /// The largest token file read: 1 MiB (Kubernetes' projected tokens are a few KB).
    static let maxBytes = 1 << 20

    init(path: String, clock: @escaping @Sendable () -> Int) {
        self.path = path
        self.clock = clock
    }

    func read() -> Result<Secret<String>, AuthError> {
        let now = clock()
        if let entry = cached.load(), now - entry.readAt < Self.rereadInterval { return .success(entry.value) }
        // A regular file of a few KB (a JWT): a 300 MB file took 27 s and 914 MB to read, and a FIFO blocks.
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFREG else {
                return .failure(AuthError(.credentialUnavailable, "the federated token file '\(path)' "
                    + "(AZURE_FEDERATED_TOKEN_FILE) is not a regular file"))
            }
            guard info.st_size <= Self.maxBytes else {
                return .failure(AuthError(.credentialUnavailable, "the federated token file '\(path)' "
                    + "(AZURE_FEDERATED_TOKEN_FILE) has \(info.st_size) bytes; a federated token is a JWT of a few KB "
                    + "(at most \(Self.maxBytes) bytes are read)"))
            }
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= Self.maxBytes else {
            return .failure(AuthError(.credentialUnavailable, "WorkloadIdentityCredential could not read the "
                + "federated token file '\(path)' (AZURE_FEDERATED_TOKEN_FILE); check that it exists and is readable"))
        }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !text.isEmpty else {
            return .failure(AuthError(.credentialUnavailable, "the federated token file '\(path)' is empty"))
        }
        cached.withLockedValue { $0 = (Secret(text), now) }
        return .success(Secret(text))
    }
}
