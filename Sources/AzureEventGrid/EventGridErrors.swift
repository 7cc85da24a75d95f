import Foundation
import ToolboxCore
import ToolboxTransport

/// Turns Event Grid's answers and transport failures into `ToolboxError`s.
enum EventGridErrors {
    /// Statuses a publish is retried on (azure-core's `RetryPolicy` defaults).
    static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

    /// Transport failures after which the publish is tried again on a new connection.
    static let retryableTransportCodes: Set<ToolboxError.Code> = [
        .connectionRefused, .connectFailed, .connectionReset, .connectionClosed, .closedLocally, .tlsHandshakeFailed,
        .tlsProtocolError, .httpMalformed, .httpTruncated, .poolExhausted, .timedOut,
    ]

    /// The typed error for an error answer: status, the body's `error.code` and `error.message` (cut at 1,000
    /// characters; Event Grid's messages name hosts, never keys), `x-ms-request-id` and `Retry-After`.
    static func from(_ response: HTTPResponse, what: String) -> ToolboxError {
        let status = response.status
        var errorCode: String?
        var message: String?
        if let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
           let error = object["error"] as? [String: Any] {
            errorCode = error["code"] as? String
            message = error["message"] as? String
        }
        if message == nil, !response.body.isEmpty {
            message = String(decoding: response.body.prefix(300), as: UTF8.self)
        }
        if let text = message, text.count > 1000 { message = String(text.prefix(1000)) + "…" }
        let condition = ServiceCondition(
            httpStatus: status, errorCode: errorCode, serviceMessage: message,
            requestID: response.headers.first(name: "x-ms-request-id"),
            retryAfter: retryAfter(response.headers))
        let code = ToolboxError.Code.forHTTPStatus(status, versionedResources: false, fallback: .serviceError)
        var text = "\(what) failed: HTTP \(status)"
        if let errorCode { text += " \(errorCode)" }
        if let message { text += ": \(message)" }
        return ToolboxError(code, text, serviceCondition: condition)
    }

    /// `Retry-After` in seconds (or an HTTP date, which Event Grid does not send: ignored), capped at a day.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let text = headers.first(name: "Retry-After"), let seconds = Double(text.trimmingCharacters(in: .whitespaces)),
              seconds.isFinite, seconds >= 0
        else { return nil }
        return .milliseconds(Int64(min(seconds, 86_400) * 1000))
    }
}
