/// How a TLS client authenticates the server (and optionally itself).
///
/// ```swift
/// var tls = TLSClientConfiguration()                       // system trust store, full verification
/// tls.trustRoots = .file("/path/to/emulator-ca.pem")      // or trust only this CA (emulators, tests)
/// ```
///
/// Verification of the chain and of the host name is on by default. The only way to turn it off is
/// `TLSClientConfiguration.insecureNoVerificationForDevelopmentOnly()`, named so it stands out in review.
public struct TLSClientConfiguration: Sendable, Equatable {
    /// Where trusted certificate authorities come from.
    public enum TrustRoots: Sendable, Equatable {
        /// The operating system's store (OpenSSL's default paths).
        case system
        /// Only the CA certificates in this PEM file.
        case file(String)
        /// Only the CA certificates in this hashed directory (`openssl rehash`).
        case directory(String)
    }

    /// How much of the peer's identity is checked.
    public enum Verification: Sendable, Equatable {
        /// Chain to a trusted root, validity dates, and the host name (or IP) against the certificate.
        case full
        /// Nothing: any certificate is accepted. Development against self-signed endpoints only.
        case noneInsecureDevelopmentOnly
    }

    public var trustRoots: TrustRoots = .system
    public var verification: Verification = .full
    /// A PEM certificate chain presenting this client, for servers that require mutual TLS.
    public var clientCertificateChainFile: String?
    /// The PEM private key matching `clientCertificateChainFile`.
    public var clientPrivateKeyFile: String?
    /// The name to send in SNI and verify against, when it differs from the host connected to.
    public var serverNameOverride: String?

    public init(trustRoots: TrustRoots = .system) {
        self.trustRoots = trustRoots
    }

    /// A configuration that accepts any server certificate. Never use it in production: it removes all
    /// protection against interception.
    public static func insecureNoVerificationForDevelopmentOnly() -> TLSClientConfiguration {
        var configuration = TLSClientConfiguration()
        configuration.verification = .noneInsecureDevelopmentOnly
        return configuration
    }
}

/// How a TLS server presents itself (and optionally authenticates clients).
public struct TLSServerConfiguration: Sendable, Equatable {
    /// PEM file with the server certificate first, then intermediates.
    public var certificateChainFile: String
    /// PEM file with the private key of the server certificate.
    public var privateKeyFile: String
    /// When set, clients must present a certificate issued by a CA in this PEM file.
    public var clientCATrustFile: String?

    public init(certificateChainFile: String, privateKeyFile: String, clientCATrustFile: String? = nil) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCATrustFile = clientCATrustFile
    }
}
