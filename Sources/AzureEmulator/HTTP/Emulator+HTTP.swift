import ToolboxCore

/// Endpoints and credentials of the HTTP side, as clients and Microsoft's SDKs take them.
///
/// URLs prefer HTTPS when the TLS listener runs (token credentials refuse plain HTTP in Azure's SDKs); the plain
/// listener serves the same routes. All hosts are loopback addresses.
extension Emulator {
    /// The host clients use in URLs: a wildcard listen address is not one they can connect to.
    var clientHost: String {
        let host = configuration.host
        if ["0.0.0.0", "::", "[::]"].contains(host) { return "127.0.0.1" }
        return host.contains(":") ? "[\(host)]" : host
    }

    /// `https://host:httpsPort` when TLS listens, else `http://host:httpPort`; nil when the HTTP side is off.
    public var httpBaseURL: String? {
        if let httpsPort { return "https://\(clientHost):\(httpsPort)" }
        if let httpPort { return "http://\(clientHost):\(httpPort)" }
        return nil
    }

    /// `http://host:httpPort`, when the plain listener runs.
    public var plainHTTPBaseURL: String? { httpPort.map { "http://\(clientHost):\($0)" } }

    /// The Cosmos DB account endpoint (`https://127.0.0.1:P/`).
    public var cosmosEndpoint: String? { httpBaseURL.map { $0 + "/" } }
    /// The Cosmos DB master key.
    public var cosmosKey: String { configuration.cosmosKey.exposedValue }
    /// `AccountEndpoint=…;AccountKey=…;`
    public var cosmosConnectionString: String? {
        cosmosEndpoint.map { "AccountEndpoint=\($0);AccountKey=\(cosmosKey);" }
    }

    /// The Blob service URL, path-style like Azurite: `https://127.0.0.1:P/devstoreaccount1`.
    public var blobEndpoint: String? { httpBaseURL.map { "\($0)/\(configuration.blobAccountName)" } }
    /// `DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;BlobEndpoint=…;`
    public var blobConnectionString: String? {
        guard let blobEndpoint else { return nil }
        let scheme = httpsPort != nil ? "https" : "http"
        return "DefaultEndpointsProtocol=\(scheme);AccountName=\(configuration.blobAccountName);"
            + "AccountKey=\(configuration.blobAccountKey.exposedValue);BlobEndpoint=\(blobEndpoint);"
    }

    /// The publish URL of an Event Grid topic, used verbatim by the SDKs (they append only `?api-version=`).
    public func eventGridEndpoint(topic: String) -> String? {
        httpBaseURL.map { "\($0)/eventgrid/\(topic.addingPercentEncodingForPath())/api/events" }
    }

    /// Every configured topic's publish URL.
    public var eventGridEndpoints: [String: String] {
        var endpoints: [String: String] = [:]
        for topic in configuration.eventGridTopics { endpoints[topic] = eventGridEndpoint(topic: topic) }
        return endpoints
    }

    /// The key every Event Grid topic accepts.
    public var eventGridKey: String { configuration.eventGridKey.exposedValue }

    /// The Entra ID authority host (`AZURE_AUTHORITY_HOST`): token requests go to `<authority>/<tenant>/oauth2/v2.0/token`.
    public var authorityHost: String? { httpBaseURL }

    /// The managed-identity (IMDS) endpoint base, as `AZURE_POD_IDENTITY_AUTHORITY_HOST` takes it — azure-identity
    /// and AzureAuth's `ManagedIdentityCredential` both append `/metadata/identity/oauth2/token`. Plain HTTP, as
    /// IMDS is (`http://127.0.0.1:P`); the HTTPS base when only TLS listens.
    public var imdsEndpoint: String? { plainHTTPBaseURL ?? httpBaseURL }

    /// The App Service managed-identity endpoint (`IDENTITY_ENDPOINT`): `<plain base>/msi/token`.
    public var identityEndpoint: String? { imdsEndpoint.map { $0 + "/msi/token" } }

    /// The App Service managed-identity secret (`IDENTITY_HEADER`).
    public var identityHeader: String { configuration.identityHeader.exposedValue }

    /// A federated token (what workload identity reads from `AZURE_FEDERATED_TOKEN_FILE`) that the emulator's
    /// token endpoint accepts as a client assertion.
    public func issueFederatedToken(lifetime: Int = 3600) -> String {
        EntraClientCredentials.issueFederatedToken(context: EmulatorHTTPContext(configuration: configuration),
                                                   lifetime: lifetime)
    }
}

extension String {
    /// Percent-encodes everything but RFC 3986 unreserved characters (one path segment).
    func addingPercentEncodingForPath() -> String {
        var result = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}
