import CToolboxOpenSSL

/// A loaded OpenSSL context (`SSL_CTX`): trust store, certificates and protocol settings, shared by connections.
///
/// Loading a trust store costs milliseconds, so build one context per configuration and reuse it for every
/// connection; OpenSSL makes `SSL_CTX` safe to share across threads once configured.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: `context` is fully configured in `init` and only read afterwards; OpenSSL locks
    // its own internal state (session cache, reference counts).
    let context: OpaquePointer
    /// Whether this is a client context (connect state) or a server one (accept state).
    let isClient: Bool
    let verifiesPeer: Bool
    /// `TLSClientConfiguration.serverNameOverride`, applied by connections that are not given a name.
    let serverNameOverride: String?
    /// Sessions to resume, per server (client contexts only).
    let sessionCache = TLSSessionCache()

    /// A client context; throws `TransportError.Code.tlsConfigurationInvalid` when a file cannot be loaded.
    public convenience init(client configuration: TLSClientConfiguration) throws {
        OpenSSLLibrary.ensureInitialized()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSContext.configurationError("could not create a TLS client context")
        }
        self.init(context: context, isClient: true, verifiesPeer: configuration.verification == .full,
                  serverNameOverride: configuration.serverNameOverride)
        try applyCommonSettings()
        switch configuration.verification {
        case .full:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        case .noneInsecureDevelopmentOnly:
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        switch configuration.trustRoots {
        case .system:
            if SSL_CTX_set_default_verify_paths(context) != 1 {
                throw TLSContext.configurationError("could not load the system trust store")
            }
        case .file(let path):
            if SSL_CTX_load_verify_locations(context, path, nil) != 1 {
                throw TLSContext.configurationError(
                    "could not load CA file '\(path)'; pass a readable PEM file with one or more CA certificates")
            }
        case .directory(let path):
            if SSL_CTX_load_verify_locations(context, nil, path) != 1 {
                throw TLSContext.configurationError(
                    "could not use CA directory '\(path)'; pass a directory prepared with `openssl rehash`")
            }
        }
        if let chain = configuration.clientCertificateChainFile {
            guard let key = configuration.clientPrivateKeyFile else {
                throw TransportError(
                    .tlsConfigurationInvalid, "a client certificate needs clientPrivateKeyFile as well")
            }
            try loadIdentity(chain: chain, key: key)
        }
    }

    /// A server context; throws `TransportError.Code.tlsConfigurationInvalid` when a file cannot be loaded.
    public convenience init(server configuration: TLSServerConfiguration) throws {
        OpenSSLLibrary.ensureInitialized()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSContext.configurationError("could not create a TLS server context")
        }
        self.init(context: context, isClient: false, verifiesPeer: configuration.clientCATrustFile != nil,
                  serverNameOverride: nil)
        try applyCommonSettings()
        try loadIdentity(chain: configuration.certificateChainFile, key: configuration.privateKeyFile)
        // Resumed sessions must belong to this server configuration (required with client certificates).
        let sessionContext = Array("AzureClientsToolbox".utf8)
        _ = SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
        if let clientCA = configuration.clientCATrustFile {
            if SSL_CTX_load_verify_locations(context, clientCA, nil) != 1 {
                throw TLSContext.configurationError("could not load client CA file '\(clientCA)'")
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    private init(context: OpaquePointer, isClient: Bool, verifiesPeer: Bool, serverNameOverride: String?) {
        self.context = context
        self.isClient = isClient
        self.verifiesPeer = verifiesPeer
        self.serverNameOverride = serverNameOverride
    }

    deinit {
        SSL_CTX_free(context)
    }

    private func applyCommonSettings() throws {
        // TLS 1.0 and 1.1 are deprecated (RFC 8996) and Azure refuses them.
        if toolbox_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1 {
            throw TLSContext.configurationError("could not set the minimum TLS version")
        }
        _ = toolbox_SSL_CTX_set_transport_options(context)
        // Idle pooled connections would otherwise keep 2 × 16 KiB of record buffers each.
        _ = toolbox_SSL_CTX_set_release_buffers(context)
    }

    private func loadIdentity(chain: String, key: String) throws {
        if SSL_CTX_use_certificate_chain_file(context, chain) != 1 {
            throw TLSContext.configurationError(
                "could not load certificate chain '\(chain)'; pass a PEM file with the certificate first")
        }
        if SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1 {
            throw TLSContext.configurationError("could not load private key '\(key)'; pass an unencrypted PEM key")
        }
        if SSL_CTX_check_private_key(context) != 1 {
            throw TLSContext.configurationError("private key '\(key)' does not match certificate '\(chain)'")
        }
    }

    static func configurationError(_ message: String) -> TransportError {
        TransportError(.tlsConfigurationInvalid, "\(message) (\(OpenSSLErrors.drain()))")
    }
}

/// Reads OpenSSL's thread-local error queue into one line.
enum OpenSSLErrors {
    static func drain() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "no OpenSSL detail" : parts.joined(separator: "; ")
    }
}
