import Dispatch
import ToolboxCore

/// Builds, sends and retries one managed-identity token request (IMDS or App Service).
struct ManagedIdentityRequest: Sendable {
    let source: ManagedIdentityCredential.Source
    let endpoint: String
    let id: ManagedIdentityCredential.UserAssignedID?
    let secretHeader: Secret<String>?

    private static let retryQueue = LibraryQueues.makeQueue(label: "AzureAuth.managed-identity-retry")

    /// The request for `resource`; the resource is sent un-encoded, as azure-identity sends it.
    func request(resource: String) -> TokenHTTPRequest {
        var query: [(String, String)]
        var headers: [(name: String, value: String)]
        switch source {
        case .imds:
            query = [("api-version", "2018-02-01"), ("resource", resource)]
            headers = [("Metadata", "true")]
            switch id {
            case .clientID(let value): query.append(("client_id", value))
            case .objectID(let value): query.append(("object_id", value))
            case .resourceID(let value): query.append(("msi_res_id", value))
            case nil: break
            }
        case .appService:
            query = [("api-version", "2019-08-01"), ("resource", resource)]
            headers = [("X-IDENTITY-HEADER", secretHeader?.exposedValue ?? "")]
            switch id {
            case .clientID(let value): query.append(("client_id", value))
            case .objectID(let value): query.append(("principal_id", value))
            case .resourceID(let value): query.append(("mi_res_id", value))
            case nil: break
            }
        }
        let separator = endpoint.contains("?") ? "&" : "?"
        let text = query.map { name, value in
            name == "resource" ? "\(name)=\(value)" : "\(name)=\(PercentEncoding.quote(value, safe: "/"))"
        }.joined(separator: "&")
        return TokenHTTPRequest(method: "GET", url: endpoint + separator + text, headers: headers)
    }

    func send(
        scopes: [String], transport: any TokenHTTPTransport, deadline: Deadline, retryDelays: [Double],
        probe: LockedValue<Bool>?, clock: @escaping @Sendable () -> Int,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) {
        let resource: String
        switch ScopeResource.resource(for: scopes, credential: "ManagedIdentityCredential") {
        case .success(let value): resource = value
        case .failure(let error): return completion(.failure(error))
        }
        let probing = probe.map { !$0.load() } ?? false
        attempt(
            request(resource: resource), transport: transport,
            deadline: probing ? min(deadline, .after(seconds: 1)) : deadline,
            retryDelays: probing ? [] : retryDelays[...], probe: probing ? probe : nil, clock: clock,
            completion: completion)
    }

    private var name: String { source == .imds ? "IMDS" : "the App Service identity endpoint" }

    private func attempt(
        _ request: TokenHTTPRequest, transport: any TokenHTTPTransport, deadline: Deadline,
        retryDelays: ArraySlice<Double>, probe: LockedValue<Bool>?, clock: @escaping @Sendable () -> Int,
        completion: @escaping @Sendable (Result<AccessToken, AuthError>) -> Void
    ) {
        transport.send(request, deadline: deadline) { result in
            let response: TokenHTTPResponse
            switch result {
            case .failure(let error):
                let wrapped = AuthError.wrap(error, .transportFailed, context: "\(name) at \(endpoint) did not answer")
                // No answer from IMDS means "not on an Azure VM": unavailable, so a chain moves on.
                if source == .imds, wrapped.code != .cancelled {
                    return completion(.failure(AuthError(.credentialUnavailable,
                        "ManagedIdentityCredential is unavailable: \(wrapped.message)")))
                }
                return completion(.failure(wrapped))
            case .success(let value):
                response = value
            }
            let status = response.status
            if let probe {
                // Inside DefaultAzureCredential, an endpoint that answers the probe with anything but a token is
                // not IMDS (a proxy saying "denied", Docker Desktop's 403): unavailable, so the chain moves on.
                guard (200..<300).contains(status) else {
                    return completion(.failure(AuthError(.credentialUnavailable, "ManagedIdentityCredential is "
                        + "unavailable: the IMDS probe at \(endpoint) was answered with HTTP \(status)")))
                }
                probe.withLockedValue { $0 = true }
            }
            if source == .imds, status == 400 {
                return completion(.failure(AuthError(.credentialUnavailable, "ManagedIdentityCredential is "
                    + "unavailable: IMDS answered 400 (no identity has been assigned"
                    + "\(id.map { " matching \($0)" } ?? "")); assign a managed identity to this resource")))
            }
            // IMDS: its documented transient answers. App Service: azure-core's retry statuses (it was not retried
            // at all, though a 503 from the identity endpoint is as passing as one from IMDS).
            let retryable = source == .imds
                ? status == 404 || status == 410 || status == 429 || (500..<600).contains(status)
                : [408, 429, 500, 502, 503, 504].contains(status)
            if retryable, let delay = retryDelays.first,
                deadline.secondsRemaining > delay
            {
                Self.retryQueue.asyncAfter(deadline: .now() + delay) {
                    attempt(request, transport: transport, deadline: deadline, retryDelays: retryDelays.dropFirst(),
                        probe: nil, clock: clock, completion: completion)
                }
                return
            }
            // An endpoint may echo the identity header it was sent into its error body.
            let secrets = request.headers.filter { $0.name.lowercased() == "x-identity-header" }.map(\.value)
            completion(TokenResponseParser.parse(response.redacting(secrets), now: clock(), source: "\(name) at \(endpoint)")
                .mapError { $0.redacting(secrets) })
        }
    }
}
