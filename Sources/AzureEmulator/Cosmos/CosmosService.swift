import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import AzureAuthVerification
import ToolboxTransportServer

/// The emulator's Cosmos DB (NoSQL) gateway: database account, databases, containers, partition key ranges, items,
/// patch and queries (cosmos.md in the protocol notes), master-key and Entra ID authorization, and the
/// emulator-only routes under `/_emulator/cosmos/`. It owns `/` and `/dbs/…`, so the front door asks it last.
final class CosmosService: EmulatorHTTPService {
    let name = "cosmos"
    let context: EmulatorHTTPContext
    let store: CosmosStore
    private let signer: CosmosMasterKeySigner
    /// The master-key tokens expected this second, by verb and resource: every request is still checked against
    /// one, but the HMAC is computed once per resource and second, not once per request.
    private let signatures = CosmosSignatureCache(capacity: 4096)
    /// The last `x-ms-date` parsed and its Unix seconds (most requests of a second carry the same text).
    private let lastDate = LockedValue<(text: String, seconds: Int)>(("", 0))
    /// How long a throttled client is told to wait.
    static let retryAfterMilliseconds = 100
    /// How far `x-ms-date` may be from the emulator's clock (the service allows 15 minutes).
    static let allowedClockSkew = 15 * 60

    init(context: EmulatorHTTPContext) throws {
        self.context = context
        let limits = context.configuration.httpLimits
        store = CosmosStore(maxItemBytes: max(0, limits.maxCosmosItemBytes), maxStoreBytes: max(0, limits.maxCosmosStoreBytes))
        do {
            signer = try CosmosMasterKeySigner(key: context.configuration.cosmosKey)
        } catch {
            throw EmulatorError(.invalidConfiguration, "the Cosmos DB key is not valid base64 (cosmosKey)")
        }
        for definition in context.configuration.cosmosContainers {
            try createConfigured(definition)
        }
    }

    private func createConfigured(_ definition: CosmosContainerDefinition) throws {
        do {
            if (try? store.database(id: definition.database)) == nil { _ = try store.createDatabase(id: definition.database) }
            _ = try store.createContainer(database: definition.database, definition: .object([
                ("id", .string(definition.container)),
                ("partitionKey", .object([("paths", .array([.string(definition.partitionKeyPath)])), ("kind", .string("Hash")),
                                          ("version", .number(2))])),
            ]))
        } catch {
            throw EmulatorError(.invalidConfiguration,
                                "cannot create the Cosmos DB container \(definition.database)/\(definition.container): \(error)")
        }
    }

    func accepts(_ request: EmulatorHTTPRequest) -> Bool {
        let segments = request.pathSegments
        if segments.isEmpty || segments[0] == "dbs" { return true }
        return segments.count >= 2 && segments[0] == "_emulator" && segments[1] == "cosmos"
    }

    /// The store is in memory behind short locks and nothing here waits: answered on the connection's queue.
    func answersOnConnectionQueue(_ request: EmulatorHTTPRequest) -> Bool { true }

    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        let activityID = request.header("x-ms-activity-id") ?? RandomUUID.string()
        do {
            if request.pathSegments.first == "_emulator" {
                respond(try control(request, activityID: activityID))
                return
            }
            try authorize(request)
            respond(try route(request, activityID: activityID))
        } catch {
            respond(error.response(activityID: activityID))
        }
    }

    func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        CosmosFailure.throttled(retryAfterMilliseconds: Self.retryAfterMilliseconds)
            .response(activityID: request.header("x-ms-activity-id") ?? RandomUUID.string())
    }

    func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        CosmosFailure.unauthorized("The emulator refuses every authorization token (refuseAuthentication fault).")
            .response(activityID: request.header("x-ms-activity-id") ?? RandomUUID.string())
    }

    // MARK: Authorization

    /// Master key: the signature is recomputed with AzureAuth's signer over the decoded path; Entra ID: the token
    /// must come from the emulator's issuer for a Cosmos audience (the SDK asks for `https://<host>/.default`).
    func authorize(_ request: EmulatorHTTPRequest) throws(CosmosFailure) {
        guard let header = request.header("authorization"), !header.isEmpty else {
            throw .unauthorized("Required Header authorization is missing. Ensure a valid Authorization token is passed.")
        }
        guard let date = request.header("x-ms-date") ?? request.header("date"), let seconds = parseDate(date) else {
            throw .unauthorized("The request needs an x-ms-date header in RFC 1123 format (e.g. Tue, 01 Jan 2030 00:00:00 GMT).")
        }
        let now = Int(Date().timeIntervalSince1970)
        guard abs(now - seconds) <= Self.allowedClockSkew else {
            throw .unauthorized("The authorization token is not valid at the current time. Please create another token and "
                + "retry (token start time: \(date); current time: \(UTCDate.rfc1123(now))).")
        }
        let token = PercentEncoding.unquote(header)
        if token.hasPrefix("type=aad&") {
            guard let range = token.range(of: "&sig=") else { throw .unauthorized("The AAD authorization header has no sig.") }
            let jwt = String(token[range.upperBound...])
            var audiences: Set<String> = ["https://127.0.0.1/", "https://localhost/", "https://cosmos.azure.com/"]
            if let host = URLComponents(string: request.baseURL)?.host { audiences.insert("https://\(host)/") }
            if case .failure(let rejection) = context.verifyBearer("Bearer " + jwt, audiences: audiences) {
                throw .unauthorized("Request is blocked because the AAD token was refused: \(rejection.reason).")
            }
            return
        }
        let (type, link) = Self.signedResource(request)
        let expected = signatures.value(verb: request.method, resourceType: type, resourceLink: link, date: date) {
            signer.authorizationToken(verb: request.method, resourceType: type, resourceLink: link, date: date).exposedValue
        }
        guard AuthCrypto.constantTimeEqual(Array(expected.utf8), Array(token.utf8)) else {
            let payload = CosmosMasterKeySigner.stringToSign(verb: request.method, resourceType: type, resourceLink: link, date: date)
                .replacingOccurrences(of: "\n", with: "\\n")
            throw .unauthorized("The input authorization token can't serve the request. The wrong key is being used or the "
                + "expected payload is not built as per the protocol. For more info: https://aka.ms/cosmosdb-tsg-mac-token. "
                + "Server used the following payload to sign: '\(payload)'")
        }
    }

    /// What the client signed for `request`: `CosmosResourcePath.resource(forPath:)`, from the segments the
    /// request has already split when there is nothing to decode (the same result without a second split).
    static func signedResource(_ request: EmulatorHTTPRequest) -> (type: String, link: String) {
        guard !request.path.utf8.contains(UInt8(ascii: "%")) else { return CosmosResourcePath.resource(forPath: request.path) }
        let segments = request.pathSegments
        if segments.isEmpty { return ("", "") }
        if segments.count % 2 == 1 { return (segments[segments.count - 1], segments.dropLast().joined(separator: "/")) }
        return (segments[segments.count - 2], segments.joined(separator: "/"))
    }

    /// `parseRFC1123`, remembering the last text parsed.
    private func parseDate(_ text: String) -> Int? {
        if let seconds = lastDate.withLockedValue({ $0.text == text ? $0.seconds : nil }) { return seconds }
        guard let seconds = Self.parseRFC1123(text) else { return nil }
        lastDate.withLockedValue { $0 = (text, seconds) }
        return seconds
    }

    /// `Wed, 25 Nov 2026 20:13:19 GMT` → Unix seconds; nil for anything else.
    static func parseRFC1123(_ text: String) -> Int? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        guard let monthIndex = months.firstIndex(of: parts[2].lowercased()) else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let hour = Int(time[0]), let minute = Int(time[1]), let second = Int(time[2]),
              (1...31).contains(day), (1970...9999).contains(year), (0...23).contains(hour), (0...59).contains(minute),
              (0...60).contains(second)
        else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm).
        let month = monthIndex + 1
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    // MARK: Routing

    private func route(_ request: EmulatorHTTPRequest, activityID: String) throws(CosmosFailure) -> HTTPServerResponse {
        let segments = request.pathSegments
        let method = request.method
        if segments.isEmpty {
            guard method == "GET" else { throw methodNotAllowed(method, "the database account") }
            return respond(200, accountBody(request), activityID: activityID)
        }
        if segments.count > 2, segments[2] != "colls" { throw unsupported(segments[2]) }
        if segments.count > 4, !["docs", "pkranges"].contains(segments[4]) { throw unsupported(segments[4]) }
        guard segments.count <= 6 else { throw .notFound() }
        switch (segments.count, method) {
        case (1, "GET"):
            return feed(store.databases(), key: "Databases", rid: "", activityID: activityID)
        case (1, "POST"):
            if isQuery(request) { return try queryResources(request, resources: store.databases(), key: "Databases", rid: "", activityID: activityID) }
            let body = try parseBody(request)
            guard let id = body["id"]?.stringValue else { throw .badRequest("The database definition needs a string 'id'.") }
            return respond(201, try store.createDatabase(id: id), activityID: activityID)
        case (2, "GET"):
            return respond(200, try store.database(id: segments[1]), activityID: activityID)
        case (2, "DELETE"):
            try store.deleteDatabase(id: segments[1])
            return respond(204, nil, activityID: activityID)
        case (3, "GET"):
            let rid = try store.database(id: segments[1])["_rid"]?.stringValue ?? ""
            return feed(try store.containers(database: segments[1]), key: "DocumentCollections", rid: rid, activityID: activityID)
        case (3, "POST"):
            if isQuery(request) {
                let rid = try store.database(id: segments[1])["_rid"]?.stringValue ?? ""
                return try queryResources(request, resources: try store.containers(database: segments[1]),
                                          key: "DocumentCollections", rid: rid, activityID: activityID)
            }
            return respond(201, try store.createContainer(database: segments[1], definition: try parseBody(request)),
                           activityID: activityID)
        case (4, "GET"):
            return containerResponse(200, try store.container(database: segments[1], id: segments[3]), database: segments[1],
                                     activityID: activityID)
        case (4, "PUT"):
            let replaced = try store.replaceContainer(database: segments[1], id: segments[3], definition: try parseBody(request))
            return containerResponse(200, replaced, database: segments[1], activityID: activityID)
        case (4, "DELETE"):
            try store.deleteContainer(database: segments[1], id: segments[3])
            return respond(204, nil, activityID: activityID)
        case (5, "GET") where segments[4] == "pkranges":
            return try partitionKeyRanges(request, database: segments[1], container: segments[3], activityID: activityID)
        case (5, _), (6, _):
            return try routeItems(request, segments: segments, activityID: activityID)
        default:
            throw methodNotAllowed(method, "/" + segments.joined(separator: "/"))
        }
    }

    private func unsupported(_ type: String) -> CosmosFailure {
        .badRequest("The emulator does not serve '\(type)' resources (it serves databases, containers, "
            + "partition key ranges and items).")
    }

    func methodNotAllowed(_ method: String, _ what: String) -> CosmosFailure {
        CosmosFailure(status: 405, code: "MethodNotAllowed", message: "\(method) is not supported on \(what).")
    }

    func isQuery(_ request: EmulatorHTTPRequest) -> Bool {
        request.header("x-ms-documentdb-isquery")?.lowercased() == "true"
            || request.header("Content-Type")?.lowercased().hasPrefix("application/query+json") == true
    }

    func parseBody(_ request: EmulatorHTTPRequest) throws(CosmosFailure) -> CosmosValue {
        guard !request.body.isEmpty else { throw .badRequest("The request has no body; a JSON object is required.") }
        // Measured before parsing: parsed JSON takes ~20 times its text, and the HTTP server admits bodies up to
        // `maxRequestBodyBytes` (256 MiB). Twice the item limit leaves room for whitespace the stored form drops.
        let itemBytes = max(store.maxItemBytes, 256 << 10)
        let limit = itemBytes.saturatingAdd(itemBytes)
        guard request.body.count <= limit else {
            throw CosmosFailure(status: 413, code: "RequestEntityTooLarge",
                                message: "Request size is too large: the body is \(request.body.count) bytes, the limit "
                                    + "is \(limit) (twice httpLimits.maxCosmosItemBytes).")
        }
        do { return try CosmosValue.parse(request.body) } catch {
            throw .badRequest("The request body is not valid JSON: \(error.message).")
        }
    }

    // MARK: Responses

    func respond(_ status: Int, _ body: CosmosValue?, activityID: String, headers extra: [(String, String)] = [],
                 charge: Double = 1) -> HTTPServerResponse {
        var extra = extra
        if let etag = body?["_etag"]?.stringValue, !extra.contains(where: { $0.0 == "etag" }) {
            extra.insert(("etag", etag), at: 0)
        }
        return respond(status, json: body?.jsonBytes ?? [], activityID: activityID, headers: extra, charge: charge)
    }

    /// A response with `json` (already serialised) as its body; the `etag` header comes from `extra`.
    func respond(_ status: Int, json: [UInt8], activityID: String, headers extra: [(String, String)],
                 charge: Double) -> HTTPServerResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "x-ms-activity-id", value: activityID)
        headers.add(name: "x-ms-request-charge", value: CosmosValue.format((charge * 100).rounded() / 100))
        headers.add(name: "x-ms-gatewayversion", value: "2.0.0")
        headers.add(name: "x-ms-serviceversion", value: "version=2.14.0.0")
        headers.add(name: "x-ms-schemaversion", value: "1.19")
        for (name, value) in extra { headers.add(name: name, value: value) }
        return HTTPServerResponse(status: status, headers: headers, body: .bytes(json))
    }

    private func containerResponse(_ status: Int, _ body: CosmosValue, database: String, activityID: String) -> HTTPServerResponse {
        respond(status, body, activityID: activityID, headers: [
            ("x-ms-alt-content-path", "dbs/\(database)"),
            ("x-ms-content-path", (try? store.database(id: database))?["_rid"]?.stringValue ?? ""),
        ])
    }

    private func feed(_ resources: [CosmosValue], key: String, rid: String, activityID: String) -> HTTPServerResponse {
        respond(200, .object([("_rid", .string(rid)), (key, .array(resources)), ("_count", .number(Double(resources.count)))]),
                activityID: activityID, headers: [("x-ms-item-count", String(resources.count))])
    }

    private func accountBody(_ request: EmulatorHTTPRequest) -> CosmosValue {
        let location = CosmosValue.object([
            ("name", .string("South Central US")), ("databaseAccountEndpoint", .string(request.baseURL + "/")),
        ])
        let replication = CosmosValue.object([("minReplicaSetSize", .number(1)), ("maxReplicasetSize", .number(4))])
        let engine = #"{"maxSqlQueryInputLength":262144,"maxJoinsPerSqlQuery":5,"maxLogicalAndPerSqlQuery":500,"#
            + #""maxLogicalOrPerSqlQuery":500,"maxUdfRefPerSqlQuery":10,"maxInExpressionItemsCount":16000,"#
            + #""queryMaxInMemorySortDocumentCount":500,"maxQueryRequestTimeoutFraction":0.9,"sqlAllowNonFiniteNumbers":false,"#
            + #""sqlAllowAggregateFunctions":true,"sqlAllowSubQuery":false,"sqlAllowScalarSubQuery":false,"allowNewKeywords":true,"#
            + #""sqlAllowLike":false,"sqlAllowGroupByClause":false,"maxSpatialQueryCells":12,"spatialMaxGeometryPointCount":256,"#
            + #""sqlDisableOptimizationFlags":0,"sqlAllowTop":true,"enableSpatialIndexing":true}"#
        return .object([
            ("_self", .string("")), ("id", .string("localhost")), ("_rid", .string("localhost")), ("media", .string("//media/")),
            ("addresses", .string("//addresses/")), ("_dbs", .string("//dbs/")),
            ("writableLocations", .array([location])), ("readableLocations", .array([location])),
            ("enableMultipleWriteLocations", .bool(false)), ("continuousBackupEnabled", .bool(false)),
            ("enableNRegionSynchronousCommit", .bool(false)),
            ("userReplicationPolicy", .object([("asyncReplication", .bool(false)), ("minReplicaSetSize", .number(1)),
                                               ("maxReplicasetSize", .number(4))])),
            ("userConsistencyPolicy", .object([("defaultConsistencyLevel", .string("Session"))])),
            ("systemReplicationPolicy", replication),
            ("readPolicy", .object([("primaryReadCoefficient", .number(1)), ("secondaryReadCoefficient", .number(1))])),
            ("queryEngineConfiguration", .string(engine)),
        ])
    }
}

extension CosmosFailure: CustomStringConvertible {
    var description: String { "\(status) \(code): \(message)" }
}
