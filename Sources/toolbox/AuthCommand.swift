import ArgumentParser
import AzureAuth
import Foundation
import ToolboxCore

/// `toolbox auth ...`: SAS tokens and Entra ID access tokens.
struct AuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Build SAS tokens and obtain Entra ID access tokens",
        subcommands: [SASTokenCommand.self, TokenCommand.self])
}

/// `toolbox auth sas-token --uri URI --key-name NAME --key KEY --expiry UNIX_SECONDS`
struct SASTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sas-token",
        abstract: "Print an Event Hubs / Service Bus SAS token, built exactly as Azure's SDKs build it",
        discussion: #"Output: {"token": "SharedAccessSignature sr=...&sig=...&se=...&skn=..."}"#)

    @Option(help: "The audience, e.g. sb://<namespace>.servicebus.windows.net/<entity>")
    var uri: String

    @Option(name: .customLong("key-name"), help: "The shared access policy name")
    var keyName: String

    @Option(help: "The shared access key, as shown in the portal (not decoded)")
    var key: String

    @Option(help: "Expiry in UNIX seconds")
    var expiry: Int

    func run() throws {
        let token = SharedAccessSignature.token(audience: uri, keyName: keyName, key: Secret(key), expiry: expiry)
        JSONOutput.printLine(["token": token.exposedValue])
    }
}

/// `toolbox auth token --scope SCOPE [--credential ...] [--authority-host URL] [--ca-file PEM] [--show-token] --json`
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Obtain an Entra ID access token with one of the library's credentials",
        discussion: #"Output: {"credential": ..., "expires_on": UNIX, "token_sha256": ...} (plus "token" with "#
            + "--show-token). 'credential' names the credential type that produced the token (for 'default', the "
            + "chain member that answered).")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case `default`, environment
        case clientSecret = "client-secret"
        case managedIdentity = "managed-identity"
        case workloadIdentity = "workload-identity"
        case azureCLI = "azure-cli"
    }

    @Option(help: "The scope, e.g. https://storage.azure.com/.default")
    var scope: String

    @Option(help: "default|environment|client-secret|managed-identity|workload-identity|azure-cli")
    var credential: Kind = .default

    @Option(name: .customLong("authority-host"), help: "Entra ID authority (overrides AZURE_AUTHORITY_HOST)")
    var authorityHost: String?

    @OptionGroup var tls: CAFileOption

    @Flag(name: .customLong("show-token"), help: "Also print the token itself")
    var showToken = false

    @Flag(help: "Print one JSON object (the only output format)")
    var json = false

    @Option(help: "Seconds to wait for the token")
    var timeout: Double = 60

    func validate() throws { _ = try Duration(cliSeconds: timeout, flag: "--timeout") }

    func run() throws {
        var environment = AzureEnvironmentVariable.processEnvironment
        if let authorityHost { environment[AzureEnvironmentVariable.authorityHost] = authorityHost }
        do {
            let transport = try AuthCommandTransport.make(caFile: tls.caFile)
            let chosen = try Self.makeCredential(credential, environment: environment, transport: transport)
            let token = try chosen.token(for: [scope], options: TokenRequestOptions(deadline: .after(try Duration(cliSeconds: timeout, flag: "--timeout"))))
            var name = chosen.credentialName
            if let chain = chosen as? DefaultAzureCredential, let member = chain.selectedCredential {
                name = member.credentialName
            }
            var output: [String: Any] = [
                "credential": name, "expires_on": token.expiresOn,
                "token_sha256": AuthCrypto.sha256Hex(token.token.exposedValue),
            ]
            if showToken { output["token"] = token.token.exposedValue }
            JSONOutput.printLine(output)
        } catch let error as ToolboxError {
            JSONOutput.printError("\(error)")
            throw ExitCode.failure
        }
    }

    /// The credential `kind` names, configured from `environment` (also used by `toolbox blob --credential`).
    static func makeCredential(_ kind: Kind, environment: [String: String], transport: any TokenHTTPTransport) throws
        -> any TokenCredential
    {
        typealias Env = AzureEnvironmentVariable
        switch kind {
        case .default:
            return DefaultAzureCredential(environment: environment, transport: transport)
        case .environment:
            return EnvironmentCredential(environment: environment, transport: transport)
        case .clientSecret:
            guard let tenant = environment[Env.tenantID], let client = environment[Env.clientID],
                let secret = environment[Env.clientSecret]
            else {
                throw AuthError(.credentialUnavailable, "client-secret needs \(Env.tenantID), \(Env.clientID) and "
                    + "\(Env.clientSecret) in the environment")
            }
            return try ClientSecretCredential(
                tenantID: tenant, clientID: client, clientSecret: Secret(secret), environment: environment,
                transport: transport)
        case .managedIdentity:
            return try ManagedIdentityCredential(
                id: environment[Env.clientID].map { .clientID($0) }, environment: environment, transport: transport)
        case .workloadIdentity:
            return try WorkloadIdentityCredential(environment: environment, transport: transport)
        case .azureCLI:
            return AzureCLICredential(environment: environment)
        }
    }
}

/// The HTTP transport token requests use from the CLI.
enum AuthCommandTransport {
    static func make(caFile: String?) throws -> any TokenHTTPTransport {
        try HTTPClientTokenTransport(caFile: CAFileOption.readable(caFile))
    }
}
