import ToolboxTransport
import ToolboxTransportServer

/// Queries, answered the way the gateway answers them: a query with a partition key (or a partition key range id)
/// runs here in full; a cross-partition query gets 400 with substatus 1004, after which the SDK asks for the query
/// plan and runs the plan's rewritten query once per range, merging ORDER BY, TOP, OFFSET/LIMIT and aggregates
/// itself (cosmos.md §7, strategy 2).
extension CosmosService {
    func queryItems(_ request: EmulatorHTTPRequest, database: String, container: String, header: CosmosPartitionKeyHeader?,
                    activityID: String) throws(CosmosFailure) -> HTTPServerResponse {
        let (query, parameters, _) = try CosmosQueryRunner.parse(body: try parseBody(request))
        let (items, snapshot) = try store.snapshot(database: database, container: container)
        let range = try targetRange(request, container: snapshot)
        if header == nil, range == nil {
            guard request.header("x-ms-documentdb-query-enablecrosspartition")?.lowercased() == "true" else {
                throw .badRequest("Cross partition query is required but disabled. Please set "
                    + "x-ms-documentdb-query-enablecrosspartition to true, specify x-ms-documentdb-partitionkey, or "
                    + "revise your query to avoid this exception.")
            }
            let detail = CosmosValue.object([("errors", .array([.object([
                ("severity", .string("Error")), ("location", .object([("start", .number(0)), ("end", .number(1))])),
                ("code", .string("SC1004")),
                ("message", .string("Cross partition query can not be directly served by the gateway. Request the query "
                    + "plan (x-ms-cosmos-is-query-plan-request) and run the query per partition key range.")),
            ])]))])
            throw .badRequest(detail.json, substatus: 1004)
        }
        let selected = items.filter { item in
            if let header, header.storeKey != CosmosPartitionKeyHeader(item.partitionKey).storeKey { return false }
            if let range, !(range.min <= item.epk && (item.epk < range.max || range.max == "FF")) { return false }
            return true
        }
        let runner = CosmosQueryRunner(query: query, parameters: parameters)
        let rows = try runner.rows(selected.map { ($0.document, $0.sequence) })
        let position = try CosmosQueryRunner.Position(token: request.header("x-ms-continuation"))
        let (page, continuation) = try runner.page(rows, after: position, limit: try maxItemCount(request),
                                                    maxResultBytes: maxQueryResultBytes)
        let rangeID = range?.id ?? header.map { snapshot.rangeID(forEPK: CosmosEffectivePartitionKey.hash($0.value)) } ?? "0"
        var headers: [(String, String)] = [
            ("x-ms-item-count", String(page.count)), ("x-ms-session-token", "\(rangeID):-1#\(snapshot.lsn)"),
            ("x-ms-alt-content-path", "dbs/\(database)/colls/\(container)"),
            ("x-ms-content-path", "dbs/\(database)/colls/\(container)"),
        ]
        if let continuation { headers.append(("x-ms-continuation", continuation)) }
        let documents = page.compactMap(\.value)
        let body = CosmosValue.object([("_rid", .string(CosmosStore.rid(snapshot.rid))), ("Documents", .array(documents)),
                                       ("_count", .number(Double(documents.count)))])
        return respond(200, body, activityID: activityID, headers: headers,
                       charge: 2.5 + Double(selected.count) * 0.05 + Double(documents.count) * 0.1)
    }

    func queryPlan(_ request: EmulatorHTTPRequest, database: String, container: String, activityID: String)
        throws(CosmosFailure) -> HTTPServerResponse
    {
        _ = try store.container(database: database, id: container)
        let (query, parameters, _) = try CosmosQueryRunner.parse(body: try parseBody(request))
        return respond(200, try CosmosQueryPlan.plan(for: query, parameters: parameters), activityID: activityID)
    }

    /// Queries over databases or containers (`SELECT * FROM root r WHERE r.id = @id`), one page.
    func queryResources(_ request: EmulatorHTTPRequest, resources: [CosmosValue], key: String, rid: String,
                        activityID: String) throws(CosmosFailure) -> HTTPServerResponse {
        let (query, parameters, _) = try CosmosQueryRunner.parse(body: try parseBody(request))
        let runner = CosmosQueryRunner(query: query, parameters: parameters)
        let rows = try runner.rows(resources.enumerated().map { ($0.element, UInt64($0.offset + 1)) })
        let position = try CosmosQueryRunner.Position(token: request.header("x-ms-continuation"))
        let (page, continuation) = try runner.page(rows, after: position, limit: try maxItemCount(request),
                                                    maxResultBytes: maxQueryResultBytes)
        let values = page.compactMap(\.value)
        var headers = [("x-ms-item-count", String(values.count))]
        if let continuation { headers.append(("x-ms-continuation", continuation)) }
        return respond(200, .object([("_rid", .string(rid)), (key, .array(values)), ("_count", .number(Double(values.count)))]),
                       activityID: activityID, headers: headers)
    }
}

extension CosmosService {
    /// The largest single query result: `CosmosQueryRunner.resultBytes`, or twice the item limit when that is more.
    var maxQueryResultBytes: Int {
        max(CosmosQueryRunner.resultBytes, store.maxItemBytes.saturatingAdd(store.maxItemBytes))
    }
}
