import Dispatch
import ToolboxCore

/// One partition key range of a container: `[minInclusive, maxExclusive)` of the effective partition key space.
struct CosmosPartitionKeyRange: Sendable, Hashable {
    var id: String
    var minInclusive: String
    var maxExclusive: String
    var parents: [String]

    /// Whether the range overlaps `[min, max)`; an empty `max` is not used (the space ends at "FF").
    func overlaps(min: String, max: String) -> Bool {
        minInclusive < max && min < maxExclusive
    }
}

/// A container's ranges, sorted by `minInclusive`, with the ETag of the feed they came from.
struct CosmosRoutingMap: Sendable {
    var ranges: [CosmosPartitionKeyRange]
    var etag: String?

    func overlapping(min: String, max: String) -> [CosmosPartitionKeyRange] {
        ranges.filter { $0.overlaps(min: min, max: max) }
    }

    /// Applies an incremental pkranges feed: new ranges replace the parents they name.
    mutating func apply(_ changes: [CosmosPartitionKeyRange]) {
        let gone = Set(changes.flatMap(\.parents))
        var byID: [String: CosmosPartitionKeyRange] = [:]
        for range in ranges where !gone.contains(range.id) { byID[range.id] = range }
        // A feed read while a split finishes may list a range and, in the same answer, its children naming it as
        // a parent: the parent is gone too (as the Python SDK's `_discard_parent_ranges` and .NET's `TryCombine`
        // decide).
        for range in changes where !gone.contains(range.id) { byID[range.id] = range }
        ranges = byID.values.sorted { $0.minInclusive < $1.minInclusive }
    }

    /// The effective partition key space the ranges must cover, `["", "FF")`.
    static let keySpace = (min: "", max: "FF")

    /// Why the map cannot route (nil when it can): no range at all (none listed, or each named as a parent by
    /// itself or another), an empty range, two that overlap (a parent still listed beside its children, a range
    /// given twice under two ids), or a gap — keys no range covers, whose items a cross-partition query would
    /// silently leave out. A query splitting its work along overlapping ranges would find the same overlap after
    /// every split and never end.
    func problem(container: String) -> ToolboxError? {
        func shown(_ key: String) -> String { "'\(key.prefix(64))'" }
        guard let first = ranges.first, let last = ranges.last else {
            return ToolboxError(.invalidResponse, "container '\(container)' has no partition key ranges (the feed "
                + "listed none, or named every range it listed as a parent of a range in it)")
        }
        for range in ranges where !(range.minInclusive < range.maxExclusive) {
            return ToolboxError(.invalidResponse, "partition key range '\(range.id.prefix(40))' of container "
                + "'\(container)' is empty [\(shown(range.minInclusive)), \(shown(range.maxExclusive)))")
        }
        for (earlier, later) in zip(ranges, ranges.dropFirst()) where later.minInclusive < earlier.maxExclusive {
            return ToolboxError(.invalidResponse, "partition key ranges '\(earlier.id.prefix(40))' and "
                + "'\(later.id.prefix(40))' of container '\(container)' overlap")
        }
        var gaps: [(String, String)] = []
        if first.minInclusive != Self.keySpace.min { gaps.append((Self.keySpace.min, first.minInclusive)) }
        for (earlier, later) in zip(ranges, ranges.dropFirst()) where later.minInclusive != earlier.maxExclusive {
            gaps.append((earlier.maxExclusive, later.minInclusive))
        }
        if last.maxExclusive != Self.keySpace.max { gaps.append((last.maxExclusive, Self.keySpace.max)) }
        if let gap = gaps.first {
            return ToolboxError(.invalidResponse, "the partition key ranges of container '\(container)' leave keys "
                + "[\(shown(gap.0)), \(shown(gap.1))) uncovered\(gaps.count > 1 ? " (and \(gaps.count - 1) more gaps)" : ""); "
                + "a query would leave out the items there")
        }
        return nil
    }
}

/// Account, container and partition-key-range metadata, fetched once and refreshed only when the service says
/// it changed (410 with sub-status 1000/1002/1007/1008), with one request in flight per item however many
/// operations wait for it.
final class CosmosMetadataCache: Sendable {
    private let pipeline: CosmosPipeline
    private let account = SingleFlight<String, CosmosJSON>()
    private let containers = SingleFlight<String, CosmosResourceProperties>()
    private let routing = SingleFlight<String, CosmosRoutingMap>()
    /// Maps kept after invalidation so the refresh can ask for changes only (`If-None-Match`).
    private let staleMaps = LockedValue<[String: CosmosRoutingMap]>([:])
    /// How many times the pkranges feed was read (for tests: refreshes must not happen per request).
    let rangeReads = LockedValue(0)

    init(pipeline: CosmosPipeline) {
        self.pipeline = pipeline
        let hook: @Sendable (String, Int?) -> Void = { [weak self] link, subStatus in
            self?.markStale(container: link, subStatus: subStatus)
        }
        pipeline.staleMetadata.withLockedValue { $0 = hook }
    }

    func markStale(container link: String, subStatus: Int?) {
        switch subStatus {
        case CosmosSubStatus.nameCacheIsStale?:
            containers.invalidate(link)
            routing.invalidate(link)
        default:
            invalidateRanges(container: link)
        }
    }

    func invalidateRanges(container link: String) {
        if let map = routing.invalidate(link) {
            staleMaps.withLockedValue { $0[link] = map }
        }
    }

    /// The database account (`GET /`), read once per client.
    func databaseAccount(deadline: Deadline, completion: @escaping @Sendable (Result<CosmosJSON, ToolboxError>) -> Void) {
        let pipeline = self.pipeline
        account.get("", completion: completion) { done in
            let request = CosmosRequest(method: "GET", segments: [], isFeed: false, idempotent: true,
                                        operation: "reading the database account")
            pipeline.send(request, deadline: deadline) { result in
                done(result.flatMap { response in
                    Result { () throws(ToolboxError) in
                        let json = try CosmosJSON(parsing: response.body, what: "the database account")
                        let level = json["userConsistencyPolicy"]?["defaultConsistencyLevel"]?.stringValue
                        pipeline.sessionConsistency.withLockedValue { $0 = level?.lowercased() == "session" }
                        return json
                    }
                })
            }
        }
    }

    /// The container's properties (`_rid`, partition key paths), read once.
    func container(database: String, container: String, deadline: Deadline,
                   completion: @escaping @Sendable (Result<CosmosResourceProperties, ToolboxError>) -> Void) {
        let pipeline = self.pipeline
        let link = CosmosPaths.containerLink(database, container)
        containers.get(link, completion: completion) { done in
            let request = CosmosRequest(method: "GET", segments: CosmosPaths.container(database, container),
                                        isFeed: false, idempotent: true,
                                        operation: "reading container '\(container)' of database '\(database)'")
            pipeline.send(request, deadline: deadline) { result in
                done(result.flatMap { response in
                    Result { () throws(ToolboxError) in
                        try CosmosResourceProperties(
                            json: try CosmosJSON(parsing: response.body, what: "the container description"),
                            what: "container '\(container)'")
                    }
                })
            }
        }
    }

    /// The container's partition key ranges, read once and then only after `invalidateRanges`.
    func routingMap(database: String, container: String, deadline: Deadline,
                    completion: @escaping @Sendable (Result<CosmosRoutingMap, ToolboxError>) -> Void) {
        let link = CosmosPaths.containerLink(database, container)
        routing.get(link, completion: completion) { [self] done in
            let previous = staleMaps.withLockedValue { $0.removeValue(forKey: link) }
            readRanges(database: database, container: container, map: previous, rounds: 0, deadline: deadline,
                       completion: done)
        }
    }

    /// Reads the pkranges feed (`A-IM: Incremental Feed`), then asks again with `If-None-Match` until the
    /// service answers 304, as the SDKs do.
    private func readRanges(database: String, container: String, map: CosmosRoutingMap?, rounds: Int,
                            deadline: Deadline,
                            completion: @escaping @Sendable (Result<CosmosRoutingMap, ToolboxError>) -> Void) {
        var request = CosmosRequest(method: "GET", segments: CosmosPaths.container(database, container) + ["pkranges"],
                                    isFeed: true, idempotent: true,
                                    operation: "reading the partition key ranges of container '\(container)'")
        request.headers = [("A-IM", "Incremental Feed"), ("x-ms-max-item-count", "-1")]
        if let etag = map?.etag { request.headers.append(("If-None-Match", etag)) }
        request.acceptedStatuses = [304]
        rangeReads.withLockedValue { $0 += 1 }
        pipeline.send(request, deadline: deadline) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let response) where response.status == 304:
                if let map {
                    completion(map.problem(container: container).map { .failure($0) } ?? .success(map))
                } else {
                    completion(.failure(ToolboxError(.invalidResponse, "the service answered the first partition "
                        + "key range read of '\(container)' with 304 Not Modified")))
                }
            case .success(let response):
                let parsed: [CosmosPartitionKeyRange]
                do throws(ToolboxError) {
                    parsed = try Self.parseRanges(response.body)
                } catch {
                    completion(.failure(error))
                    return
                }
                var updated = map ?? CosmosRoutingMap(ranges: [], etag: nil)
                updated.apply(parsed)
                updated.etag = response.header("etag") ?? updated.etag
                // No ETag means the service does not do incremental reads: what came is all there is. The SDKs
                // loop until 304; a cap keeps a server that never says 304 from spinning us forever.
                if response.header("etag") == nil || rounds >= 16 {
                    if let problem = updated.problem(container: container) {
                        completion(.failure(problem))
                    } else {
                        completion(.success(updated))
                    }
                    return
                }
                readRanges(database: database, container: container, map: updated, rounds: rounds + 1,
                           deadline: deadline, completion: completion)
            }
        }
    }

    static func parseRanges(_ body: [UInt8]) throws(ToolboxError) -> [CosmosPartitionKeyRange] {
        let json = try CosmosJSON(parsing: body, what: "the partition key ranges")
        guard let list = json["PartitionKeyRanges"]?.arrayValue else {
            throw ToolboxError(.invalidResponse, "the partition key range feed has no \"PartitionKeyRanges\" array")
        }
        var ranges: [CosmosPartitionKeyRange] = []
        for entry in list {
            guard let id = entry["id"]?.stringValue, let min = entry["minInclusive"]?.stringValue,
                let max = entry["maxExclusive"]?.stringValue
            else {
                throw ToolboxError(.invalidResponse, "a partition key range lacks id, minInclusive or maxExclusive")
            }
            ranges.append(CosmosPartitionKeyRange(
                id: id, minInclusive: min, maxExclusive: max,
                parents: entry["parents"]?.arrayValue?.compactMap(\.stringValue) ?? []))
        }
        return ranges
    }
}

enum SingleFlightAction<Value> { case deliver(Value), wait, start }

/// One fetch per key at a time: later callers wait for the fetch in flight; the value is kept until invalidated.
/// A cached value is delivered on the caller's thread; after a fetch every waiter runs on a library work queue.
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private enum Entry {
        case loading([@Sendable (Result<Value, ToolboxError>) -> Void])
        case loaded(Value)
    }

    private let entries = LockedValue<[Key: Entry]>([:])

    /// The cached value, or the result of `fetch` (started by the first caller only).
    func get(_ key: Key, completion: @escaping @Sendable (Result<Value, ToolboxError>) -> Void,
             fetch: (@escaping @Sendable (Result<Value, ToolboxError>) -> Void) -> Void) {
        let action: SingleFlightAction<Value> = entries.withLockedValue { entries in
            switch entries[key] {
            case .loaded(let value)?: return .deliver(value)
            case .loading(var waiters)?:
                waiters.append(completion)
                entries[key] = .loading(waiters)
                return .wait
            case nil:
                entries[key] = .loading([completion])
                return .start
            }
        }
        switch action {
        case .deliver(let value): completion(.success(value))
        case .wait: break
        case .start:
            fetch { [self] result in
                let waiters: [@Sendable (Result<Value, ToolboxError>) -> Void] = entries.withLockedValue { entries in
                    guard case .loading(let waiters)? = entries[key] else { return [] }
                    switch result {
                    case .success(let value): entries[key] = .loaded(value)
                    case .failure: entries[key] = nil
                    }
                    return waiters
                }
                // The fetch finishes on a connection's queue: each waiter goes on with its operation (signing, a
                // `TokenCredential`, parsing the item it is about to write) on a work queue of its own, so none of
                // that holds the connection's I/O. A cached value (`.deliver`) costs no hop.
                for waiter in waiters {
                    LibraryQueues.makeWorkQueue(label: "AzureCosmos.metadata").async { waiter(result) }
                }
            }
        }
    }

    /// Drops the cached value (a fetch in flight finishes for its waiters); returns what was cached.
    @discardableResult
    func invalidate(_ key: Key) -> Value? {
        entries.withLockedValue { entries in
            guard case .loaded(let value)? = entries[key] else { return nil }
            entries[key] = nil
            return value
        }
    }

    /// The cached value, if any.
    func cached(_ key: Key) -> Value? {
        if case .loaded(let value)? = entries.load()[key] { return value }
        return nil
    }
}
