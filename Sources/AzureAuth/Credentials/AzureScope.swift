import Foundation

/// The Entra ID scopes Azure's data-plane SDKs request (shared/protocol/http/identity.md §5 and the CBS notes).
public enum AzureScope {
    public static let storage = "https://storage.azure.com/.default"
    public static let eventGrid = "https://eventgrid.azure.net/.default"
    /// Event Hubs, with the double slash the SDKs send.
    public static let eventHubs = "https://eventhubs.azure.net//.default"
    /// Service Bus, with the double slash the SDKs send.
    public static let serviceBus = "https://servicebus.azure.net//.default"
    /// The scope Cosmos DB falls back to when the account-specific one is refused (AADSTS500011).
    public static let cosmosFallback = "https://cosmos.azure.com/.default"

    /// The Cosmos DB scope for an account endpoint: scheme and host without the port
    /// (`https://127.0.0.1:8443/` gives `https://127.0.0.1/.default`), unless `AZURE_COSMOS_AAD_SCOPE_OVERRIDE`
    /// is set in `environment`.
    public static func cosmos(
        endpoint: String, environment: [String: String] = AzureEnvironmentVariable.processEnvironment
    ) -> String {
        if let override = environment.nonEmpty("AZURE_COSMOS_AAD_SCOPE_OVERRIDE") { return override }
        var rest = Substring(endpoint)
        var scheme = "https"
        if let range = rest.range(of: "://") {
            scheme = String(rest[..<range.lowerBound]).lowercased()
            rest = rest[range.upperBound...]
        }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) { rest = rest[..<end] }
        var host = String(rest)
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { host = String(host[...close]) }
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return "\(scheme)://\(host)/.default"
    }
}
