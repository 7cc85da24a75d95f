import Foundation
import Logging
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// One Azure service on the emulator's HTTP side (Cosmos DB, Blob Storage, Event Grid, Entra ID).
///
/// The front door asks each registered service in turn whether it `accepts` a request (by path: Blob's account
/// segment, Event Grid's `/eventgrid/…`, Entra's token routes; Cosmos takes what is left) and hands it to the
/// first that does. `handle` runs on a library queue and must call `respond` exactly once; it may do so later
/// (e.g. after fetching a Put-Blob-From-URL source).
package protocol EmulatorHTTPService: AnyObject, Sendable {
    /// A short name for logs ("cosmos", "blob", "eventgrid", "entra").
    var name: String { get }
    func accepts(_ request: EmulatorHTTPRequest) -> Bool
    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void)
    /// Whether `handle` answers `request` without waiting (in-memory state behind short locks, no file I/O, no
    /// calls out): then it runs on the connection's queue, saving two thread hops per request; otherwise on a
    /// work queue. False unless a service says so.
    func answersOnConnectionQueue(_ request: EmulatorHTTPRequest) -> Bool
    /// What the service answers when the throttling fault fires (Cosmos: 429 with `x-ms-retry-after-ms`;
    /// Blob: 503 `ServerBusy`; Event Grid: 429).
    func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse
    /// What the service answers when `refuseAuthentication` is on (401/403 in the service's own error shape).
    func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse
}

extension EmulatorHTTPService {
    package func answersOnConnectionQueue(_ request: EmulatorHTTPRequest) -> Bool { false }

    package func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        HTTPServerResponse(status: 503, headers: ["Retry-After": "1"], text: "the emulator is throttling (fault injection)\n")
    }

    package func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        HTTPServerResponse(status: 401, text: "authentication refused (fault injection)\n")
    }
}

/// What every HTTP service shares: the emulator's configuration, its token issuer and its logger.
package struct EmulatorHTTPContext: Sendable {
    package let configuration: EmulatorConfiguration
    /// The CA (PEM) that signed the emulator's HTTPS certificate, for services that call the emulator back
    /// (Blob's Put Blob From URL).
    package let caFile: String?
    package var logger: Logger { configuration.logger }

    package init(configuration: EmulatorConfiguration, caFile: String? = nil) {
        self.configuration = configuration
        self.caFile = caFile
    }

    /// Checks an `Authorization: Bearer <jwt>` header against the emulator's own issuer (the Entra endpoint
    /// mints these): signature, issuer, expiry, and an audience among `audiences` (scope without `/.default`,
    /// with a trailing slash, e.g. `https://storage.azure.com/`). Returns why not, never echoing the token.
    package func verifyBearer(_ authorization: String?, audiences: Set<String>,
                              now: Int = Int(Date().timeIntervalSince1970)) -> Result<(audience: String, expiry: Int), BearerRejection> {
        guard let authorization, authorization.count > 7,
              authorization.prefix(7).caseInsensitiveCompare("Bearer ") == .orderedSame
        else { return .failure(BearerRejection(reason: "the request has no Authorization: Bearer token")) }
        let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        switch EmulatorJWT.verify(token, key: configuration.key, now: now, audiences: audiences) {
        case .success(let claims): return .success(claims)
        case .failure(let rejection): return .failure(BearerRejection(reason: rejection.reason))
        }
    }

    /// An access token from the emulator's issuer for `audience` (what the Entra endpoints hand out).
    package func issueToken(audience: String, lifetime: Int, now: Int = Int(Date().timeIntervalSince1970),
                            extraClaims: [String: String] = [:]) -> String {
        EmulatorJWT.issue(audience: audience, lifetime: lifetime, key: configuration.key, now: now,
                          extraClaims: extraClaims)
    }
}

/// Why a bearer token was refused (safe to show: it never contains the token).
package struct BearerRejection: Error, Sendable, Equatable {
    package let reason: String
}
