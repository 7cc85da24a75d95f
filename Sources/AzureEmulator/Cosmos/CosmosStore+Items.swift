import Foundation

/// The `x-ms-documentdb-partitionkey` header: a JSON array with one component (`["a"]`, `[5]`, `[null]`,
/// `[{}]` for undefined).
enum CosmosPartitionKeyHeader: Equatable {
    case value(CosmosValue)
    case undefined

    init?(header: String?) throws(CosmosFailure) {
        guard let header else { return nil }
        let parsed: CosmosValue
        do { parsed = try CosmosValue.parse(header) } catch {
            throw .badRequest("The partition key header \(header) is not a JSON array: \(error.message).")
        }
        guard case .array(let components) = parsed else {
            throw .badRequest("The partition key header \(header) is not a JSON array.")
        }
        guard components.count == 1 else {
            throw .badRequest("Partition key provided either doesn't correspond to definition in the collection or "
                + "doesn't match partition key field values specified in the document (the container has one path; "
                + "the header has \(components.count) components).", substatus: 1001)
        }
        switch components[0] {
        case .object(let members) where members.isEmpty: self = .undefined
        case .array, .object: throw .badRequest("A partition key value must be a string, number, boolean or null.")
        case let value: self = .value(value)
        }
    }

    init(_ value: CosmosValue?) { self = value.map { .value($0) } ?? .undefined }

    var value: CosmosValue? {
        if case .value(let value) = self { return value }
        return nil
    }

    /// The key items are filed under in the store: bytes, so that canonically equivalent strings stay distinct.
    var storeKey: [UInt8] { Array((value?.json ?? "undefined").utf8) }
}

/// What an item operation produced: the stored document and where it lives.
struct CosmosItemResult {
    var status: Int
    var document: CosmosValue?
    /// `document` as JSON text (the stored serialisation).
    var json: [UInt8]?
    var etag: String?
    var rangeID: String
    var lsn: Int
}

extension CosmosStore {
    static let systemProperties = ["_rid", "_self", "_etag", "_ts", "_attachments"]
    /// The deepest nesting a stored document may have (request bodies parse to at most 128 levels).
    static let maxNesting = 127

    /// Bytes, not a `String`: ids are distinct byte for byte, as in Cosmos DB ("caf\u{E9}" and "cafe\u{301}" are two).
    private static func itemKey(id: String, partitionKey: CosmosPartitionKeyHeader) -> [UInt8] {
        partitionKey.storeKey + [0] + Array(id.utf8)
    }

    /// Creates (or, with `upsert`, creates or replaces) an item. The partition key comes from the document at the
    /// container's path and must agree with `header` when one was sent.
    func createItem(database: String, container: String, body: CosmosValue, header: CosmosPartitionKeyHeader?,
                    upsert: Bool) throws(CosmosFailure) -> CosmosItemResult {
        guard case .object = body else { throw .badRequest("The document body must be a JSON object.") }
        guard let id = body["id"]?.stringValue else {
            throw .badRequest("The input content is invalid because the required properties - 'id; ' - are missing")
        }
        try Self.validateID(id)
        return try withContainer(database: database, container: container) { container, db, stored throws(CosmosFailure) in
            let key = try Self.partitionKey(of: body, in: container, header: header)
            let itemKey = Self.itemKey(id: id, partitionKey: key)
            if let existing = container.items[itemKey] {
                guard upsert else { throw .conflict() }
                return try store(body, id: id, key: key, sequence: existing.sequence, replacing: existing, status: 200,
                                 in: &container, database: db, stored: &stored)
            }
            let sequence = container.nextItem
            container.nextItem &+= 1
            return try store(body, id: id, key: key, sequence: sequence, replacing: nil, status: 201, in: &container, database: db, stored: &stored)
        }
    }

    func readItem(database: String, container: String, id: String, header: CosmosPartitionKeyHeader?)
        throws(CosmosFailure) -> CosmosItemResult
    {
        try withContainer(database: database, container: container) { container, _, _ throws(CosmosFailure) in
            let key = try Self.requireHeader(header)
            guard let item = container.items[Self.itemKey(id: id, partitionKey: key)] else { throw .notFound() }
            return CosmosItemResult(status: 200, document: item.document, json: item.json, etag: item.etag,
                                    rangeID: container.rangeID(forEPK: item.epk), lsn: container.lsn)
        }
    }

    /// Replaces an item (`ifMatch`: only if its ETag still matches, else 412).
    func replaceItem(database: String, container: String, id: String, header: CosmosPartitionKeyHeader?,
                     body: CosmosValue, ifMatch: String?) throws(CosmosFailure) -> CosmosItemResult {
        guard case .object = body else { throw .badRequest("The document body must be a JSON object.") }
        guard body["id"]?.stringValue?.isOrdinallyEqual(to: id) == true else {
            throw .badRequest("The id in the document body does not match the id in the request URL.")
        }
        return try withContainer(database: database, container: container) { container, db, stored throws(CosmosFailure) in
            let key = try Self.requireHeader(header)
            let bodyKey = try Self.partitionKey(of: body, in: container, header: key)
            guard let existing = container.items[Self.itemKey(id: id, partitionKey: bodyKey)] else { throw .notFound() }
            try Self.check(ifMatch: ifMatch, etag: existing.etag)
            return try store(body, id: id, key: bodyKey, sequence: existing.sequence, replacing: existing, status: 200,
                             in: &container, database: db, stored: &stored)
        }
    }

    /// Applies `transform` to the stored document (patch), with the same `ifMatch` rule as replace.
    func patchItem(database: String, container: String, id: String, header: CosmosPartitionKeyHeader?, ifMatch: String?,
                   transform: (CosmosValue, String) throws(CosmosFailure) -> CosmosValue) throws(CosmosFailure) -> CosmosItemResult {
        try withContainer(database: database, container: container) { container, db, stored throws(CosmosFailure) in
            let key = try Self.requireHeader(header)
            guard let existing = container.items[Self.itemKey(id: id, partitionKey: key)] else { throw .notFound() }
            try Self.check(ifMatch: ifMatch, etag: existing.etag)
            let patched = try transform(existing.document, container.partitionKeyPath)
            guard patched["id"]?.stringValue?.isOrdinallyEqual(to: id) == true, CosmosPartitionKeyHeader(container.partitionKey(of: patched)) == key else {
                throw .badRequest("A patch cannot change the id or the partition key of an item.")
            }
            return try store(patched, id: id, key: key, sequence: existing.sequence, replacing: existing, status: 200,
                             in: &container, database: db, stored: &stored)
        }
    }

    func deleteItem(database: String, container: String, id: String, header: CosmosPartitionKeyHeader?, ifMatch: String?)
        throws(CosmosFailure) -> CosmosItemResult
    {
        try withContainer(database: database, container: container) { container, _, stored throws(CosmosFailure) in
            let key = try Self.requireHeader(header)
            let itemKey = Self.itemKey(id: id, partitionKey: key)
            guard let existing = container.items[itemKey] else { throw .notFound() }
            try Self.check(ifMatch: ifMatch, etag: existing.etag)
            container.items[itemKey] = nil
            stored -= existing.bytes
            container.lsn += 1
            return CosmosItemResult(status: 204, document: nil, json: nil, etag: nil, rangeID: container.rangeID(forEPK: existing.epk),
                                    lsn: container.lsn)
        }
    }

    /// Every item (in creation order) with the container's ranges, for read feeds and queries.
    func snapshot(database: String, container: String) throws(CosmosFailure) -> (items: [Item], container: Container) {
        try withContainer(database: database, container: container) { container, _, _ in
            (container.items.values.sorted { $0.sequence < $1.sequence }, container)
        }
    }

    // MARK: Helpers

    private static func requireHeader(_ header: CosmosPartitionKeyHeader?) throws(CosmosFailure) -> CosmosPartitionKeyHeader {
        guard let header else {
            throw .badRequest("PartitionKey value must be supplied for this operation (x-ms-documentdb-partitionkey).")
        }
        return header
    }

    private static func check(ifMatch: String?, etag: String) throws(CosmosFailure) {
        if let ifMatch, ifMatch != "*", ifMatch != etag { throw .preconditionFailed }
    }

    private static func partitionKey(of body: CosmosValue, in container: Container, header: CosmosPartitionKeyHeader?)
        throws(CosmosFailure) -> CosmosPartitionKeyHeader
    {
        let fromBody = container.partitionKey(of: body)
        switch fromBody {
        case .array?, .object?:
            throw .badRequest("The partition key value at \(container.partitionKeyPath) must be a string, number, boolean or null.")
        default: break
        }
        let key = CosmosPartitionKeyHeader(fromBody)
        if let header, header != key {
            throw .badRequest("PartitionKey extracted from document doesn't match the one specified in the header. "
                + "Learn more: https://aka.ms/CosmosDB/sql/errors/wrong-pk-value", substatus: 1001)
        }
        return key
    }

    /// Adds system properties, checks the item and store limits, and files the document.
    private func store(_ body: CosmosValue, id: String, key: CosmosPartitionKeyHeader, sequence: UInt64, replacing: Item?,
                       status: Int, in container: inout Container, database: Database, stored: inout Int) throws(CosmosFailure) -> CosmosItemResult {
        var document = body
        for property in Self.systemProperties { document.removeMember(property) }
        // Patches can nest what parsing bounded; keep every stored document within the parser's depth.
        guard document.nestingDepth(limit: Self.maxNesting + 1) <= Self.maxNesting else {
            throw .badRequest("The document nests arrays and objects deeper than \(Self.maxNesting) levels.")
        }
        let rid = Self.rid(container.rid + Self.bigEndian(sequence))
        let etag = Self.newETag()
        document.setMember("_rid", .string(rid))
        document.setMember("_self", .string("dbs/\(Self.rid(database.rid))/colls/\(Self.rid(container.rid))/docs/\(rid)/"))
        document.setMember("_etag", .string(etag))
        document.setMember("_attachments", .string("attachments/"))
        document.setMember("_ts", .number(Double(Self.now())))
        // Serialised once: the text reads answer is also what the item limit measures (the UTF-8 length of the
        // stored JSON, system properties included, as the service counts it).
        let json = document.jsonBytes
        guard json.count <= maxItemBytes else {
            throw CosmosFailure(status: 413, code: "RequestEntityTooLarge",
                                message: "Request size is too large: the item is \(json.count) bytes, the limit is "
                                    + "\(maxItemBytes) (httpLimits.maxCosmosItemBytes).")
        }
        let held = Self.heldBytes(json: json)
        let grown = held - (replacing?.bytes ?? 0)
        if grown > 0 { try Self.reserve(grown, in: &stored, limit: maxStoreBytes) } else { stored += grown }
        let epk = CosmosEffectivePartitionKey.hash(key.value)
        container.items[Self.itemKey(id: id, partitionKey: key)] = Item(
            id: id, partitionKey: key.value, epk: epk, sequence: sequence, document: document, json: json, etag: etag,
            bytes: held)
        container.lsn += 1
        return CosmosItemResult(status: status, document: document, json: json, etag: etag,
                                rangeID: container.rangeID(forEPK: epk),
                                lsn: container.lsn)
    }

    /// What an item counts against `maxStoreBytes`: its JSON text and its parsed document (kept for queries and
    /// patches), the latter counted at its serialised size — a lower bound of the tree it really is.
    static func heldBytes(json: [UInt8]) -> Int {
        json.count &* 2
    }
}
