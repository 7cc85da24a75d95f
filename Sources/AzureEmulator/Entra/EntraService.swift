import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// The emulator's Microsoft Entra ID: the v2 token endpoint (client secret, certificate assertion, federated
/// token), the discovery documents MSAL reads, and the managed-identity endpoints (IMDS and App Service) — all
/// minting the emulator's own JWTs (`EmulatorJWT`), so one `DefaultAzureCredential` pointed here authenticates to
/// every emulated service, AMQP and HTTP.
///
/// Routes (`<tenant>` must be the configured tenant id):
/// - `POST /<tenant>/oauth2/v2.0/token` — client-credentials grant (`EntraClientCredentials`).
/// - `GET /<tenant>/v2.0/.well-known/openid-configuration`, `GET /<tenant>/discovery/v2.0/keys`,
///   `GET /common|organizations|<tenant>/discovery/instance` — discovery, every URL on the host the client used.
/// - `GET /metadata/identity/oauth2/token` (IMDS, `Metadata: true`) and `GET /msi/token` (App Service,
///   `X-IDENTITY-HEADER`) — managed identity (`EntraManagedIdentity`).
/// - `POST|GET /_emulator/entra/federated-token` — a federated token (workload identity's token file content).
final class EntraService: EmulatorHTTPService {
    let name = "entra"
    let context: EmulatorHTTPContext
    let clientCredentials: EntraClientCredentials
    let managedIdentity: EntraManagedIdentity

    init(context: EmulatorHTTPContext) throws {
        self.context = context
        clientCredentials = try EntraClientCredentials(context: context)
        managedIdentity = EntraManagedIdentity(context: context)
    }

    func accepts(_ request: EmulatorHTTPRequest) -> Bool {
        route(of: request) != nil
    }

    private enum Route {
        case token(tenant: String)
        case openIDConfiguration(tenant: String)
        case keys(tenant: String)
        case instanceDiscovery
        case imds
        case appService
        case federatedToken
    }

    private func route(of request: EmulatorHTTPRequest) -> Route? {
        let segments = request.pathSegments
        switch segments.count {
        case 2 where segments == ["msi", "token"]:
            return .appService
        case 3 where segments == ["_emulator", "entra", "federated-token"]:
            return .federatedToken
        case 3 where segments[1] == "discovery" && segments[2] == "instance":
            return .instanceDiscovery
        case 4 where segments == ["metadata", "identity", "oauth2", "token"]:
            return .imds
        case 4 where segments[1...] == ["oauth2", "v2.0", "token"]:
            return .token(tenant: segments[0])
        case 4 where segments[1...] == ["discovery", "v2.0", "keys"]:
            return .keys(tenant: segments[0])
        case 4 where segments[1...] == ["v2.0", ".well-known", "openid-configuration"]:
            return .openIDConfiguration(tenant: segments[0])
        default:
            return nil
        }
    }

    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        guard let route = route(of: request) else {
            respond(EntraError.response(status: 404, error: "invalid_request", code: 90027,
                                        description: "no Entra ID route at \(request.path)"))
            return
        }
        switch route {
        case .token(let tenant):
            guard request.method == "POST" else { return respond(Self.methodNotAllowed("POST")) }
            if let refusal = unknownTenant(tenant) { return respond(refusal) }
            respond(clientCredentials.handle(request, tenant: tenant))
        case .openIDConfiguration(let tenant):
            guard request.method == "GET" else { return respond(Self.methodNotAllowed("GET")) }
            if let refusal = unknownTenant(tenant) { return respond(refusal) }
            respond(EntraError.json(200, openIDConfiguration(base: request.baseURL, tenant: tenant)))
        case .keys(let tenant):
            guard request.method == "GET" else { return respond(Self.methodNotAllowed("GET")) }
            if let refusal = unknownTenant(tenant) { return respond(refusal) }
            // The emulator's tokens are HS256 under the namespace key: there is no public key to publish.
            respond(EntraError.json(200, ["keys": [Any]()]))
        case .instanceDiscovery:
            guard request.method == "GET" else { return respond(Self.methodNotAllowed("GET")) }
            respond(EntraError.json(200, instanceDiscovery(base: request.baseURL)))
        case .imds:
            respond(managedIdentity.imds(request))
        case .appService:
            respond(managedIdentity.appService(request))
        case .federatedToken:
            guard request.method == "POST" || request.method == "GET" else {
                return respond(Self.methodNotAllowed("GET, POST"))
            }
            let lifetime = context.configuration.entraTokenLifetime
            let token = EntraClientCredentials.issueFederatedToken(context: context, lifetime: lifetime)
            respond(EntraError.json(200, ["token": token, "expires_in": lifetime]))
        }
    }

    func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        var response = EntraError.response(
            status: 429, error: "temporarily_unavailable", code: 50196,
            description: "The server is temporarily throttling requests (the emulator's throttling fault).")
        response.head.headers.add(name: "Retry-After", value: "1")
        return response
    }

    func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        EntraError.response(status: 401, error: "invalid_client", code: 7000215,
                            description: "Invalid client secret provided (the emulator refuses all authentication: "
                                + "fault injection).")
    }

    private func unknownTenant(_ tenant: String) -> HTTPServerResponse? {
        guard tenant.caseInsensitiveCompare(context.configuration.tenantID) != .orderedSame else { return nil }
        return EntraError.response(
            status: 400, error: "invalid_tenant", code: 90002,
            description: "Tenant '\(Self.printable(tenant))' not found. The emulator serves tenant "
                + "'\(context.configuration.tenantID)' (AZURE_TENANT_ID).")
    }

    /// The OpenID Connect document MSAL reads before its first token request (issuer on the client's own host:
    /// MSAL checks that it matches the authority).
    func openIDConfiguration(base: String, tenant: String) -> [String: Any] {
        let root = "\(base)/\(tenant)"
        return [
            "issuer": "\(root)/v2.0",
            "token_endpoint": "\(root)/oauth2/v2.0/token",
            "authorization_endpoint": "\(root)/oauth2/v2.0/authorize",
            "device_authorization_endpoint": "\(root)/oauth2/v2.0/devicecode",
            "end_session_endpoint": "\(root)/oauth2/v2.0/logout",
            "jwks_uri": "\(root)/discovery/v2.0/keys",
            "userinfo_endpoint": "\(base)/oidc/userinfo",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid"],
            "request_uri_parameter_supported": false,
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        ]
    }

    /// MSAL's instance discovery answer: this host is its own (and only) alias.
    func instanceDiscovery(base: String) -> [String: Any] {
        let host = base.components(separatedBy: "://").last ?? base
        return [
            "api-version": "1.1",
            "tenant_discovery_endpoint":
                "\(base)/\(context.configuration.tenantID)/v2.0/.well-known/openid-configuration",
            "metadata": [["preferred_network": host, "preferred_cache": host, "aliases": [host]]],
        ]
    }

    static func methodNotAllowed(_ allowed: String) -> HTTPServerResponse {
        var response = EntraError.response(status: 405, error: "invalid_request", code: 900561,
                                           description: "The endpoint only accepts \(allowed) requests.")
        response.head.headers.add(name: "Allow", value: allowed)
        return response
    }

    /// `text` cut to 100 characters of printable ASCII, for echoing a client's value in an error.
    static func printable(_ text: String) -> String {
        String(String(text.unicodeScalars.filter { $0.value >= 32 && $0.value < 127 }).prefix(100))
    }
}

/// Entra ID's error shape, which azure-identity and MSAL turn into `ClientAuthenticationError`:
/// `{"error": "invalid_client", "error_description": "AADSTS7000215: …", "error_codes": [7000215], …}`.
enum EntraError {
    static func response(status: Int, error: String, code: Int, description: String) -> HTTPServerResponse {
        let traceID = UUID().uuidString.lowercased()
        let correlationID = UUID().uuidString.lowercased()
        let timestamp = ISO8601DateFormatter().string(from: Date())
        let text = "AADSTS\(code): \(description)\r\nTrace ID: \(traceID)\r\nCorrelation ID: \(correlationID)"
            + "\r\nTimestamp: \(timestamp)"
        return json(status, [
            "error": error, "error_description": text, "error_codes": [code], "timestamp": timestamp,
            "trace_id": traceID, "correlation_id": correlationID,
        ])
    }

    /// A JSON response (`Cache-Control: no-store`, as token responses carry it).
    static func json(_ status: Int, _ object: [String: Any]) -> HTTPServerResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return HTTPServerResponse(
            status: status,
            headers: ["Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store, no-cache"],
            body: .bytes(Array(data)))
    }
}
