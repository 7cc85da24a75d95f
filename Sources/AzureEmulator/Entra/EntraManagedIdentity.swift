import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// The managed-identity token endpoints, answering as the real ones do (values as strings, `resource` echoed):
///
/// - IMDS, `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id|object_id|msi_res_id]`
///   with `Metadata: true` — what `AZURE_POD_IDENTITY_AUTHORITY_HOST=<imds_endpoint>` reaches;
/// - App Service, `GET /msi/token?api-version=2019-08-01&resource=R[&client_id|principal_id|mi_res_id]` with
///   `X-IDENTITY-HEADER: <identity header>` — what `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` reach.
///
/// Any user-assigned identity is accepted (the emulator has no identity registry); the token's audience is the
/// resource with a trailing slash.
struct EntraManagedIdentity: Sendable {
    /// The client id reported for the system-assigned identity.
    static let systemAssignedClientID = "00000000-0000-4000-8000-00000000a551"
    let context: EmulatorHTTPContext

    func imds(_ request: EmulatorHTTPRequest) -> HTTPServerResponse {
        guard request.method == "GET" else { return EntraService.methodNotAllowed("GET") }
        guard request.header("Metadata")?.lowercased() == "true" else {
            return Self.error(400, "invalid_request", "Required metadata header not specified")
        }
        guard request.queryValue("api-version") != nil else {
            return Self.error(400, "invalid_request", "Required query variable 'api-version' is missing")
        }
        return token(for: request, identityParameters: ["client_id", "object_id", "msi_res_id"], imdsShape: true)
    }

    func appService(_ request: EmulatorHTTPRequest) -> HTTPServerResponse {
        guard request.method == "GET" else { return EntraService.methodNotAllowed("GET") }
        let expected = Array(context.configuration.identityHeader.exposedValue.utf8)
        guard let header = request.header("X-IDENTITY-HEADER") else {
            return Self.appServiceError(400, "Required header 'X-IDENTITY-HEADER' is missing (IDENTITY_HEADER).")
        }
        guard AuthCrypto.constantTimeEqual(Array(header.utf8), expected) else {
            return Self.appServiceError(401, "The X-IDENTITY-HEADER value is not this endpoint's IDENTITY_HEADER.")
        }
        guard request.queryValue("api-version") == "2019-08-01" else {
            return Self.appServiceError(400, "api-version must be 2019-08-01.")
        }
        return token(for: request, identityParameters: ["client_id", "principal_id", "mi_res_id"], imdsShape: false)
    }

    private func token(for request: EmulatorHTTPRequest, identityParameters: [String], imdsShape: Bool) -> HTTPServerResponse {
        guard let resource = request.queryValue("resource"), !resource.isEmpty else {
            return imdsShape ? Self.error(400, "invalid_request", "Required audience parameter not specified")
                : Self.appServiceError(400, "Required query parameter 'resource' is missing.")
        }
        let given = identityParameters.compactMap { name in request.queryValue(name).map { (name, $0) } }
        guard given.count <= 1 else {
            let names = identityParameters.joined(separator: ", ")
            return imdsShape ? Self.error(400, "invalid_request", "Only one of \(names) may be given")
                : Self.appServiceError(400, "Only one of \(names) may be given.")
        }
        let clientID = given.first.map { $0.0 == "client_id" ? $0.1 : Self.derivedClientID($0.1) }
            ?? Self.systemAssignedClientID
        let lifetime = context.configuration.entraTokenLifetime
        let now = Int(Date().timeIntervalSince1970)
        let (expiresOn, overflow) = now.addingReportingOverflow(lifetime)
        let audience = EmulatorJWT.audience(forScope: resource)
        let token = context.issueToken(audience: audience, lifetime: lifetime, now: now,
                                       extraClaims: ["appid": clientID, "tid": context.configuration.tenantID,
                                                     "oid": clientID, "xms_mirid": given.first?.1 ?? "system"])
        context.logger.info("entra: issued a managed-identity token for \(audience) (\(imdsShape ? "IMDS" : "App Service"))")
        var body: [String: Any] = [
            "access_token": token, "client_id": clientID, "expires_on": String(overflow ? Int.max : expiresOn),
            "resource": resource, "token_type": "Bearer",
        ]
        if imdsShape {
            body["expires_in"] = String(lifetime)
            body["ext_expires_in"] = String(lifetime)
            body["not_before"] = String(now)
        }
        return EntraError.json(200, body)
    }

    /// A stable client id for an identity named by object or resource id.
    private static func derivedClientID(_ value: String) -> String {
        let hex = AuthCrypto.sha256Hex(value)
        let characters = Array(hex)
        func part(_ range: Range<Int>) -> String { String(characters[range]) }
        return "\(part(0..<8))-\(part(8..<12))-\(part(12..<16))-\(part(16..<20))-\(part(20..<32))"
    }

    /// IMDS's error shape.
    private static func error(_ status: Int, _ error: String, _ description: String) -> HTTPServerResponse {
        EntraError.json(status, ["error": error, "error_description": description])
    }

    /// App Service's error shape.
    private static func appServiceError(_ status: Int, _ message: String) -> HTTPServerResponse {
        EntraError.json(status, ["statusCode": status, "message": message, "correlationId": UUID().uuidString.lowercased()])
    }
}
