/// What a remote service said when it refused or failed a request, kept exactly as it said it.
///
/// One shape for both protocol families, so a caller can log or branch on it without knowing which one spoke:
///
/// | field | AMQP (Event Hubs, Service Bus) | HTTP (Cosmos DB, Blob Storage, Event Grid) |
/// | --- | --- | --- |
/// | `amqpCondition` | `amqp:not-found`, `com.microsoft:server-busy` | – |
/// | `httpStatus` | status of a management/CBS answer | response status (409, 429, 503) |
/// | `subStatus` | – | Cosmos `x-ms-substatus` (1002, 3200) |
/// | `errorCode` | – | Cosmos body `code` (`Conflict`), Blob `x-ms-error-code` (`AuthenticationFailed`), Event Grid `error.code` |
/// | `serviceMessage` | the condition's description | the service's error message |
/// | `requestID` | – | `x-ms-request-id` |
/// | `activityID` | – | Cosmos `x-ms-activity-id` |
/// | `retryAfter` | – | `Retry-After`, Cosmos `x-ms-retry-after-ms` |
///
/// Whoever builds one from a response must leave credentials and signatures out of `serviceMessage` (Storage
/// echoes its string-to-sign on `AuthenticationFailed`; keep the code, drop the echo).
public struct ServiceCondition: Hashable, Sendable, CustomStringConvertible {
    /// The AMQP error condition symbol, as received.
    public var amqpCondition: String?
    /// The HTTP status code (or the status property of an AMQP management/CBS response).
    public var httpStatus: Int?
    /// Cosmos DB's sub-status (`x-ms-substatus`), which refines `httpStatus`.
    public var subStatus: Int?
    /// The service's own error code string (`Conflict`, `AuthenticationFailed`, `BlobNotFound`).
    public var errorCode: String?
    /// The service's human-readable explanation.
    public var serviceMessage: String?
    /// The service's id for the request (`x-ms-request-id`), for support tickets and log correlation.
    public var requestID: String?
    /// Cosmos DB's activity id (`x-ms-activity-id`).
    public var activityID: String?
    /// How long the service asked the client to wait before trying again.
    public var retryAfter: Duration?

    public init(
        amqpCondition: String? = nil, httpStatus: Int? = nil, subStatus: Int? = nil, errorCode: String? = nil,
        serviceMessage: String? = nil, requestID: String? = nil, activityID: String? = nil,
        retryAfter: Duration? = nil
    ) {
        self.amqpCondition = amqpCondition
        self.httpStatus = httpStatus
        self.subStatus = subStatus
        self.errorCode = errorCode
        self.serviceMessage = serviceMessage
        self.requestID = requestID
        self.activityID = activityID
        self.retryAfter = retryAfter
    }

    /// The fields that are set, most specific first: `amqp:not-found: no such hub` or
    /// `HTTP 429/3200 RequestRateTooLarge: ... (request id ..., retry after 0.5 seconds)`.
    public var description: String {
        var head: [String] = []
        if let amqpCondition { head.append(amqpCondition) }
        if let httpStatus { head.append("HTTP \(httpStatus)" + (subStatus.map { "/\($0)" } ?? "")) }
        if let errorCode { head.append(errorCode) }
        var text = head.joined(separator: " ")
        if let serviceMessage { text += text.isEmpty ? serviceMessage : ": \(serviceMessage)" }
        var tail: [String] = []
        if let requestID { tail.append("request id \(requestID)") }
        if let activityID { tail.append("activity id \(activityID)") }
        if let retryAfter { tail.append("retry after \(retryAfter)") }
        if !tail.isEmpty { text += " (\(tail.joined(separator: ", ")))" }
        return text
    }
}
