import AzureAuth
import AzureAuthVerification
import Foundation
import ToolboxCore
import ToolboxTransport
import ToolboxTransportServer

/// Emulated Event Grid topics: publish (both schemas, all three auth schemes), kept events readable by tests.
///
/// Routes:
/// - `POST /eventgrid/<topic>/api/events?api-version=…` — a basic topic, the URL the SDKs take verbatim.
///   `aeg-sas-key` (header or query), `aeg-sas-token`, or `Authorization: Bearer` (audience
///   `https://eventgrid.azure.net/`, from the emulator's Entra ID).
/// - `POST /topics/<topic>:publish?api-version=…` — a namespace topic (CloudEvents only); `Authorization:
///   SharedAccessKey <key>` or `Bearer`.
/// - `GET /_emulator/eventgrid/<topic>/events[?after=N]`, `DELETE` the same — what a topic kept (tests).
///
/// Accepted publishes answer exactly 200 (the SDK's legacy `send` raises on anything else, 202 included), with an
/// empty body (`{}` for namespaces). Errors use Event Grid's `{"error": {"code", "message"}}` shape.
final class EventGridService: EmulatorHTTPService {
    let name = "eventgrid"
    static let audience = "https://eventgrid.azure.net/"
    let context: EmulatorHTTPContext
    let store: EventGridStore
    /// Each topic's name as configured, by its lower-cased name (topic names compare case-insensitively).
    private let canonicalTopics: [String: String]

    init(context: EmulatorHTTPContext) {
        self.context = context
        var canonicalTopics: [String: String] = [:]
        for topic in context.configuration.eventGridTopics where canonicalTopics[topic.lowercased()] == nil {
            canonicalTopics[topic.lowercased()] = topic
        }
        self.canonicalTopics = canonicalTopics
        store = EventGridStore(topics: context.configuration.eventGridTopics,
                               limit: context.configuration.httpLimits.maxEventGridEventsPerTopic,
                               byteLimit: context.configuration.httpLimits.maxEventGridBytesPerTopic)
    }

    private enum Route {
        case basic(topic: String)
        case namespace(topic: String)
        case kept(topic: String)
    }

    private func route(of request: EmulatorHTTPRequest) -> Route? {
        let segments = request.pathSegments
        if segments.count == 4, segments[0] == "eventgrid", segments[2].lowercased() == "api",
           segments[3].lowercased() == "events" {
            return .basic(topic: segments[1])
        }
        if segments.count == 2, segments[0] == "topics", segments[1].hasSuffix(":publish") {
            return .namespace(topic: String(segments[1].dropLast(":publish".count)))
        }
        if segments.count == 4, segments[0] == "_emulator", segments[1] == "eventgrid", segments[3] == "events" {
            return .kept(topic: segments[2])
        }
        return nil
    }

    func accepts(_ request: EmulatorHTTPRequest) -> Bool { route(of: request) != nil }

    /// Published events are kept in memory behind a short lock: answered on the connection's queue.
    func answersOnConnectionQueue(_ request: EmulatorHTTPRequest) -> Bool { true }

    func handle(_ request: EmulatorHTTPRequest, respond: @escaping @Sendable (HTTPServerResponse) -> Void) {
        switch route(of: request) {
        case .basic(let topic):
            respond(publish(request, topic: topic, namespace: false))
        case .namespace(let topic):
            respond(publish(request, topic: topic, namespace: true))
        case .kept(let topic):
            respond(kept(request, topic: topic))
        case nil:
            respond(Self.error(404, "NotFound", "No Event Grid route at \(request.path)."))
        }
    }

    func throttledResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        var response = Self.error(429, "TooManyRequests",
                                  "The request was throttled (the emulator's throttling fault); retry after 1 second.")
        response.head.headers.add(name: "Retry-After", value: "1")
        return response
    }

    func authenticationRefusedResponse(to request: EmulatorHTTPRequest) -> HTTPServerResponse {
        Self.error(401, "Unauthorized", "The request authorization was refused (the emulator refuses all "
            + "authentication: fault injection).")
    }

    private func publish(_ request: EmulatorHTTPRequest, topic: String, namespace: Bool) -> HTTPServerResponse {
        guard request.method == "POST" else {
            var response = Self.error(405, "MethodNotAllowed", "Publish with POST.")
            response.head.headers.add(name: "Allow", value: "POST")
            return response
        }
        guard store.contains(topic) else {
            return Self.error(404, "NotFound", "The topic '\(EventGridValidation.printable(topic))' does not exist "
                + "in the emulator (start it with --eventgrid-topic \(EventGridValidation.printable(topic))).")
        }
        guard request.queryValue("api-version").map({ !$0.isEmpty }) == true else {
            return Self.error(400, "BadRequest", "The api-version query parameter (?api-version=) is required for "
                + "all requests (the SDKs send 2018-01-01 for basic topics).")
        }
        if let refusal = namespace ? authorizeNamespace(request) : authorizeTopic(request) { return refusal }
        let limit = context.configuration.httpLimits.maxEventGridBodyBytes
        guard request.body.count <= limit else {
            return Self.error(413, "RequestEntityTooLarge", "The maximum size for the request is \(limit) bytes; "
                + "this one has \(request.body.count). Send the events in smaller batches.")
        }
        switch EventGridValidation.events(body: request.body, contentType: request.header("Content-Type"),
                                          allowEventGridSchema: !namespace) {
        case .failure(let failure):
            return Self.error(400, "BadRequest", failure.message, detailCode: "InputJsonInvalid")
        case .success(let (schema, events)):
            let canonical = canonicalTopics[topic.lowercased()] ?? topic
            _ = store.append(topic: canonical, schema: schema, events: events)
            context.logger.debug("eventgrid: \(canonical) accepted \(events.count) \(schema.rawValue) event(s)")
            var headers: HTTPHeaders = ["x-ms-request-id": RandomUUID.string()]
            if namespace {
                headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
                return HTTPServerResponse(status: 200, headers: headers, body: .bytes(Array("{}".utf8)))
            }
            return HTTPServerResponse(status: 200, headers: headers)
        }
    }

    /// Nil when the basic-topic request carries a valid key, SAS token or bearer token.
    private func authorizeTopic(_ request: EmulatorHTTPRequest) -> HTTPServerResponse? {
        let key = context.configuration.eventGridKey
        if let given = request.header("aeg-sas-key") ?? request.queryValue("aeg-sas-key") {
            return AuthCrypto.constantTimeEqual(Array(given.utf8), Array(key.exposedValue.utf8)) ? nil
                : Self.unauthorized("The aeg-sas-key is not this topic's key.")
        }
        if let token = request.header("aeg-sas-token") {
            guard let parsed = EventGridSharedAccessSignature.parse(token) else {
                return Self.unauthorized("The aeg-sas-token is malformed: expected r=<resource>&e=<expiry>&s=<signature>.")
            }
            guard EventGridSharedAccessSignature.isSignatureValid(parsed, key: key) else {
                return Self.unauthorized("The aeg-sas-token's signature does not match this topic's key.")
            }
            guard let expiry = parsed.expiry else {
                return Self.unauthorized("The aeg-sas-token's expiry '\(EventGridValidation.printable(parsed.expiration))' "
                    + "is not a date Event Grid understands.")
            }
            guard expiry > Int(Date().timeIntervalSince1970) else {
                return Self.unauthorized("The aeg-sas-token has expired.")
            }
            guard Self.path(of: parsed.resource).caseInsensitiveCompare(request.path) == .orderedSame else {
                return Self.unauthorized("The aeg-sas-token was made for another resource (its r names "
                    + "'\(EventGridValidation.printable(Self.path(of: parsed.resource)))', this request is for '\(request.path)').")
            }
            return nil
        }
        if let authorization = request.header("Authorization") {
            return bearer(authorization)
        }
        return Self.unauthorized("The request has no aeg-sas-key, aeg-sas-token or Authorization header.")
    }

    /// Nil when the namespace request carries `SharedAccessKey <key>` or a valid bearer token.
    private func authorizeNamespace(_ request: EmulatorHTTPRequest) -> HTTPServerResponse? {
        guard let authorization = request.header("Authorization") else {
            return Self.unauthorized("The request has no Authorization header (SharedAccessKey <key> or Bearer <token>).")
        }
        let prefix = "SharedAccessKey "
        if authorization.count > prefix.count, authorization.prefix(prefix.count).caseInsensitiveCompare(prefix) == .orderedSame {
            let given = Array(authorization.dropFirst(prefix.count).utf8)
            return AuthCrypto.constantTimeEqual(given, Array(context.configuration.eventGridKey.exposedValue.utf8)) ? nil
                : Self.unauthorized("The SharedAccessKey is not this namespace's key.")
        }
        return bearer(authorization)
    }

    private func bearer(_ authorization: String) -> HTTPServerResponse? {
        switch context.verifyBearer(authorization, audiences: [Self.audience]) {
        case .success: return nil
        case .failure(let rejection): return Self.unauthorized("The bearer token was refused: \(rejection.reason).")
        }
    }

    private func kept(_ request: EmulatorHTTPRequest, topic: String) -> HTTPServerResponse {
        switch request.method {
        case "GET":
            let after = request.queryValue("after").flatMap { Int($0) } ?? 0
            guard let (events, dropped) = store.events(topic: topic, after: after) else {
                return Self.error(404, "NotFound", "The topic '\(EventGridValidation.printable(topic))' does not exist.")
            }
            // The events go out byte for byte as published, so the JSON is assembled around them.
            var body = Array(#"{"topic":"#.utf8) + Self.jsonString(topic) + Array(#","dropped":\#(dropped),"events":["#.utf8)
            for (index, event) in events.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body += Array(#"{"sequence":\#(event.sequence),"schema":"\#(event.schema.rawValue)","received_at":"#.utf8)
                body += Self.jsonString(ISO8601DateFormatter().string(from: event.receivedAt))
                body += Array(#","event":"#.utf8) + event.json + [UInt8(ascii: "}")]
            }
            body += Array("]}".utf8)
            return HTTPServerResponse(status: 200, headers: ["Content-Type": "application/json; charset=utf-8"],
                                      body: .bytes(body))
        case "DELETE":
            return store.clear(topic: topic) ? HTTPServerResponse(status: 204)
                : Self.error(404, "NotFound", "The topic '\(EventGridValidation.printable(topic))' does not exist.")
        default:
            var response = Self.error(405, "MethodNotAllowed", "Use GET or DELETE.")
            response.head.headers.add(name: "Allow", value: "GET, DELETE")
            return response
        }
    }

    /// The path of a URL (`https://host/a/b?x` → `/a/b`); a resource without a scheme is taken as host[/path].
    static func path(of resource: String) -> String {
        var rest = Substring(resource)
        if let mark = rest.firstIndex(of: "?") { rest = rest[..<mark] }
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }

    private static func jsonString(_ text: String) -> [UInt8] {
        Array(((try? JSONSerialization.data(withJSONObject: [text], options: [])) ?? Data("[\"\"]".utf8)).dropFirst().dropLast())
    }

    static func unauthorized(_ message: String) -> HTTPServerResponse {
        error(401, "Unauthorized", message)
    }

    /// Event Grid's error shape: `{"error": {"code": …, "message": …, "details": [{"code": …, "message": …}]}}`.
    static func error(_ status: Int, _ code: String, _ message: String, detailCode: String? = nil) -> HTTPServerResponse {
        var error: [String: Any] = ["code": code, "message": message]
        if let detailCode { error["details"] = [["code": detailCode, "message": message]] }
        let data = (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
        return HTTPServerResponse(
            status: status,
            headers: ["Content-Type": "application/json; charset=utf-8", "x-ms-request-id": RandomUUID.string()],
            body: .bytes(Array(data)))
    }
}
