import AzureAuth
@testable import AzureCosmos
@testable import AzureEmulator
import Foundation
import ToolboxCore
import ToolboxTransport
import AzureAuthVerification
import ToolboxTransportServer

/// A small Cosmos DB gateway for the client's tests, written from shared/protocol/http/cosmos.md: it checks every
/// master-key signature, keeps items per container, splits the key space in partition key ranges, answers
/// cross-partition queries gateway-style (400/1004, query plan, per-range pages with rewritten ORDER BY and
/// aggregate results), serves pkranges with ETags and 304, and injects faults (429, 449, 503, 410, dropped
/// connections) on demand. Its SQL is the handful of shapes the tests use.
final class FakeCosmosGateway: @unchecked Sendable {
    // @unchecked Sendable: all mutable state is in `state` (a LockedValue).
    static let key = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

    struct Range { var id: String; var min: String; var max: String; var parents: [String] }
    enum Fault { case throttle(ms: Int), retryWith, unavailable, drop, gone(Int) }

    struct State {
        var databases: Set<String> = []
        var containers: [String: String] = [:]  // link → pk path
        var items: [String: [String: CosmosJSON]] = [:]  // link → id → doc
        var ranges: [Range] = [Range(id: "0", min: "", max: "80", parents: []), Range(id: "1", min: "80", max: "FF", parents: [])]
        var rangesEtag = 1
        var faults: [Fault] = []
        var faultFilter: ((String, String) -> Bool)? = nil
        var lsn = 0
        var log: [String] = []
        var sessionTokensSeen: [String] = []
        var badSignatures = 0
        var stuckDatabaseContinuation: String? = nil
        var aadRequests = 0
        /// A hostile service: answers a request in place of the fake when it returns a response (nil: the fake
        /// answers). Sees the method, path, headers and body of every correctly signed request.
        var hostile: ((_ method: String, _ path: String, _ headers: HTTPHeaders, _ body: [UInt8]) -> HTTPServerResponse?)? = nil
        /// How many requests `hostile` answered.
        var hostileAnswers = 0
    }

    let state = LockedValue(State())
    private var server: HTTPServer!
    private let signer = try! CosmosMasterKeySigner(key: Secret(FakeCosmosGateway.key))

    /// The Entra ID token accepted in `type=aad` headers (HTTPS gateways only).
    static let aadToken = "eyJ0eXAiOiJKV1QifQ.fake-entra-token.sig"
    /// The CA file of an HTTPS gateway.
    private(set) var caFile: String?

    init(tls: Bool = false) throws {
        var context: TLSContext?
        if tls {
            let certificate = try SelfSignedCertificate.generate()
            caFile = certificate.caFile
            context = try TLSContext(server: TLSServerConfiguration(certificateChainFile: certificate.certificateFile,
                                                                    privateKeyFile: certificate.privateKeyFile))
        }
        server = try HTTPServer(host: "127.0.0.1", tls: context) { [weak self] request, respond in
            guard let self else { return respond(.abort) }
            respond(self.handle(request))
        }
    }

    var endpoint: String { "\(caFile == nil ? "http" : "https")://127.0.0.1:\(server.port)/" }
    var connectionString: String { "AccountEndpoint=\(endpoint);AccountKey=\(Self.key);" }
    func close() { server.close() }

    func addContainer(_ database: String, _ container: String, pkPath: String = "/pk") {
        state.withLockedValue {
            $0.databases.insert(database)
            $0.containers["dbs/\(database)/colls/\(container)"] = pkPath
        }
    }

    func inject(_ faults: [Fault], when filter: ((String, String) -> Bool)? = nil) {
        state.withLockedValue {
            $0.faults += faults
            $0.faultFilter = filter
        }
    }

    /// Splits range `id` in two at `middle`.
    func split(_ id: String, at middle: String) {
        state.withLockedValue { state in
            guard let index = state.ranges.firstIndex(where: { $0.id == id }) else { return }
            let old = state.ranges[index]
            let next = (state.ranges.compactMap { Int($0.id) }.max() ?? 0) + 1
            state.ranges.replaceSubrange(index...index, with: [
                Range(id: "\(next)", min: old.min, max: middle, parents: [id]),
                Range(id: "\(next + 1)", min: middle, max: old.max, parents: [id]),
            ])
            state.rangesEtag += 1
        }
    }

    var log: [String] { state.load().log }

    /// The fake's effective partition key: two hex digits from the key's first character (a → 20, x → EF).
    static func epk(_ key: CosmosJSON?) -> String {
        let text: String
        switch key {
        case .string(let s)?: text = s
        case let other?: text = other.jsonString
        case nil: text = ""
        }
        let byte = text.utf8.first.map { Int($0) } ?? 0
        let scaled = min(254, max(0, (byte - 97) * 9 + 32))
        return String(format: "%02X", scaled)
    }

    // MARK: Handling

    private func handle(_ request: HTTPServerRequest) -> HTTPServerResponse {
        let method = request.head.method
        let path = String(request.head.target.split(separator: "?").first ?? "/")
        let headers = request.head.headers
        let (type, link) = CosmosResourcePath.resource(forPath: path)
        state.withLockedValue { $0.log.append("\(method) \(path)") }
        let aad = caFile != nil && headers.first(name: "authorization") == "type=aad&ver=1.0&sig=\(Self.aadToken)"
        if aad { state.withLockedValue { $0.aadRequests += 1 } }
        guard let date = headers.first(name: "x-ms-date"), let auth = headers.first(name: "authorization"),
            aad || signer.verify(header: auth, verb: method, resourceType: type, resourceLink: link, date: date)
        else {
            state.withLockedValue { $0.badSignatures += 1 }
            return error(401, "Unauthorized", "bad signature")
        }
        if let token = headers.first(name: "x-ms-session-token") {
            state.withLockedValue { $0.sessionTokensSeen.append(token) }
        }
        if let hostile = state.load().hostile, let answer = hostile(method, path, headers, request.body) {
            state.withLockedValue { $0.hostileAnswers += 1 }
            return answer
        }
        let fault: Fault? = state.withLockedValue { state in
            guard !state.faults.isEmpty, state.faultFilter?(method, path) ?? true else { return nil }
            return state.faults.removeFirst()
        }
        switch fault {
        case .throttle(let ms)?:
            return error(429, "TooManyRequests", "rate too large", sub: 3200, extra: ["x-ms-retry-after-ms": "\(ms)"])
        case .retryWith?: return error(449, "RetryWith", "retry")
        case .unavailable?: return error(503, "ServiceUnavailable", "busy")
        case .drop?: return .abort
        case .gone(let sub)?: return error(410, "Gone", "gone", sub: sub)
        case nil: break
        }
        let segments = path.split(separator: "/").map { PercentEncoding.unquote(String($0)) }
        let body = request.body
        switch (method, segments.count) {
        case ("GET", 0):
            return json(200, ["id": "fake", "userConsistencyPolicy": ["defaultConsistencyLevel": "Session"]])
        case ("POST", 1):
            guard let doc = try? CosmosJSON(parsing: body), let id = doc["id"]?.stringValue else { return error(400, "BadRequest", "no id") }
            let created = state.withLockedValue { $0.databases.insert(id).inserted }
            return created ? json(201, ["id": .string(id), "_rid": "db"]) : error(409, "Conflict", "exists")
        case ("GET", 1):
            var response = json(200, ["Databases": .array(state.load().databases.sorted().map { ["id": .string($0)] })])
            // A broken service's answer: every page of the database list names the same next page.
            if let stuck = state.load().stuckDatabaseContinuation {
                response.head.headers.add(name: "x-ms-continuation", value: stuck)
            }
            return response
        case ("GET", 2), ("DELETE", 2):
            let exists = state.withLockedValue { state -> Bool in
                guard state.databases.contains(segments[1]) else { return false }
                if method == "DELETE" { state.databases.remove(segments[1]) }
                return true
            }
            if !exists { return error(404, "NotFound", "no database") }
            return method == "DELETE" ? HTTPServerResponse(status: 204) : json(200, ["id": .string(segments[1]), "_rid": "db"])
        case ("POST", 3):
            guard let doc = try? CosmosJSON(parsing: body), let id = doc["id"]?.stringValue,
                let path = doc["partitionKey"]?["paths"]?.arrayValue?.first?.stringValue
            else { return error(400, "BadRequest", "bad container") }
            let link = "dbs/\(segments[1])/colls/\(id)"
            let created = state.withLockedValue { state -> Bool in
                if state.containers[link] != nil { return false }
                state.containers[link] = path
                return true
            }
            return created ? json(201, containerJSON(id, path)) : error(409, "Conflict", "exists")
        case ("GET", 3):
            let prefix = "dbs/\(segments[1])/colls/"
            let list = state.load().containers.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
            return json(200, ["DocumentCollections": .array(list.map { containerJSON(String($0.key.dropFirst(prefix.count)), $0.value) })])
        case ("GET", 4), ("DELETE", 4):
            let link = segments.joined(separator: "/")
            guard let path = state.load().containers[link] else { return error(404, "NotFound", "no container") }
            if method == "DELETE" {
                state.withLockedValue { $0.containers[link] = nil }
                return HTTPServerResponse(status: 204)
            }
            return json(200, containerJSON(segments[3], path))
        case ("GET", 5) where segments[4] == "pkranges":
            return pkranges(headers)
        default:
            break
        }
        let containerLink = segments.prefix(4).joined(separator: "/")
        guard segments.count >= 5, segments[4] == "docs", let pkPath = state.load().containers[containerLink] else {
            return error(404, "NotFound", "no such resource")
        }
        if segments.count == 5 {
            if headers.first(name: "x-ms-cosmos-is-query-plan-request") != nil { return queryPlan(body) }
            if method == "POST", headers.first(name: "x-ms-documentdb-isquery") != nil { return query(containerLink, headers, body) }
            if method == "GET" { return query(containerLink, headers, nil) }
            return write(containerLink, pkPath: pkPath, headers: headers, body: body)
        }
        return itemOperation(containerLink, id: segments[5], pkPath: pkPath, method: method, headers: headers, body: body)
    }

    private func containerJSON(_ id: String, _ path: String) -> CosmosJSON {
        ["id": .string(id), "_rid": "coll", "partitionKey": ["paths": [.string(path)], "kind": "Hash", "version": 2]]
    }

    private func pkranges(_ headers: HTTPHeaders) -> HTTPServerResponse {
        let (ranges, etag) = state.withLockedValue { ($0.ranges, "\"r\($0.rangesEtag)\"") }
        if headers.first(name: "If-None-Match") == etag { return HTTPServerResponse(status: 304, headers: ["etag": etag]) }
        let list: [CosmosJSON] = ranges.map {
            ["id": .string($0.id), "minInclusive": .string($0.min), "maxExclusive": .string($0.max),
             "parents": .array($0.parents.map { .string($0) })]
        }
        var response = json(200, ["_rid": "coll", "PartitionKeyRanges": .array(list), "_count": .integer(Int64(list.count))])
        response.head.headers.add(name: "etag", value: etag)
        return response
    }

    private func nextSession(_ range: String) -> String {
        let lsn = state.withLockedValue { state -> Int in
            state.lsn += 1
            return state.lsn
        }
        return "\(range):-1#\(lsn)"
    }

    private func rangeID(for key: CosmosJSON?) -> String {
        let epk = Self.epk(key)
        return state.load().ranges.first { $0.min <= epk && epk < $0.max }?.id ?? "0"
    }

    private func write(_ link: String, pkPath: String, headers: HTTPHeaders, body: [UInt8]) -> HTTPServerResponse {
        guard var doc = try? CosmosJSON(parsing: body), let id = doc["id"]?.stringValue else {
            return error(400, "BadRequest", "the document has no id")
        }
        let key = doc[String(pkPath.dropFirst())]
        guard headers.first(name: "x-ms-documentdb-partitionkey") == CosmosJSON.array([key ?? .object([:])]).jsonString else {
            return error(400, "BadRequest", "partition key mismatch", sub: 1001)
        }
        let upsert = headers.first(name: "x-ms-documentdb-is-upsert") == "True"
        let status: Int? = state.withLockedValue { state in
            let exists = state.items[link]?[id] != nil
            if exists, !upsert { return nil }
            state.lsn += 1
            doc = stamp(doc, lsn: state.lsn)
            state.items[link, default: [:]][id] = doc
            return exists ? 200 : 201
        }
        guard let status else { return error(409, "Conflict", "Entity with the specified id already exists") }
        return item(status, doc, range: rangeID(for: key))
    }

    private func stamp(_ doc: CosmosJSON, lsn: Int) -> CosmosJSON {
        guard case .object(var members) = doc else { return doc }
        members["_etag"] = .string("\"\(lsn)\"")
        members["_ts"] = .integer(1_700_000_000)
        members["_rid"] = "doc"
        return .object(members)
    }

    private func item(_ status: Int, _ doc: CosmosJSON, range: String) -> HTTPServerResponse {
        var response = json(status, doc)
        response.head.headers.add(name: "etag", value: doc["_etag"]?.stringValue ?? "")
        response.head.headers.add(name: "x-ms-session-token", value: nextSession(range))
        return response
    }

    private func itemOperation(_ link: String, id: String, pkPath: String, method: String, headers: HTTPHeaders,
                               body: [UInt8]) -> HTTPServerResponse {
        guard let existing = state.load().items[link]?[id],
            headers.first(name: "x-ms-documentdb-partitionkey")
                == CosmosJSON.array([existing[String(pkPath.dropFirst())] ?? .object([:])]).jsonString
        else { return error(404, "NotFound", "Entity with the specified id does not exist in the system.") }
        if let ifMatch = headers.first(name: "If-Match"), ifMatch != existing["_etag"]?.stringValue {
            return error(412, "PreconditionFailed", "Operation cannot be performed because one of the specified precondition criteria was not met.")
        }
        let range = rangeID(for: existing[String(pkPath.dropFirst())])
        switch method {
        case "GET":
            if let ifNoneMatch = headers.first(name: "If-None-Match"), ifNoneMatch == existing["_etag"]?.stringValue {
                return HTTPServerResponse(status: 304)
            }
            return item(200, existing, range: range)
        case "DELETE":
            state.withLockedValue { $0.items[link]?[id] = nil }
            var response = HTTPServerResponse(status: 204)
            response.head.headers.add(name: "x-ms-session-token", value: nextSession(range))
            return response
        case "PUT":
            guard let doc = try? CosmosJSON(parsing: body) else { return error(400, "BadRequest", "bad json") }
            let stored = state.withLockedValue { state -> CosmosJSON in
                state.lsn += 1
                let doc = stamp(doc, lsn: state.lsn)
                state.items[link]?[id] = doc
                return doc
            }
            return item(200, stored, range: range)
        case "PATCH":
            guard let patch = try? CosmosJSON(parsing: body), let ops = patch["operations"]?.arrayValue,
                case .object(var members) = existing
            else { return error(400, "BadRequest", "bad patch") }
            if let condition = patch["condition"]?.stringValue, !Self.holds(condition, existing) {
                return error(412, "PreconditionFailed", "the condition does not hold")
            }
            for op in ops {
                let name = String(op["path"]?.stringValue?.dropFirst() ?? "")
                switch op["op"]?.stringValue {
                case "add", "set": members[name] = op["value"]
                case "replace":
                    if members[name] == nil { return error(400, "BadRequest", "no property \(name)") }
                    members[name] = op["value"]
                case "remove": members[name] = nil
                case "incr": members[name] = .double((members[name]?.numberValue ?? 0) + (op["value"]?.numberValue ?? 0))
                case "move":
                    let from = String(op["from"]?.stringValue?.dropFirst() ?? "")
                    members[name] = members.removeValue(forKey: from)
                default: return error(400, "BadRequest", "bad op")
                }
            }
            let stored = state.withLockedValue { state -> CosmosJSON in
                state.lsn += 1
                let doc = stamp(.object(members), lsn: state.lsn)
                state.items[link]?[id] = doc
                return doc
            }
            return item(200, stored, range: range)
        default:
            return error(405, "MethodNotAllowed", method)
        }
    }

    /// `from c where c.FIELD > N` (the only condition shape the tests use).
    static func holds(_ condition: String, _ doc: CosmosJSON) -> Bool {
        let words = condition.split(separator: " ")
        guard words.count == 6, words[4] == ">", let bound = Double(words[5]) else { return false }
        return (doc[String(words[3].dropFirst(2))]?.numberValue ?? -.infinity) > bound
    }

    // MARK: Queries

    /// The query shapes the tests use, parsed well enough to plan and run them.
    struct Shape {
        var orderBy: String?
        var descending = false
        var top: Int?
        var offset: Int?
        var limit: Int?
        var aggregate: String?
        var aggregateField: String?
        var minField: String?
        var minValue: Double?
    }

    static func shape(_ text: String, parameters: [CosmosJSON]) -> Shape {
        var shape = Shape()
        let words = text.split(separator: " ").map(String.init)
        for (index, word) in words.enumerated() {
            let upper = word.uppercased()
            let next = index + 1 < words.count ? words[index + 1] : ""
            if upper == "TOP" { shape.top = Int(next) }
            if upper == "OFFSET" { shape.offset = Int(next) }
            if upper == "LIMIT" { shape.limit = Int(next) }
            if upper == "BY" { shape.orderBy = String(next.dropFirst(2)) }
            if upper == "DESC" { shape.descending = true }
            if upper == ">" {
                shape.minField = String(words[index - 1].dropFirst(2))
                shape.minValue = parameters.first { $0["name"]?.stringValue == next }?["value"]?.numberValue ?? Double(next)
            }
            for name in ["COUNT", "SUM", "AVG", "MIN", "MAX"] where upper.hasPrefix(name + "(") {
                shape.aggregate = name
                let inner = word.dropFirst(name.count + 1).dropLast()
                shape.aggregateField = inner.hasPrefix("c.") ? String(inner.dropFirst(2)) : nil
            }
        }
        return shape
    }

    private func queryPlan(_ body: [UInt8]) -> HTTPServerResponse {
        guard let query = try? CosmosJSON(parsing: body), let text = query["query"]?.stringValue else {
            return error(400, "BadRequest", "no query")
        }
        let shape = Self.shape(text, parameters: query["parameters"]?.arrayValue ?? [])
        var info: [String: CosmosJSON] = [
            "distinctType": "None", "top": shape.top.map { .integer(Int64($0)) } ?? .null,
            "offset": shape.offset.map { .integer(Int64($0)) } ?? .null,
            "limit": shape.limit.map { .integer(Int64($0)) } ?? .null,
            "orderBy": shape.orderBy == nil ? [] : [shape.descending ? "Descending" : "Ascending"],
            "groupByExpressions": [], "aggregates": [], "rewrittenQuery": "", "hasSelectValue": .bool(shape.aggregate != nil),
        ]
        if let aggregate = shape.aggregate {
            info["aggregates"] = [.string(["AVG": "Average", "COUNT": "Count", "SUM": "Sum", "MIN": "Min", "MAX": "Max"][aggregate]!)]
            info["rewrittenQuery"] = .string("REWRITTEN-AGGREGATE \(text)")
        } else if shape.orderBy != nil {
            info["rewrittenQuery"] = .string("REWRITTEN-ORDERBY {documentdb-formattableorderbyquery-filter} \(text)")
        }
        return json(200, ["partitionedQueryExecutionInfoVersion": 2, "queryInfo": .object(info),
                          "queryRanges": [["min": "", "max": "FF", "isMinInclusive": true, "isMaxInclusive": false]]])
    }

    private func query(_ link: String, _ headers: HTTPHeaders, _ body: [UInt8]?) -> HTTPServerResponse {
        let queryJSON = body.flatMap { try? CosmosJSON(parsing: $0) }
        let text = queryJSON?["query"]?.stringValue ?? "SELECT * FROM c"
        if text.contains("{documentdb-") { return error(400, "BadRequest", "unreplaced placeholder in the query") }
        let (items, ranges, pkPath) = state.withLockedValue { ($0.items[link] ?? [:], $0.ranges, $0.containers[link] ?? "/pk") }
        let field = String(pkPath.dropFirst())
        var docs = items.values.sorted { ($0["id"]?.stringValue ?? "") < ($1["id"]?.stringValue ?? "") }
        var range = "0"
        if let key = headers.first(name: "x-ms-documentdb-partitionkey") {
            docs = docs.filter { CosmosJSON.array([$0[field] ?? .object([:])]).jsonString == key }
        } else if let id = headers.first(name: "x-ms-documentdb-partitionkeyrangeid") {
            guard let target = ranges.first(where: { $0.id == id }) else {
                return error(410, "Gone", "partition key range is gone", sub: 1002)
            }
            range = id
            docs = docs.filter { let epk = Self.epk($0[field]); return target.min <= epk && epk < target.max }
        } else if ranges.count > 1, body != nil {
            return error(400, "BadRequest", "Cross partition query is required but disabled or needs a plan", sub: 1004)
        }
        let shape = Self.shape(text, parameters: queryJSON?["parameters"]?.arrayValue ?? [])
        if let field = shape.minField, let bound = shape.minValue {
            docs = docs.filter { ($0[field]?.numberValue ?? -.infinity) > bound }
        }
        var results: [CosmosJSON]
        if let aggregate = shape.aggregate {
            let values = docs.compactMap { doc in shape.aggregateField.flatMap { doc[$0] } ?? .integer(1) }
            let numbers = values.compactMap(\.numberValue)
            let partial: CosmosJSON
            switch aggregate {
            case "COUNT": partial = .integer(Int64(values.count))
            case "SUM": partial = .double(numbers.reduce(0, +))
            case "AVG": partial = ["sum": .double(numbers.reduce(0, +)), "count": .integer(Int64(numbers.count))]
            case "MIN": partial = numbers.min().map { .double($0) } ?? .object([:])
            default: partial = numbers.max().map { .double($0) } ?? .object([:])
            }
            let rewritten = text.hasPrefix("REWRITTEN")
            results = rewritten ? [[["item": partial]]] : [partial]
        } else {
            if let order = shape.orderBy {
                docs.sort { CosmosJSON.cosmosCompare($0[order], $1[order]) * (shape.descending ? -1 : 1) < 0 }
            }
            if let cap = shape.top ?? shape.limit.map({ $0 + (shape.offset ?? 0) }) { docs = Array(docs.prefix(cap)) }
            if text.hasPrefix("REWRITTEN-ORDERBY"), let order = shape.orderBy {
                results = docs.map { ["_rid": "doc", "orderByItems": [["item": $0[order] ?? .null]], "payload": $0] }
            } else {
                results = docs
            }
        }
        let start = headers.first(name: "x-ms-continuation").flatMap { Int($0) } ?? 0
        let size = headers.first(name: "x-ms-max-item-count").flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 1000
        let page = Array(results.dropFirst(start).prefix(size))
        var response = json(200, ["_rid": "coll", "Documents": .array(page), "_count": .integer(Int64(page.count))])
        if start + size < results.count { response.head.headers.add(name: "x-ms-continuation", value: "\(start + size)") }
        response.head.headers.add(name: "x-ms-session-token", value: nextSession(range))
        return response
    }

    // MARK: Responses

    /// A JSON answer with the fake's usual headers plus `headers`, for `State.hostile` scripts.
    static func answer(_ value: CosmosJSON, status: Int = 200, headers: [String: String] = [:]) -> HTTPServerResponse {
        answer(bytes: value.jsonBytes, status: status, headers: headers)
    }

    static func answer(bytes: [UInt8], status: Int = 200, headers: [String: String] = [:]) -> HTTPServerResponse {
        var response = HTTPServerResponse(status: status, headers: [
            "Content-Type": "application/json", "x-ms-request-charge": "1.5", "x-ms-activity-id": UUID().uuidString,
        ], body: .bytes(bytes))
        for (name, value) in headers { response.head.headers.replaceOrAdd(name: name, value: value) }
        return response
    }

    private func json(_ status: Int, _ value: CosmosJSON) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headers: [
            "Content-Type": "application/json", "x-ms-request-charge": "1.5", "x-ms-activity-id": UUID().uuidString,
        ], body: .bytes(value.jsonBytes))
    }

    private func error(_ status: Int, _ code: String, _ message: String, sub: Int? = nil,
                       extra: [String: String] = [:]) -> HTTPServerResponse {
        var response = json(status, ["code": .string(code), "message": .string(message)])
        if let sub { response.head.headers.add(name: "x-ms-substatus", value: "\(sub)") }
        for (name, value) in extra { response.head.headers.add(name: name, value: value) }
        return response
    }
}
