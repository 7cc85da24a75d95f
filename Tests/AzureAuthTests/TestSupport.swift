import Dispatch
import Foundation
import Logging
import ToolboxCore
import XCTest

@testable import AzureAuth

/// An in-memory token endpoint: records every request and answers with `respond`.
final class FakeTokenTransport: TokenHTTPTransport {
    typealias Responder = @Sendable (TokenHTTPRequest, Int) -> Result<TokenHTTPResponse, any Error>
    private let respond: Responder
    private let recorded = LockedValue<[TokenHTTPRequest]>([])
    private let delay: Double

    /// - parameter respond: gets the request and its 0-based index.
    init(delay: Double = 0, respond: @escaping Responder) {
        self.delay = delay
        self.respond = respond
    }

    var requests: [TokenHTTPRequest] { recorded.load() }
    var count: Int { recorded.load().count }

    func send(
        _ request: TokenHTTPRequest, deadline: Deadline,
        completion: @escaping @Sendable (Result<TokenHTTPResponse, any Error>) -> Void
    ) {
        let index = recorded.withLockedValue { list in
            list.append(request)
            return list.count - 1
        }
        let result = respond(request, index)
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { completion(result) }
    }

    static func json(_ status: Int, _ object: [String: Any]) -> Result<TokenHTTPResponse, any Error> {
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return .success(TokenHTTPResponse(
            status: status, headers: [("Content-Type", "application/json")], body: Array(body)))
    }

    /// A transport whose token endpoint issues `token` valid for `expiresIn` seconds.
    static func issuing(_ token: String = "access-token-1", expiresIn: Int = 3599) -> FakeTokenTransport {
        FakeTokenTransport { _, _ in
            json(200, ["token_type": "Bearer", "expires_in": expiresIn, "ext_expires_in": expiresIn,
                       "access_token": token])
        }
    }
}

struct FakeNetworkError: Error, CustomStringConvertible {
    var description: String { "connection refused" }
}

/// A settable clock in UNIX seconds.
final class TestClock: Sendable {
    private let value: LockedValue<Int>
    init(_ start: Int = 1_800_000_000) { value = LockedValue(start) }
    var now: Int { value.load() }
    func advance(_ seconds: Int) { value.withLockedValue { $0 += seconds } }
    var function: @Sendable () -> Int { { [value] in value.load() } }
}

/// Captures every log line (message and metadata) so tests can prove secrets never reach logs.
struct CapturingLogHandler: LogHandler {
    static let lines = LockedValue<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    let label: String

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = "\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata)"
        Self.lines.withLockedValue { $0.append(line) }
    }

    static func logger(_ label: String) -> Logger {
        Logger(label: label) { CapturingLogHandler(label: $0) }
    }
}

/// Waits for one completion-handler result.
func awaitToken(
    _ credential: any TokenCredential, _ scopes: [String], options: TokenRequestOptions = TokenRequestOptions(),
    file: StaticString = #filePath, line: UInt = #line
) -> Result<AccessToken, AuthError>? {
    let box = LockedValue<Result<AccessToken, AuthError>?>(nil)
    let done = DispatchSemaphore(value: 0)
    credential.token(for: scopes, options: options, queue: DispatchQueue.global()) { result in
        box.withLockedValue { $0 = result }
        done.signal()
    }
    if done.wait(timeout: .now() + 30) == .timedOut {
        XCTFail("no completion within 30 s", file: file, line: line)
        return nil
    }
    return box.load()
}

/// The form fields of an `application/x-www-form-urlencoded` body.
func formFields(_ body: [UInt8]) -> [String: String] {
    var fields: [String: String] = [:]
    for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        let decode = { (text: String) in PercentEncoding.unquote(text, plusAsSpace: true) }
        fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
    }
    return fields
}
