// Codes every HTTP service client (Cosmos DB, Blob Storage, Event Grid) shares, one per response class a caller
// branches on. They live here, beside the other shared codes, so two clients in one program never declare the
// same name twice (that would make `.preconditionFailed` ambiguous wherever both modules are linked).
// `serviceCondition` carries the status, the service's own error code and message, and the request id.
extension ToolboxError.Code {
    /// 404: the resource (container, blob, database, item) does not exist.
    public static let resourceNotFound = Self("resourceNotFound")
    /// 409: the resource already exists (or is in a state that conflicts with the request).
    public static let resourceExists = Self("resourceExists")
    /// 412: an `If-Match` / `If-None-Match` / `If-(Un)Modified-Since` condition did not hold.
    public static let preconditionFailed = Self("preconditionFailed")
    /// 429 (or Storage's 503 `ServerBusy`) still answered after the retries the options allow.
    public static let throttled = Self("throttled", defaultRecovery: .retry)
    /// 400: the request is malformed.
    public static let badRequest = Self("badRequest")
    /// 401, or Storage's 403 `AuthenticationFailed`: the key, signature or token was refused.
    public static let authorizationFailed = Self("authorizationFailed")
    /// 403: the caller may not do this (permissions, a SAS without the needed permission).
    public static let forbidden = Self("forbidden")
    /// 413: the request is over the service's size limit.
    public static let requestTooLarge = Self("requestTooLarge")
    /// 500/503 and other server-side failures still answered after retries.
    public static let serviceUnavailable = Self("serviceUnavailable", defaultRecovery: .retry)
    /// 304: a conditional read found the resource unchanged.
    public static let notModified = Self("notModified")
    /// The service answered something the client cannot read (malformed XML or JSON, a missing header).
    public static let invalidResponse = Self("invalidResponse")
    /// Any other failure the service reported; `serviceCondition` holds what it said.
    public static let serviceError = Self("serviceError")
}

extension ToolboxError.Code {
    /// The code of an HTTP error status, as every HTTP service client maps it: one table, so 404 cannot mean one
    /// thing in Cosmos DB and another in Blob Storage. `versionedResources` (Cosmos DB, Blob Storage: ETags and
    /// conditional requests) gives 304, 409 and 412 their own codes; a service without them (Event Grid) leaves
    /// those to `fallback`, as it does every status not in the table. A service's own special cases (Storage's
    /// 503 `ServerBusy`, Cosmos DB's 408) are decided before this.
    package static func forHTTPStatus(_ status: Int, versionedResources: Bool, fallback: Self) -> Self {
        switch status {
        case 400: .badRequest
        case 401: .authorizationFailed
        case 403: .forbidden
        case 404: .resourceNotFound
        case 413: .requestTooLarge
        case 429: .throttled
        case 500...599: .serviceUnavailable
        case 304 where versionedResources: .notModified
        case 409 where versionedResources: .resourceExists
        case 412 where versionedResources: .preconditionFailed
        default: fallback
        }
    }
}
