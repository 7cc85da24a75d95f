import Foundation
import ToolboxCore
import ToolboxTransport

/// Turns error answers and transport failures into `ToolboxError`s, and says which of them a retry may cure.
enum BlobErrors {
    /// The typed error of an error response: code from the status (and `x-ms-error-code`), the service's code
    /// and message in `serviceCondition`. Storage's `AuthenticationFailed` bodies carry the string-to-sign in
    /// `<AuthenticationErrorDetail>`; only `<Message>` is kept, cut at its first line (the rest is request id and
    /// time) and at 300 characters.
    static func from(_ response: HTTPResponse, operation: String) -> ToolboxError {
        let status = response.status
        let parsed = BlobXML.error(response.body)
        let errorCode = response.headers.first(name: "x-ms-error-code") ?? parsed.code
        var message = parsed.message.map { String($0.split(separator: "\n", maxSplits: 1).first ?? "") }
        if let text = message, text.count > 300 { message = String(text.prefix(300)) + "…" }
        if let text = message, text.lowercased().contains("sig=") || text.contains("string to sign") {
            message = nil
        }
        let condition = ServiceCondition(
            httpStatus: status, errorCode: errorCode, serviceMessage: message,
            requestID: response.headers.first(name: "x-ms-request-id"), retryAfter: retryAfter(response.headers))
        let code: ToolboxError.Code
        switch status {
        case 403 where errorCode == "AuthenticationFailed": code = .authorizationFailed
        case 416: code = .rangeNotSatisfiable
        case 503 where errorCode == "ServerBusy": code = .throttled
        default: code = .forHTTPStatus(status, versionedResources: true, fallback: .serviceError)
        }
        // The status, code and request id are in `serviceCondition` (and in `description`); the message says
        // what failed and, in the service's words, why.
        let text = "\(operation) failed: " + (message ?? "HTTP \(status)" + (errorCode.map { " \($0)" } ?? ""))
        return ToolboxError(code, text, serviceCondition: condition)
    }

    /// Statuses worth another try (azure-storage-blob's retry policy: 408, 429, 5xx but 501 and 505).
    static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status) && status != 501 && status != 505
    }

    /// Transport failures worth another try: the connection, not the request, was the problem.
    static func isRetryable(_ error: TransportError) -> Bool {
        switch error.code {
        case .connectFailed, .connectionReset, .connectionClosed, .connectionRefused, .timedOut, .httpTruncated,
             .tlsProtocolError, .httpMalformed, .resolutionFailed:
            return true
        default:
            return false
        }
    }

    /// Wraps a transport failure with what was being done, keeping its code (`.connectionReset`, `.timedOut` …).
    static func from(_ error: TransportError, operation: String) -> ToolboxError {
        ToolboxError(error.code, "\(operation) failed: \(error.message)", underlying: error, recovery: error.recovery)
    }

    /// `Retry-After` in seconds (the only form Storage sends), bounded to a day.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let text = headers.first(name: "Retry-After"), let seconds = Int(text.trimmingCharacters(in: .whitespaces)),
              seconds >= 0 else { return nil }
        return .seconds(min(seconds, 86_400))
    }
}
