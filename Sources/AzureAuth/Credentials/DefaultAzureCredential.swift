import Dispatch
import Logging
import ToolboxCore

/// The credential chain for code that runs both on developer machines and in Azure, in azure-identity's order:
/// environment (client secret), workload identity, managed identity, Azure CLI.
///
/// ```swift
/// let credential = DefaultAzureCredential(transport: transport)
/// let token = try credential.token(for: ["https://storage.azure.com/.default"])
/// ```
///
/// Members whose configuration is missing report why; if none produces a token the error lists each member
/// and its reason. `AZURE_CLIENT_ID` also selects the user-assigned managed identity and the workload
/// identity's client, as in Azure's SDKs. The first member that succeeds is used for later requests.
public final class DefaultAzureCredential: TokenCredential, TokenForwardingCredential, CustomStringConvertible {
    /// Which members to leave out of the chain.
    public struct Exclusions: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let environment = Exclusions(rawValue: 1 << 0)
        public static let workloadIdentity = Exclusions(rawValue: 1 << 1)
        public static let managedIdentity = Exclusions(rawValue: 1 << 2)
        public static let azureCLI = Exclusions(rawValue: 1 << 3)
    }

    public let credentialName = "DefaultAzureCredential"
    private let chain: ChainedTokenCredential

    public init(
        environment: [String: String] = AzureEnvironmentVariable.processEnvironment,
        transport: any TokenHTTPTransport, exclude: Exclusions = [],
        managedIdentityClientID: String? = nil, cliProcessTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "AzureAuth.DefaultAzureCredential"),
        clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) {
        var members: [any TokenCredential] = []
        if !exclude.contains(.environment) {
            members.append(EnvironmentCredential(
                environment: environment, transport: transport, logger: logger, clock: clock))
        }
        if !exclude.contains(.workloadIdentity) {
            do throws(AuthError) {
                members.append(try WorkloadIdentityCredential(
                    environment: environment, transport: transport, logger: logger, clock: clock))
            } catch {
                members.append(UnavailableCredential(credentialName: "WorkloadIdentityCredential", error: error))
            }
        }
        if !exclude.contains(.managedIdentity) {
            let clientID = managedIdentityClientID ?? environment.nonEmpty(AzureEnvironmentVariable.clientID)
            do throws(AuthError) {
                members.append(try ManagedIdentityCredential(
                    id: clientID.map { .clientID($0) }, environment: environment, transport: transport,
                    retryDelays: [0.8, 1.6, 3.2], probe: true, logger: logger, clock: clock))
            } catch {
                members.append(UnavailableCredential(credentialName: "ManagedIdentityCredential", error: error))
            }
        }
        if !exclude.contains(.azureCLI) {
            members.append(AzureCLICredential(processTimeout: cliProcessTimeout, environment: environment))
        }
        chain = ChainedTokenCredential(members, name: "DefaultAzureCredential", rememberSuccessful: true)
    }

    /// The members, in the order they are tried.
    public var credentials: [any TokenCredential] { chain.credentials }

    /// The member that produced the last token, if any has.
    public var selectedCredential: (any TokenCredential)? { chain.selectedCredential }

    var tokenSource: any TokenSource { chain }

    public var description: String { "DefaultAzureCredential(\(credentials.map(\.credentialName)))" }
}

/// A chain member that could not be configured; it reports why on every request.
struct UnavailableCredential: TokenCredential {
    let credentialName: String
    let error: AuthError

    func token(
        for scopes: [String], options: TokenRequestOptions, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) -> any Cancellable {
        let error = self.error
        queue.async { completion(.failure(error)) }
        return CompletedOperation()
    }
}
