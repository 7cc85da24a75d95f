import Dispatch
import ToolboxCore
import ToolboxTransport

/// Sends token requests with ToolboxTransport's keep-alive `HTTPClient`.
///
/// ```swift
/// let transport = try HTTPClientTokenTransport(caFile: "emulator-ca.pem")   // or HTTPClientTokenTransport()
/// let credential = DefaultAzureCredential(transport: transport)
/// ```
///
/// HTTPS endpoints are verified (chain and host name) against the system trust store, or only against the CA
/// certificates in `caFile` when one is given. Transport failures are delivered as the client's
/// `TransportError`; credentials map them to `AuthError.Code.transportFailed` (or `credentialUnavailable` for
/// IMDS).
public struct HTTPClientTokenTransport: TokenHTTPTransport {
    /// The client requests go through.
    public let client: HTTPClient
    /// A fresh serial queue per use, never a shared `.concurrent` one: see `LibraryQueues.makeWorkQueue`.
    private static var deliveryQueue: DispatchQueue {
        LibraryQueues.makeWorkQueue(label: "AzureAuth.token-transport")
    }

    /// Uses an existing client (shares its connection pools).
    public init(client: HTTPClient) {
        self.client = client
    }

    /// Creates a client that trusts the system store, or only the PEM CA certificates in `caFile`, and reaches
    /// HTTPS token endpoints through `proxy` (default `HTTPS_PROXY`/`NO_PROXY`, as Azure's SDKs; nil: direct).
    ///
    /// - throws: `AuthError.Code.invalidArgument` when the CA file cannot be loaded.
    public init(caFile: String? = nil, connectTimeout: Duration = .seconds(10),
                proxy: HTTPProxy? = HTTPProxy.fromEnvironment()) throws(AuthError) {
        var configuration = HTTPClientConfiguration()
        if let caFile { configuration.tls.trustRoots = .file(caFile) }
        configuration.proxy = proxy
        configuration.connectTimeout = connectTimeout
        configuration.maxConnectionsPerEndpoint = 4
        do {
            client = try HTTPClient(configuration: configuration)
        } catch {
            throw AuthError(.invalidArgument, "could not set up HTTPS for token requests: \(error)")
        }
    }

    public func send(
        _ request: TokenHTTPRequest, deadline: Deadline,
        completion: @escaping @Sendable (Result<TokenHTTPResponse, any Error>) -> Void
    ) {
        let outgoing: HTTPRequest
        do {
            outgoing = try HTTPRequest(
                method: request.method, url: request.url,
                headers: HTTPHeaders(request.headers.map { ($0.name, $0.value) }),
                body: request.body.isEmpty ? .empty : .bytes(request.body))
        } catch {
            completion(.failure(AuthError(.invalidArgument, "the token endpoint URL is not usable: \(error)")))
            return
        }
        client.execute(outgoing, deadline: deadline, queue: Self.deliveryQueue) { result in
            completion(result
                .map { TokenHTTPResponse(status: $0.status, headers: $0.headers.map { ($0.name, $0.value) },
                                         body: $0.body) }
                .mapError { $0 })
        }
    }
}
