import Foundation

/// The environment variable names Azure's SDKs read, and the default values credentials use.
public enum AzureEnvironmentVariable {
    public static let tenantID = "AZURE_TENANT_ID"
    public static let clientID = "AZURE_CLIENT_ID"
    public static let clientSecret = "AZURE_CLIENT_SECRET"
    public static let clientCertificatePath = "AZURE_CLIENT_CERTIFICATE_PATH"
    public static let clientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
    public static let username = "AZURE_USERNAME"
    public static let password = "AZURE_PASSWORD"
    public static let federatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
    public static let authorityHost = "AZURE_AUTHORITY_HOST"
    public static let identityEndpoint = "IDENTITY_ENDPOINT"
    public static let identityHeader = "IDENTITY_HEADER"
    public static let identityServerThumbprint = "IDENTITY_SERVER_THUMBPRINT"
    public static let imdsEndpoint = "IMDS_ENDPOINT"
    public static let msiEndpoint = "MSI_ENDPOINT"
    public static let podIdentityAuthorityHost = "AZURE_POD_IDENTITY_AUTHORITY_HOST"

    /// The public-cloud authority.
    public static let defaultAuthorityHost = "https://login.microsoftonline.com"
    /// The Instance Metadata Service.
    public static let defaultIMDSHost = "http://169.254.169.254"

    /// The process environment; credentials take an environment dictionary so tests can inject their own.
    public static var processEnvironment: [String: String] { ProcessInfo.processInfo.environment }
}

extension Dictionary where Key == String, Value == String {
    /// The value of `name`, treating an empty value as unset (as Azure's SDKs do).
    func nonEmpty(_ name: String) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return value
    }
}
