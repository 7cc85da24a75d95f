import AzureAuth
import ToolboxCore
import ToolboxTransport

// Cosmos DB's error codes, one per exception class of the Python SDK (azure.cosmos.exceptions) plus the
// statuses a caller branches on. `serviceCondition` carries status, sub-status, the body's `code` and
// `message`, and the activity id. The codes every HTTP client shares (`resourceNotFound` 404 —
// `CosmosResourceNotFoundError` —, `resourceExists` 409, `preconditionFailed` 412 —
// `CosmosAccessConditionFailedError` —, `throttled` 429, `badRequest` 400, `authorizationFailed` 401,
// `forbidden` 403, `requestTooLarge` 413, `serviceUnavailable` 503, `notModified` 304, `invalidResponse`) are
// declared once in ToolboxCore (`HTTPServiceCodes.swift`), so a program linking several clients sees one of each.
extension ToolboxError.Code {
    /// Any other error status (`CosmosHttpResponseError`).
    public static let httpResponseError = Self("httpResponseError")
    /// A connection failed before an answer arrived (refused, reset, TLS, time-out while connecting).
    public static let networkFailure = Self("networkFailure", defaultRecovery: .rebuildConnection)
    /// The query needs a feature this client does not merge across partitions (GROUP BY, DISTINCT, ...).
    public static let unsupportedQuery = Self("unsupportedQuery")
}

/// The sub-status values the client acts on (`x-ms-substatus`).
enum CosmosSubStatus {
    static let nameCacheIsStale = 1000
    static let partitionKeyRangeGone = 1002
    /// 404: what the operation was on (the container or database) does not exist, rather than the item.
    static let ownerResourceNotFound = 1003
    static let readSessionNotAvailable = 1002
    static let crossPartitionQueryNeedsPlan = 1004
    static let completingSplit = 1007
    static let completingPartitionMigration = 1008
}

enum CosmosErrors {
    /// The typed error for an error response, with everything the service said except secrets (Cosmos DB's
    /// 401 messages quote the string-to-sign, never the key; the message is kept but cut at 1,000 characters).
    static func from(_ response: HTTPResponse, operation: String) -> ToolboxError {
        var error = describe(response, operation: operation)
        if response.status == 404, error.serviceCondition?.subStatus == CosmosSubStatus.ownerResourceNotFound {
            error.message += " (the database or container does not exist)"
        }
        return error
    }

    private static func describe(_ response: HTTPResponse, operation: String) -> ToolboxError {
        let status = response.status
        let subStatus = response.headers.first(name: "x-ms-substatus").flatMap { Int($0.trimmingWhitespace()) }
        var errorCode: String?
        var message: String?
        if let body = try? CosmosJSON(parsing: response.body) {
            errorCode = body["code"]?.stringValue
            message = body["message"]?.stringValue ?? body["Message"]?.stringValue
        }
        if message == nil, !response.body.isEmpty {
            message = String(decoding: response.body.prefix(300), as: UTF8.self)
        }
        if let text = message, text.count > 1000 { message = String(text.prefix(1000)) + "…" }
        var retryAfter: Duration?
        if let text = response.headers.first(name: "x-ms-retry-after-ms"), let ms = Double(text.trimmingWhitespace()),
            ms.isFinite, ms >= 0
        {
            retryAfter = .milliseconds(Int64(min(ms, 86_400_000)))
        }
        let condition = ServiceCondition(
            httpStatus: status, subStatus: subStatus, errorCode: errorCode, serviceMessage: message,
            requestID: response.headers.first(name: "x-ms-request-id"),
            activityID: response.headers.first(name: "x-ms-activity-id"), retryAfter: retryAfter)
        let code: ToolboxError.Code = status == 408
            ? .timedOut : .forHTTPStatus(status, versionedResources: true, fallback: .httpResponseError)
        let what = errorCode.map { " \($0)" } ?? ""
        let sub = subStatus.map { "/\($0)" } ?? ""
        return ToolboxError(code, "\(operation) failed with HTTP \(status)\(sub)\(what)"
            + (message.map { ": \($0)" } ?? ""), serviceCondition: condition)
    }

    /// A transport failure during `operation`, typed for retry decisions.
    static func transport(_ error: TransportError, operation: String) -> ToolboxError {
        switch error.code {
        case .cancelled:
            return ToolboxError(.cancelled, "\(operation) was cancelled")
        case .timedOut:
            return ToolboxError(.timedOut, "\(operation) timed out: \(error.message)", underlying: error)
        case .closedLocally:
            return ToolboxError(.clientClosed, "\(operation): the client is closed", underlying: error)
        default:
            return ToolboxError(.networkFailure, "\(operation): \(error.message)", underlying: error)
        }
    }
}
