import Foundation
import ToolboxCore

/// The Cosmos DB account's state: databases, containers with their partition key ranges, and items, behind one
/// lock. Every method decides and mutates under the lock and returns values; nothing else runs while it is held.
final class CosmosStore: Sendable {
    struct Database {
        var id: String
        var rid: [UInt8]
        var etag: String
        var ts: Int
        var containers: [Container] = []
        var nextContainer: UInt32 = 1
    }

    struct PartitionKeyRange: Equatable {
        var id: String
        var min: String
        var max: String
        var parents: [String]
    }

    struct Item {
        var id: String
        var partitionKey: CosmosValue?
        var epk: String
        /// Creation order: a stable total order for read feeds and continuation tokens (survives splits).
        var sequence: UInt64
        var document: CosmosValue
        /// `document` as JSON text, system properties included: what a read answers, serialised once when the
        /// item is stored rather than once per read.
        var json: [UInt8]
        var etag: String
        var bytes: Int
    }

    struct Container {
        var id: String
        var rid: [UInt8]
        var etag: String
        var ts: Int
        var partitionKeyPath: String
        /// The definition as the client sent it (indexing policy, TTL, …) without system properties.
        var definition: CosmosValue
        var ranges: [PartitionKeyRange]
        var rangesVersion = 1
        var nextRangeID = 2
        var items: [[UInt8]: Item] = [:]  // by `itemKey`: partition key and id, byte for byte
        var nextItem: UInt64 = 1
        var lsn: Int = 1

        var rangesETag: String { "\"pkranges-\(rangesVersion)\"" }
        var pathComponents: [String] { partitionKeyPath.split(separator: "/").map(String.init) }

        func rangeID(forEPK epk: String) -> String {
            ranges.first { $0.min <= epk && (epk < $0.max || $0.max == "FF") }?.id ?? ranges[0].id
        }

        /// The partition key value of `document` (nil: undefined).
        func partitionKey(of document: CosmosValue) -> CosmosValue? {
            var current: CosmosValue? = document
            for component in pathComponents { current = current?[component] }
            return current
        }
    }

    struct State {
        var databases: [Database] = []
        var nextDatabase: UInt32 = 1
        var storedBytes = 0
    }

    let state = LockedValue(State())
    let maxItemBytes: Int
    let maxStoreBytes: Int

    init(maxItemBytes: Int, maxStoreBytes: Int) {
        self.maxItemBytes = maxItemBytes
        self.maxStoreBytes = maxStoreBytes
    }

    static func rid(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "-")
    }

    static func newETag() -> String { "\"\(RandomUUID.string())\"" }
    static func now() -> Int { Int(Date().timeIntervalSince1970) }

    /// Two ranges split where the real service splits a two-partition container.
    static let initialRanges = [
        PartitionKeyRange(id: "0", min: "", max: "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", parents: []),
        PartitionKeyRange(id: "1", min: "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", max: "FF", parents: []),
    ]

    /// `state.withLockedValue` keeping the error type (the lock's `rethrows` would widen it to `any Error`).
    func locked<T>(_ body: (inout State) throws(CosmosFailure) -> T) throws(CosmosFailure) -> T {
        let result: Result<T, CosmosFailure> = state.withLockedValue { state in
            do throws(CosmosFailure) { return .success(try body(&state)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    // MARK: Databases

    func createDatabase(id: String) throws(CosmosFailure) -> CosmosValue {
        try Self.validateID(id)
        return try locked { state throws(CosmosFailure) in
            guard !state.databases.contains(where: { $0.id.isOrdinallyEqual(to: id) }) else { throw .conflict("Resource with specified id or name already exists.") }
            let number = state.nextDatabase
            state.nextDatabase &+= 1
            let database = Database(id: id, rid: Self.bigEndian(number), etag: Self.newETag(), ts: Self.now())
            try Self.reserve(Self.resourceBytes, in: &state.storedBytes, limit: maxStoreBytes)
            state.databases.append(database)
            return Self.json(database)
        }
    }

    func database(id: String) throws(CosmosFailure) -> CosmosValue {
        try locked { state throws(CosmosFailure) in
            guard let database = state.databases.first(where: { $0.id.isOrdinallyEqual(to: id) }) else { throw .notFound() }
            return Self.json(database)
        }
    }

    func databases() -> [CosmosValue] { state.withLockedValue { $0.databases.map(Self.json) } }

    func deleteDatabase(id: String) throws(CosmosFailure) {
        try locked { state throws(CosmosFailure) in
            guard let index = state.databases.firstIndex(where: { $0.id.isOrdinallyEqual(to: id) }) else { throw .notFound() }
            let freed = state.databases[index].containers.reduce(Self.resourceBytes) {
                $0 + Self.bytes(of: $1)
            }
            state.storedBytes -= freed
            state.databases.remove(at: index)
        }
    }

    // MARK: Containers

    /// Creates a container from the client's definition (`{"id", "partitionKey": {"paths": ["/pk"], "kind":
    /// "Hash", "version": 2}, …}`); one hash path only.
    func createContainer(database: String, definition: CosmosValue) throws(CosmosFailure) -> CosmosValue {
        guard let id = definition["id"]?.stringValue else { throw .badRequest("The container definition needs a string 'id'.") }
        try Self.validateID(id)
        let path = try Self.partitionKeyPath(of: definition)
        var clean = definition
        for key in ["_rid", "_self", "_etag", "_ts", "_docs", "_sprocs", "_triggers", "_udfs", "_conflicts"] {
            clean.removeMember(key)
        }
        clean.setMember("partitionKey", .object([
            ("paths", .array([.string(path)])), ("kind", .string("Hash")), ("version", .number(2)),
        ]))
        if clean["indexingPolicy"] == nil {
            clean.setMember("indexingPolicy", .object([
                ("indexingMode", .string("consistent")), ("automatic", .bool(true)),
                ("includedPaths", .array([.object([("path", .string("/*"))])])),
                ("excludedPaths", .array([.object([("path", .string("/\"_etag\"/?"))])])),
            ]))
        }
        if clean["conflictResolutionPolicy"] == nil {
            clean.setMember("conflictResolutionPolicy", .object([
                ("mode", .string("LastWriterWins")), ("conflictResolutionPath", .string("/_ts")),
                ("conflictResolutionProcedure", .string("")),
            ]))
        }
        if clean["geospatialConfig"] == nil { clean.setMember("geospatialConfig", .object([("type", .string("Geography"))])) }
        return try locked { state throws(CosmosFailure) in
            guard let index = state.databases.firstIndex(where: { $0.id.isOrdinallyEqual(to: database) }) else { throw .notFound() }
            guard !state.databases[index].containers.contains(where: { $0.id.isOrdinallyEqual(to: id) }) else {
                throw .conflict("Resource with specified id or name already exists.")
            }
            let number = state.databases[index].nextContainer
            state.databases[index].nextContainer &+= 1
            let container = Container(id: id, rid: state.databases[index].rid + Self.bigEndian(number), etag: Self.newETag(),
                                      ts: Self.now(), partitionKeyPath: path, definition: clean, ranges: Self.initialRanges)
            try Self.reserve(Self.bytes(of: container), in: &state.storedBytes, limit: maxStoreBytes)
            state.databases[index].containers.append(container)
            return Self.json(container, database: state.databases[index])
        }
    }

    /// Replaces a container's definition (indexing policy, TTL, …); the partition key cannot change.
    func replaceContainer(database: String, id: String, definition: CosmosValue) throws(CosmosFailure) -> CosmosValue {
        let path = try Self.partitionKeyPath(of: definition)
        return try withContainer(database: database, container: id, missing: .notFound()) { container, db, _ throws(CosmosFailure) in
            guard path == container.partitionKeyPath else {
                throw .badRequest("The partition key of a container cannot be changed (it is \(container.partitionKeyPath)).")
            }
            var clean = definition
            clean.setMember("id", .string(id))
            clean.setMember("partitionKey", container.definition["partitionKey"] ?? .null)
            for key in ["_rid", "_self", "_etag", "_ts", "_docs", "_sprocs", "_triggers", "_udfs", "_conflicts"] {
                clean.removeMember(key)
            }
            container.definition = clean
            container.etag = Self.newETag()
            container.ts = Self.now()
            return Self.json(container, database: db)
        }
    }

    func container(database: String, id: String) throws(CosmosFailure) -> CosmosValue {
        try withContainer(database: database, container: id, missing: .notFound()) { container, db, _ throws(CosmosFailure) in
            Self.json(container, database: db)
        }
    }

    func containers(database: String) throws(CosmosFailure) -> [CosmosValue] {
        try locked { state throws(CosmosFailure) in
            guard let db = state.databases.first(where: { $0.id.isOrdinallyEqual(to: database) }) else { throw .notFound() }
            return db.containers.map { Self.json($0, database: db) }
        }
    }

    func deleteContainer(database: String, id: String) throws(CosmosFailure) {
        try locked { state throws(CosmosFailure) in
            guard let dbIndex = state.databases.firstIndex(where: { $0.id.isOrdinallyEqual(to: database) }),
                  let index = state.databases[dbIndex].containers.firstIndex(where: { $0.id.isOrdinallyEqual(to: id) })
            else { throw .notFound() }
            state.storedBytes -= Self.bytes(of: state.databases[dbIndex].containers[index])
            state.databases[dbIndex].containers.remove(at: index)
        }
    }

    /// Runs `body` on the container under the store's lock (mutations stick), with the store's byte count. A
    /// missing container (or database) is `missing`: by default 404/1003, the answer to an operation on what a
    /// container holds; reading the container itself passes a plain 404.
    func withContainer<T>(database: String, container: String, missing: CosmosFailure = .ownerNotFound(),
                          _ body: (inout Container, Database, inout Int) throws(CosmosFailure) -> T) throws(CosmosFailure) -> T {
        try locked { state throws(CosmosFailure) in
            guard let dbIndex = state.databases.firstIndex(where: { $0.id.isOrdinallyEqual(to: database) }),
                  let index = state.databases[dbIndex].containers.firstIndex(where: { $0.id.isOrdinallyEqual(to: container) })
            else { throw missing }
            // The database without its containers: a full copy would share the containers' storage with the
            // state while `body` mutates one of them, and copy every item of the container on each write.
            let found = state.databases[dbIndex]
            let db = Database(id: found.id, rid: found.rid, etag: found.etag, ts: found.ts, containers: [],
                              nextContainer: found.nextContainer)
            return try body(&state.databases[dbIndex].containers[index], db, &state.storedBytes)
        }
    }

    // MARK: Partition key ranges

    /// The container's ranges and their ETag (it changes with every split).
    func partitionKeyRanges(database: String, container: String) throws(CosmosFailure) -> (ranges: [PartitionKeyRange], etag: String, rid: String) {
        try withContainer(database: database, container: container) { container, _, _ in
            (container.ranges, container.rangesETag, Self.rid(container.rid))
        }
    }

    /// The ranges as the pkranges feed lists them, its ETag and the container's rid.
    func partitionKeyRangesJSON(database: String, container: String) throws(CosmosFailure) -> ([CosmosValue], String, String) {
        try withContainer(database: database, container: container) { container, db, _ in
            (container.ranges.map { Self.json($0, container: container, database: db) }, container.rangesETag, Self.rid(container.rid))
        }
    }

    /// The most partition key ranges a container may be split into.
    static let maxPartitionKeyRanges = 256

    /// Splits range `rangeID` (every range when nil) in two at the middle of its key space, as the service does
    /// when a partition grows: the old id disappears (requests naming it get 410/1002) and the children list it
    /// as their parent. Returns the new ranges.
    @discardableResult
    func splitPartitionKeyRange(database: String, container: String, rangeID: String?) throws(CosmosFailure) -> [PartitionKeyRange] {
        try withContainer(database: database, container: container) { container, _, _ throws(CosmosFailure) in
            let targets = rangeID.map { [$0] } ?? container.ranges.map(\.id)
            // Splitting every range doubles them: without a bound a few calls of this unauthenticated route would
            // keep the store's lock for minutes and take gigabytes.
            guard container.ranges.count + targets.count <= Self.maxPartitionKeyRanges else {
                throw .badRequest("Splitting would give container '\(container.id)' more than the emulator's "
                    + "\(Self.maxPartitionKeyRanges) partition key ranges.")
            }
            for target in targets {
                guard let index = container.ranges.firstIndex(where: { $0.id == target }) else {
                    throw .notFound("The partition key range \(target) does not exist.")
                }
                let old = container.ranges[index]
                let middle = CosmosEffectivePartitionKey.midpoint(min: old.min, max: old.max)
                guard middle > old.min, old.max == "FF" || middle < old.max else {
                    throw .badRequest("The partition key range \(target) is too small to split.")
                }
                let parents = old.parents + [old.id]
                let left = PartitionKeyRange(id: String(container.nextRangeID), min: old.min, max: middle, parents: parents)
                let right = PartitionKeyRange(id: String(container.nextRangeID + 1), min: middle, max: old.max, parents: parents)
                container.nextRangeID += 2
                container.ranges.replaceSubrange(index...index, with: [left, right])
            }
            container.rangesVersion += 1
            return container.ranges
        }
    }

    // MARK: Accounting

    /// What a database or container counts against `maxStoreBytes` besides its definition and items, so creating
    /// resources without end is bounded too.
    static let resourceBytes = 1024

    static func bytes(of container: Container) -> Int {
        container.items.values.reduce(resourceBytes + container.definition.json.utf8.count) { $0 + $1.bytes }
    }

    static func reserve(_ bytes: Int, in stored: inout Int, limit: Int) throws(CosmosFailure) {
        guard stored + bytes <= limit else {
            throw CosmosFailure(status: 403, code: "Forbidden",
                                message: "The emulator's Cosmos DB store is full (\(stored) of \(limit) bytes, "
                                    + "httpLimits.maxCosmosStoreBytes); delete items or raise the limit.", substatus: 1014)
        }
        stored += bytes
    }

    // MARK: JSON shapes

    static func json(_ database: Database) -> CosmosValue {
        let rid = rid(database.rid)
        return .object([
            ("id", .string(database.id)), ("_rid", .string(rid)), ("_self", .string("dbs/\(rid)/")),
            ("_etag", .string(database.etag)), ("_colls", .string("colls/")), ("_users", .string("users/")),
            ("_ts", .number(Double(database.ts))),
        ])
    }

    static func json(_ container: Container, database: Database) -> CosmosValue {
        var value = container.definition
        let rid = rid(container.rid)
        value.setMember("_rid", .string(rid))
        value.setMember("_ts", .number(Double(container.ts)))
        value.setMember("_self", .string("dbs/\(Self.rid(database.rid))/colls/\(rid)/"))
        value.setMember("_etag", .string(container.etag))
        for (key, link) in [("_docs", "docs/"), ("_sprocs", "sprocs/"), ("_triggers", "triggers/"), ("_udfs", "udfs/"),
                            ("_conflicts", "conflicts/")] {
            value.setMember(key, .string(link))
        }
        return value
    }

    static func json(_ range: PartitionKeyRange, container: Container, database: Database) -> CosmosValue {
        .object([
            ("_rid", .string(rid(container.rid))), ("id", .string(range.id)), ("_etag", .string("\"pkr-\(range.id)\"")),
            ("minInclusive", .string(range.min)), ("maxExclusive", .string(range.max)),
            ("ridPrefix", .number(Double(Int(range.id) ?? 0))),
            ("_self", .string("dbs/\(rid(database.rid))/colls/\(rid(container.rid))/pkranges/\(range.id)/")),
            ("throughputFraction", .number(1.0 / Double(max(1, container.ranges.count)))), ("status", .string("online")),
            ("parents", .array(range.parents.map { .string($0) })), ("_ts", .number(Double(container.ts))), ("_lsn", .number(1)),
        ])
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        bigEndian(UInt32(truncatingIfNeeded: value >> 32)) + bigEndian(UInt32(truncatingIfNeeded: value))
    }

    /// Cosmos ids: 1…255 characters, none of `/ \ ? #`.
    static func validateID(_ id: String) throws(CosmosFailure) {
        guard !id.isEmpty, id.count <= 255 else { throw .badRequest("The id must be 1 to 255 characters long.") }
        guard !id.contains(where: { "/\\?#".contains($0) }) else {
            throw .badRequest("The id '\(id)' contains an invalid character ('/', '\\\\', '?' or '#').")
        }
    }

    static func partitionKeyPath(of definition: CosmosValue) throws(CosmosFailure) -> String {
        guard let key = definition["partitionKey"], case .array(let paths)? = key["paths"] else {
            throw .badRequest("The container definition needs a partitionKey with one path, e.g. {\"paths\": [\"/pk\"], \"kind\": \"Hash\"}.")
        }
        guard paths.count == 1, let path = paths[0].stringValue else {
            throw .badRequest("The emulator supports partition keys with exactly one path (hierarchical partition keys are not supported).")
        }
        if let kind = key["kind"]?.stringValue, kind != "Hash" {
            throw .badRequest("The emulator supports only Hash partitioning, not '\(kind)'.")
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), components.count >= 2, components.dropFirst().allSatisfy({ !$0.isEmpty }) else {
            throw .badRequest("The partition key path '\(path)' is not a path like /pk or /address/city.")
        }
        return path
    }
}
