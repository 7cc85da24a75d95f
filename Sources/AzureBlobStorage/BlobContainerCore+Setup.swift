import AzureAuth
import Logging
import ToolboxCore
import ToolboxTransport

extension BlobContainerCore {
    /// Which way a client keeps its connections.
    enum Style {
        /// Opened on demand, retired after a TTL (`pool.maxLifespan`, 300 s unless set).
        case basic
        /// Kept ready: `pool.minReady` warm connections refreshed before they expire, `warmUp(count:)`.
        case managed
    }

    /// A core for `accountURL` (optionally with a SAS query) and `credential`.
    static func make(accountURL: String, containerName: String, credential: BlobCredential,
                     options: BlobClientOptions, style: Style, logger: Logger) throws(ToolboxError) -> BlobContainerCore {
        let service = try BlobServiceURL(accountURL: accountURL)
        var configuration = HTTPClientConfiguration()
        if let caFile = options.caFile { configuration.tls.trustRoots = .file(caFile) }
        configuration.proxy = options.proxy
        configuration.maxConnectionsPerEndpoint = options.pool.maxConnections
        configuration.maxIdle = options.pool.maxIdle
        configuration.connectTimeout = options.pool.connectTimeout
        configuration.defaultRequestTimeout = options.tryTimeout
        configuration.userAgent = options.userAgent
        // Bodies are streamed (downloads) or bounded by a listing page; this only caps error and listing bodies.
        configuration.maxBufferedResponseBytes = 64 << 20
        switch style {
        case .basic:
            configuration.maxLifespan = options.pool.maxLifespan ?? .seconds(300)
        case .managed:
            configuration.maxLifespan = options.pool.maxLifespan
            configuration.minReadyPerEndpoint = options.pool.minReady
        }
        guard (1...1024).contains(options.pool.maxConnections) else {
            throw ToolboxError(.invalidConfiguration, "pool.maxConnections must be 1...1024, not "
                + "\(options.pool.maxConnections)")
        }
        let http: HTTPClient
        do {
            http = try HTTPClient(configuration: configuration, logger: logger)
        } catch let error as ToolboxError {
            throw ToolboxError(error.code, "setting up the Blob client's connections failed: \(error.message)",
                               underlying: error)
        } catch {
            throw ToolboxError(.invalidConfiguration, "setting up the Blob client's connections failed: \(error)",
                               underlying: error)
        }
        let pipeline = try BlobPipeline(service: service, containerName: containerName, credential: credential,
                                        options: options, http: http, logger: logger)
        return BlobContainerCore(pipeline: pipeline)
    }

    /// A core from a Storage connection string (`AccountName`/`AccountKey`, `SharedAccessSignature`,
    /// `BlobEndpoint`, `UseDevelopmentStorage=true`).
    static func make(connectionString: String, containerName: String, options: BlobClientOptions, style: Style,
                     logger: Logger) throws(ToolboxError) -> BlobContainerCore {
        let parsed: StorageConnectionString
        do {
            parsed = try StorageConnectionString(parsing: connectionString)
        } catch {
            throw ToolboxError(error.code, error.message, underlying: error)
        }
        let credential: BlobCredential
        if let name = parsed.accountName, let key = parsed.accountKey {
            credential = .sharedKey(accountName: name, accountKey: key)
        } else if let sas = parsed.sharedAccessSignature {
            credential = .sas(sas)
        } else {
            credential = .anonymous
        }
        return try make(accountURL: parsed.blobEndpoint, containerName: containerName, credential: credential,
                        options: options, style: style, logger: logger)
    }

    /// A core from a container URL (`https://acct.blob.core.windows.net/docs?<SAS>`): the last path segment is
    /// the container, the query (if any) the SAS.
    static func make(containerURL: String, credential: BlobCredential, options: BlobClientOptions, style: Style,
                     logger: Logger) throws(ToolboxError) -> BlobContainerCore {
        var base = containerURL
        var query = ""
        if let mark = base.firstIndex(of: "?") {
            query = String(base[mark...])
            base = String(base[..<mark])
        }
        while base.hasSuffix("/") { base.removeLast() }
        guard let slash = base.lastIndex(of: "/"), base[..<slash].contains("://"),
              !base[..<slash].hasSuffix("/"), base.index(after: slash) < base.endIndex else {
            throw ToolboxError(.invalidArgument, "a container URL needs a container after the account: "
                + "https://<account>.blob.core.windows.net/<container>")
        }
        let container = PercentEncoding.unquote(String(base[base.index(after: slash)...]))
        return try make(accountURL: String(base[..<slash]) + query, containerName: container, credential: credential,
                        options: options, style: style, logger: logger)
    }
}
