import Foundation
import ToolboxTransport
import ToolboxTransportServer

/// Items, the read feed, partition key ranges and the emulator-only Cosmos routes.
extension CosmosService {
    func routeItems(_ request: EmulatorHTTPRequest, segments: [String], activityID: String) throws(CosmosFailure)
        -> HTTPServerResponse
    {
        let database = segments[1]
        let container = segments[3]
        guard segments[4] == "docs" else { throw methodNotAllowed(request.method, "partition key ranges") }
        let header = try CosmosPartitionKeyHeader(header: request.header("x-ms-documentdb-partitionkey"))
        let ifMatch = request.header("If-Match")
        if segments.count == 5 {
            switch request.method {
            case "GET":
                return try readFeed(request, database: database, container: container, header: header, activityID: activityID)
            case "POST":
                if request.header("x-ms-cosmos-is-query-plan-request")?.lowercased() == "true" {
                    return try queryPlan(request, database: database, container: container, activityID: activityID)
                }
                if isQuery(request) {
                    return try queryItems(request, database: database, container: container, header: header, activityID: activityID)
                }
                if request.header("x-ms-cosmos-is-batch-request") != nil {
                    throw .badRequest("The emulator does not support transactional batches (x-ms-cosmos-is-batch-request).")
                }
                let upsert = request.header("x-ms-documentdb-is-upsert")?.lowercased() == "true"
                let result = try store.createItem(database: database, container: container, body: try parseBody(request),
                                                  header: header, upsert: upsert)
                return itemResponse(result, request: request, database: database, container: container, activityID: activityID,
                                    charge: 5.71)
            default:
                throw methodNotAllowed(request.method, "the items of a container")
            }
        }
        let id = segments[5]
        let result: CosmosItemResult
        switch request.method {
        case "GET":
            result = try store.readItem(database: database, container: container, id: id, header: header)
            if let ifNoneMatch = request.header("If-None-Match"), ifNoneMatch == result.etag || ifNoneMatch == "*" {
                let headers = sessionHeaders(result, database: database, container: container) + [("etag", result.etag ?? "")]
                return respond(304, nil, activityID: activityID, headers: headers)
            }
            return itemResponse(result, request: request, database: database, container: container, activityID: activityID, charge: 1)
        case "PUT":
            result = try store.replaceItem(database: database, container: container, id: id, header: header,
                                           body: try parseBody(request), ifMatch: ifMatch)
        case "PATCH":
            let patch = try CosmosPatch(body: try parseBody(request))
            let filter = try patch.condition.map { text throws(CosmosFailure) in try CosmosSQL.parseCondition(text) }
            result = try store.patchItem(database: database, container: container, id: id, header: header, ifMatch: ifMatch) {
                document, _ throws(CosmosFailure) in
                if let filter, try !filter.matches(document) { throw .preconditionFailed }
                return try patch.apply(to: document)
            }
        case "DELETE":
            result = try store.deleteItem(database: database, container: container, id: id, header: header, ifMatch: ifMatch)
        default:
            throw methodNotAllowed(request.method, "an item")
        }
        return itemResponse(result, request: request, database: database, container: container, activityID: activityID,
                            charge: request.method == "DELETE" ? 5.14 : 10.29)
    }

    func sessionHeaders(_ result: CosmosItemResult, database: String, container: String) -> [(String, String)] {
        [
            ("x-ms-session-token", "\(result.rangeID):-1#\(result.lsn)"),
            ("x-ms-alt-content-path", "dbs/\(database)/colls/\(container)"),
            ("x-ms-content-path", "dbs/\(database)/colls/\(container)"),
            ("x-ms-documentdb-partitionkeyrangeid", result.rangeID),
            ("lsn", String(result.lsn)), ("x-ms-item-lsn", String(result.lsn)),
        ]
    }

    /// The stored document, unless the client asked for no content (`Prefer: return=minimal`).
    private func itemResponse(_ result: CosmosItemResult, request: EmulatorHTTPRequest, database: String, container: String,
                              activityID: String, charge: Double) -> HTTPServerResponse {
        var headers = sessionHeaders(result, database: database, container: container)
        if let etag = result.etag { headers.append(("etag", etag)) }
        let minimal = request.header("Prefer")?.lowercased().contains("return=minimal") == true
        let json = result.json ?? []
        return respond(result.status, json: minimal ? [] : json, activityID: activityID, headers: headers,
                       charge: charge + Double(json.count / 1024))
    }

    // MARK: Partition key ranges

    /// `GET …/pkranges/` with its ETag; `If-None-Match` with the current ETag answers 304, which is the only thing that
    /// ends the SDK's incremental-feed loop.
    func partitionKeyRanges(_ request: EmulatorHTTPRequest, database: String, container: String, activityID: String)
        throws(CosmosFailure) -> HTTPServerResponse
    {
        let (ranges, etag, rid) = try store.partitionKeyRangesJSON(database: database, container: container)
        if let ifNoneMatch = request.header("If-None-Match"), ifNoneMatch == etag {
            return respond(304, nil, activityID: activityID, headers: [("etag", etag)])
        }
        let body = CosmosValue.object([
            ("_rid", .string(rid)), ("PartitionKeyRanges", .array(ranges)),
            ("_count", .number(Double(ranges.count))),
        ])
        return respond(200, body, activityID: activityID, headers: [("etag", etag), ("x-ms-item-count", String(ranges.count))])
    }

    // MARK: Read feed

    /// `GET …/docs/`: items in creation order, optionally of one partition key or one range, paged with
    /// `x-ms-max-item-count` and a continuation naming the last item's creation sequence (valid across splits).
    func readFeed(_ request: EmulatorHTTPRequest, database: String, container: String, header: CosmosPartitionKeyHeader?,
                  activityID: String) throws(CosmosFailure) -> HTTPServerResponse {
        if request.header("A-IM") != nil {
            throw .badRequest("The emulator does not support the change feed (A-IM: Incremental Feed on items).")
        }
        let (items, snapshot) = try store.snapshot(database: database, container: container)
        let range = try targetRange(request, container: snapshot)
        let after = try CosmosQueryRunner.Position(token: request.header("x-ms-continuation"))?.sequence ?? 0
        let limit = try maxItemCount(request)
        var page: [CosmosStore.Item] = []
        var more = false
        for item in items where item.sequence > after {
            if let header, header.storeKey != CosmosPartitionKeyHeader(item.partitionKey).storeKey { continue }
            if let range, !(range.min <= item.epk && (item.epk < range.max || range.max == "FF")) { continue }
            if page.count == limit { more = true; break }
            page.append(item)
        }
        var headers: [(String, String)] = [("x-ms-item-count", String(page.count)),
                                           ("x-ms-session-token", "\(range?.id ?? "0"):-1#\(snapshot.lsn)"),
                                           ("x-ms-alt-content-path", "dbs/\(database)/colls/\(container)")]
        if more, let last = page.last {
            headers.append(("x-ms-continuation", CosmosQueryRunner.Position(sequence: last.sequence, orderKey: nil).token))
        }
        let body = CosmosValue.object([("_rid", .string(CosmosStore.rid(snapshot.rid))), ("Documents", .array(page.map(\.document))),
                                       ("_count", .number(Double(page.count)))])
        return respond(200, body, activityID: activityID, headers: headers, charge: 1 + Double(page.count) * 0.1)
    }

    /// The range named by `x-ms-documentdb-partitionkeyrangeid`; 410/1002 when it was split away.
    func targetRange(_ request: EmulatorHTTPRequest, container: CosmosStore.Container) throws(CosmosFailure)
        -> CosmosStore.PartitionKeyRange?
    {
        guard let id = request.header("x-ms-documentdb-partitionkeyrangeid") else { return nil }
        // The header may carry `<collection rid>,<range id>` as older SDKs send it.
        let rangeID = id.split(separator: ",").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? id
        guard let range = container.ranges.first(where: { $0.id == rangeID }) else {
            throw .partitionKeyRangeGone(rangeID)
        }
        return range
    }

    /// `x-ms-max-item-count` (absent or -1: the service's default of 100; at most 1000 per page).
    func maxItemCount(_ request: EmulatorHTTPRequest) throws(CosmosFailure) -> Int {
        guard let text = request.header("x-ms-max-item-count") else { return 100 }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw .badRequest("x-ms-max-item-count '\(text)' is not an integer.")
        }
        if value == -1 || value == 0 { return 100 }
        guard value > 0 else { throw .badRequest("x-ms-max-item-count \(value) is invalid; use a positive number or -1.") }
        return min(value, 1000)
    }

    // MARK: Emulator-only routes

    /// `POST /_emulator/cosmos/dbs/{db}/colls/{container}/split[?range=<id>]` splits one range (all without
    /// `range`) and answers the new ranges; `GET …/pkranges` lists them. No authorization (test plumbing).
    func control(_ request: EmulatorHTTPRequest, activityID: String) throws(CosmosFailure) -> HTTPServerResponse {
        let segments = Array(request.pathSegments.dropFirst(2))
        guard segments.count == 5, segments[0] == "dbs", segments[2] == "colls" else {
            throw .notFound("Unknown emulator route; use POST /_emulator/cosmos/dbs/{db}/colls/{container}/split[?range=<id>].")
        }
        switch (request.method, segments[4]) {
        case ("POST", "split"):
            let ranges = try store.splitPartitionKeyRange(database: segments[1], container: segments[3],
                                                          rangeID: request.queryValue("range"))
            context.logger.info("cosmos: split \(segments[1])/\(segments[3]) into ranges \(ranges.map(\.id).joined(separator: ","))")
            return respond(200, .object([("ranges", .array(ranges.map(Self.rangeSummary)))]), activityID: activityID)
        case ("GET", "pkranges"):
            let ranges = try store.partitionKeyRanges(database: segments[1], container: segments[3]).ranges
            return respond(200, .object([("ranges", .array(ranges.map(Self.rangeSummary)))]), activityID: activityID)
        default:
            throw methodNotAllowed(request.method, "/_emulator/cosmos/…/\(segments[4])")
        }
    }

    static func rangeSummary(_ range: CosmosStore.PartitionKeyRange) -> CosmosValue {
        .object([("id", .string(range.id)), ("minInclusive", .string(range.min)), ("maxExclusive", .string(range.max)),
                 ("parents", .array(range.parents.map { .string($0) }))])
    }
}
