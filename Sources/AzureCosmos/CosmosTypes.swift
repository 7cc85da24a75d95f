import ToolboxCore

/// What an operation returned: the value, with the request charge and activity id every Cosmos DB response
/// reports.
public struct CosmosResponse<Value: Sendable>: Sendable {
    /// The document (raw JSON bytes or decoded), or `Void` for a delete.
    public var value: Value
    /// HTTP status of the final answer (201 created, 200 replaced, 204 deleted ...).
    public var status: Int
    /// Request units charged, summed over retries.
    public var requestCharge: Double
    /// The service's id of the request (`x-ms-activity-id`), for support and logs.
    public var activityID: String?
    /// The item's ETag after the operation (`etag` header), for `ifMatch` on the next write.
    public var etag: String?
    /// The session token the service returned (`x-ms-session-token`).
    public var sessionToken: String?

    public init(value: Value, status: Int, requestCharge: Double, activityID: String?, etag: String?,
                sessionToken: String?) {
        self.value = value
        self.status = status
        self.requestCharge = requestCharge
        self.activityID = activityID
        self.etag = etag
        self.sessionToken = sessionToken
    }

    /// The same response with its value transformed.
    public func map<T: Sendable>(_ transform: (Value) throws(ToolboxError) -> T) throws(ToolboxError)
        -> CosmosResponse<T>
    {
        CosmosResponse<T>(value: try transform(value), status: status, requestCharge: requestCharge,
                          activityID: activityID, etag: etag, sessionToken: sessionToken)
    }
}

/// Per-call options of item operations.
public struct CosmosItemOptions: Sendable {
    /// Only if the item's ETag is this (`If-Match`); otherwise the call fails with `.preconditionFailed`.
    public var ifMatch: String?
    /// `If-None-Match`: on a read, only if the item's ETag is no longer this (an unchanged item fails with
    /// `.notModified`).
    public var ifNoneMatch: String?
    /// A session token to read your own writes made through another client.
    public var sessionToken: String?
    /// How long the whole operation (retries included) may take. Default: `CosmosClientOptions.timeout`.
    public var timeout: Duration?

    public init(ifMatch: String? = nil, ifNoneMatch: String? = nil, sessionToken: String? = nil,
                timeout: Duration? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.sessionToken = sessionToken
        self.timeout = timeout
    }
}

/// A SQL query with its parameters.
///
/// ```swift
/// let query = CosmosQuery("SELECT * FROM c WHERE c.n > @min", parameters: ["@min": 3])
/// ```
public struct CosmosQuery: Sendable, Hashable {
    public var text: String
    public var parameters: [(name: String, value: CosmosJSON)]

    public init(_ text: String, parameters: [(name: String, value: CosmosJSON)] = []) {
        self.text = text
        self.parameters = parameters
    }

    public init(_ text: String, parameters: KeyValuePairs<String, CosmosJSON>) {
        self.init(text, parameters: parameters.map { ($0.key, $0.value) })
    }

    /// `{"query": "...", "parameters": [{"name": "@min", "value": 3}]}`.
    var body: CosmosJSON {
        .object(["query": .string(text),
                 "parameters": .array(parameters.map { .object(["name": .string($0.name), "value": $0.value]) })])
    }

    public static func == (lhs: CosmosQuery, rhs: CosmosQuery) -> Bool { lhs.body == rhs.body }
    public func hash(into hasher: inout Hasher) { hasher.combine(body) }
}

/// Options of a query or read-feed call.
public struct CosmosQueryOptions: Sendable {
    /// Confines the query to one partition; nil runs it across partitions.
    public var partitionKey: CosmosPartitionKey?
    /// Most results per page (`x-ms-max-item-count`); nil lets the service choose.
    public var maxItemCount: Int?
    /// Where to resume: the `continuation` of the previous page.
    public var continuation: String?
    /// A session token to read your own writes made through another client.
    public var sessionToken: String?
    /// `queryPage`: how long fetching that page (all its requests and retries) may take; `queryItems`: how long
    /// the whole query, every page, may take. Default: `CosmosClientOptions.timeout` per page.
    public var timeout: Duration?

    public init(partitionKey: CosmosPartitionKey? = nil, maxItemCount: Int? = nil, continuation: String? = nil,
                sessionToken: String? = nil, timeout: Duration? = nil) {
        self.partitionKey = partitionKey
        self.maxItemCount = maxItemCount
        self.continuation = continuation
        self.sessionToken = sessionToken
        self.timeout = timeout
    }
}

/// One page of query results.
public struct CosmosQueryPage<Item: Sendable>: Sendable {
    /// The results of this page, in order.
    public var items: [Item]
    /// Pass as `CosmosQueryOptions.continuation` to get the next page; nil after the last one.
    public var continuation: String?
    /// Request units charged for this page (all partitions and retries).
    public var requestCharge: Double
    /// Activity ids of the requests behind this page.
    public var activityIDs: [String]
    /// How many requests to the service this page took.
    public var requests: Int

    public init(items: [Item], continuation: String?, requestCharge: Double, activityIDs: [String], requests: Int) {
        self.items = items
        self.continuation = continuation
        self.requestCharge = requestCharge
        self.activityIDs = activityIDs
        self.requests = requests
    }

    public func map<T: Sendable>(_ transform: (Item) throws(ToolboxError) -> T) throws(ToolboxError)
        -> CosmosQueryPage<T>
    {
        var mapped: [T] = []
        mapped.reserveCapacity(items.count)
        for item in items { mapped.append(try transform(item)) }
        return CosmosQueryPage<T>(items: mapped, continuation: continuation, requestCharge: requestCharge,
                                  activityIDs: activityIDs, requests: requests)
    }
}

/// All results of a query (every page), with totals.
public struct CosmosQueryResult<Item: Sendable>: Sendable {
    public var items: [Item]
    public var pages: Int
    public var requestCharge: Double

    public init(items: [Item], pages: Int, requestCharge: Double) {
        self.items = items
        self.pages = pages
        self.requestCharge = requestCharge
    }
}

/// How a container partitions its items: `CosmosPartitionKeyDefinition(paths: ["/tenant"])`.
public struct CosmosPartitionKeyDefinition: Sendable, Hashable {
    public var paths: [String]
    /// `Hash` for one path, `MultiHash` for hierarchical keys.
    public var kind: String
    public var version: Int

    public init(paths: [String], kind: String? = nil, version: Int = 2) {
        self.paths = paths
        self.kind = kind ?? (paths.count > 1 ? "MultiHash" : "Hash")
        self.version = version
    }

    public init(path: String) { self.init(paths: [path]) }

    var json: CosmosJSON {
        .object(["paths": .array(paths.map { .string($0) }), "kind": .string(kind), "version": .integer(Int64(version))])
    }
}

/// A database or container as the service describes it.
public struct CosmosResourceProperties: Sendable {
    public var id: String
    /// The service's resource id (`_rid`).
    public var rid: String?
    public var etag: String?
    /// The container's partition key (containers only).
    public var partitionKey: CosmosPartitionKeyDefinition?
    /// The whole JSON description.
    public var json: CosmosJSON

    init(json: CosmosJSON, what: String) throws(ToolboxError) {
        guard let id = json["id"]?.stringValue else {
            throw ToolboxError(.invalidResponse, "the service described \(what) without an \"id\"")
        }
        self.id = id
        self.rid = json["_rid"]?.stringValue
        self.etag = json["_etag"]?.stringValue
        self.json = json
        if let key = json["partitionKey"] {
            let paths = key["paths"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let version = key["version"]?.numberValue.flatMap { Int(exactly: $0) } ?? 1
            partitionKey = CosmosPartitionKeyDefinition(paths: paths, kind: key["kind"]?.stringValue, version: version)
        }
    }
}
