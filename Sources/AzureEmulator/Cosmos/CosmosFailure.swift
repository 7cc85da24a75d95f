import Foundation
import ToolboxTransport
import ToolboxTransportServer

/// A Cosmos DB error answer: HTTP status, the service's `code` word, a message, and the `x-ms-substatus` the SDKs
/// branch on (1002 partition key range gone, 1004 cross-partition query needs a plan, 3200 throttled, …).
struct CosmosFailure: Error, Sendable, Equatable {
    var status: Int
    var code: String
    var message: String
    var substatus: Int = 0
    var headers: [(String, String)] = []

    static func == (lhs: CosmosFailure, rhs: CosmosFailure) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code && lhs.message == rhs.message && lhs.substatus == rhs.substatus
    }

    static func badRequest(_ message: String, substatus: Int = 0) -> CosmosFailure {
        CosmosFailure(status: 400, code: "BadRequest", message: message, substatus: substatus)
    }

    static func notFound(_ message: String = "Resource Not Found. Learn more: https://aka.ms/cosmosdb-tsg-not-found")
        -> CosmosFailure
    {
        CosmosFailure(status: 404, code: "NotFound", message: message)
    }

    /// What the service answers an operation on the items or ranges of a container (or database) that does not
    /// exist: 404 with substatus 1003, which tells it from a missing item (404, substatus 0).
    static func ownerNotFound() -> CosmosFailure {
        CosmosFailure(status: 404, code: "NotFound", message: "Owner resource does not exist", substatus: 1003)
    }

    static func conflict(_ message: String = "Entity with the specified id already exists in the system.")
        -> CosmosFailure
    {
        CosmosFailure(status: 409, code: "Conflict", message: message)
    }

    static let preconditionFailed = CosmosFailure(
        status: 412, code: "PreconditionFailed",
        message: "Operation cannot be performed because one of the specified precondition is not met.")

    static func unauthorized(_ message: String) -> CosmosFailure {
        CosmosFailure(status: 401, code: "Unauthorized", message: message)
    }

    /// The partition key range a request named no longer exists (it was split): the SDKs refresh their routing
    /// map and retry on the children.
    static func partitionKeyRangeGone(_ id: String) -> CosmosFailure {
        CosmosFailure(status: 410, code: "Gone",
                      message: "The partition key range \(id) is gone (it was split); refresh the partition key ranges.",
                      substatus: 1002)
    }

    static func throttled(retryAfterMilliseconds: Int) -> CosmosFailure {
        CosmosFailure(status: 429, code: "TooManyRequests",
                      message: "Request rate is large. More Request Units may be needed, so no changes were made. "
                        + "Please retry this request later. Learn more: http://aka.ms/cosmosdb-error-429",
                      substatus: 3200, headers: [("x-ms-retry-after-ms", String(retryAfterMilliseconds))])
    }

    /// The answer in Cosmos DB's JSON error shape with `x-ms-substatus` and `x-ms-activity-id`.
    func response(activityID: String) -> HTTPServerResponse {
        let body = CosmosValue.object([("code", .string(code)), ("message", .string(message))])
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "x-ms-activity-id", value: activityID)
        headers.add(name: "x-ms-request-charge", value: "1")
        headers.add(name: "x-ms-substatus", value: String(substatus))
        for (name, value) in self.headers { headers.add(name: name, value: value) }
        return HTTPServerResponse(status: status, headers: headers, body: .bytes(body.jsonBytes))
    }
}
