import Dispatch
import ToolboxCore

/// One page of a query or read feed: single-partition (the service's continuation passed through), or
/// cross-partition — sent to the gateway first, and on 400/1004 planned (`x-ms-cosmos-is-query-plan-request`)
/// and fanned out per partition key range, merged the way the SDKs do (ORDER BY k-way merge, TOP, OFFSET/LIMIT,
/// VALUE aggregates incl. AVG from sum and count).
///
/// Steps run one at a time on `queue` (a private serial queue), so the state needs no lock.
final class CosmosQueryExecution: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is touched only on `queue` (checked with dispatchPrecondition).
    typealias Page = CosmosQueryPage<[UInt8]>

    private let core: CosmosCore
    private let database: String
    private let container: String
    private let query: CosmosQuery?
    private let options: CosmosQueryOptions
    private let operation: CosmosOperation<Page>
    private let deadline: Deadline
    private let queue = DispatchQueue(label: "AzureCosmos.query")
    private let link: String

    private var charge = 0.0
    private var activityIDs: [String] = []
    private var requests = 0
    private var splitsHandled = 0

    // Fan-out state.
    private var plan = CosmosQueryPlan.unplanned
    private var ranges: [CosmosQueryContinuation.RangeState] = []
    private var skipped = 0
    private var emitted = 0
    /// ORDER BY: the unconsumed results of each range's current page, and the continuation of the page after it.
    private var buffers: [[CosmosJSON]] = []
    private var nextTokens: [String?] = []
    private var loaded: [Bool] = []
    /// ORDER BY: the ORDER BY value of the last result consumed (handed out or skipped by OFFSET), the key range
    /// it came from (the range before any split since), and the `_rid`s of the results equal to it consumed from
    /// that key range — what a resumed query must not return again.
    private var ties: (value: CosmosJSON?, min: String, max: String, rids: [String])?
    /// The most ties a continuation carries; past it the continuation keeps page positions instead.
    static let maxResumeTies = 1000

    init(core: CosmosCore, database: String, container: String, query: CosmosQuery?, options: CosmosQueryOptions,
         operation: CosmosOperation<Page>) {
        self.core = core
        self.database = database
        self.container = container
        self.query = query
        self.options = options
        self.operation = operation
        self.deadline = core.deadline(options.timeout)
        self.link = CosmosPaths.containerLink(database, container)
    }

    private var what: String { operation.what }
    private var pageSize: Int { options.maxItemCount.map { max(1, $0) } ?? 100 }

    func start() {
        core.withAccount(operation, deadline: deadline) { [self] in
            queue.async { [self] in begin() }
        }
    }

    private func fail(_ error: ToolboxError) { operation.finish(.failure(error)) }

    /// A continuation equal to the one just sent names the page just read again: a caller (or the fan-out)
    /// following it would read that page forever.
    private func repeatedContinuation(_ next: String?, sent: String?) -> ToolboxError? {
        guard let next, let sent, next == sent else { return nil }
        let shown = next.count > 40 ? String(next.prefix(40)) + "…" : next
        return ToolboxError(.invalidResponse, "\(what): the service returned the same continuation token it was sent "
            + "('\(shown)'); following it the query would never end")
    }

    private func deliver(_ items: [CosmosJSON], continuation: String?) {
        operation.finish(.success(Page(items: items.map(\.jsonBytes), continuation: continuation, requestCharge: charge,
                                       activityIDs: activityIDs, requests: requests)))
    }

    /// Sends one request and comes back on `queue` with the parsed documents.
    private func send(_ request: CosmosRequest,
                      then: @escaping @Sendable (Result<(documents: [CosmosJSON], continuation: String?, status: Int), ToolboxError>) -> Void) {
        requests += 1
        operation.setStep(core.pipeline.send(request, deadline: deadline) { [self] result in
            queue.async { [self] in
                dispatchPrecondition(condition: .onQueue(queue))
                switch result {
                case .failure(let error):
                    then(.failure(error))
                case .success(let response):
                    charge += response.requestCharge
                    if let id = response.activityID { activityIDs.append(id) }
                    if response.status == 200, request.headers.contains(where: { $0.0 == "x-ms-cosmos-is-query-plan-request" }) {
                        then(.success(([], String(decoding: response.body, as: UTF8.self), response.status)))
                        return
                    }
                    do throws(ToolboxError) {
                        let json = try CosmosJSON(parsing: response.body, what: "the query results")
                        guard let documents = json["Documents"]?.arrayValue else {
                            throw ToolboxError(.invalidResponse, "the query results have no \"Documents\" array")
                        }
                        let next = response.header("x-ms-continuation").flatMap { $0.isEmpty ? nil : $0 }
                        then(.success((documents, next, response.status)))
                    } catch {
                        then(.failure(error))
                    }
                }
            }
        })
    }

    private func request(rangeID: String?, token: String?, maxItemCount: Int?, queryText: String?) -> CosmosRequest {
        let segments = CosmosPaths.container(database, container) + ["docs"]
        var request: CosmosRequest
        if let query {
            request = CosmosRequest(method: "POST", segments: segments, isFeed: true, idempotent: true, operation: what)
            var body = query
            if let queryText { body.text = queryText }
            request.body = body.body.jsonBytes
            request.headers = [("x-ms-documentdb-isquery", "True"), ("Content-Type", "application/query+json"),
                               ("x-ms-documentdb-query-iscontinuationexpected", "True")]
        } else {
            request = CosmosRequest(method: "GET", segments: segments, isFeed: true, idempotent: true, operation: what)
        }
        if let key = options.partitionKey {
            request.headers.append(("x-ms-documentdb-partitionkey", key.headerValue))
        } else {
            request.headers.append(("x-ms-documentdb-query-enablecrosspartition", "True"))
        }
        if let rangeID {
            request.headers.append(("x-ms-documentdb-partitionkeyrangeid", rangeID))
            request.rangeID = rangeID
            request.surfaceGone = true
        }
        if let maxItemCount { request.headers.append(("x-ms-max-item-count", String(maxItemCount))) }
        if let token { request.headers.append(("x-ms-continuation", token)) }
        request.containerLink = link
        request.sessionToken = options.sessionToken
        return request
    }

    // MARK: Start

    private func begin() {
        dispatchPrecondition(condition: .onQueue(queue))
        if options.partitionKey != nil {
            return singlePartition()
        }
        if let token = options.continuation {
            do throws(ToolboxError) {
                let state = try CosmosQueryContinuation(decoding: token)
                if let direct = state.direct { return gatewayPage(token: direct) }
                plan = state.plan ?? .unplanned
                ranges = state.ranges
                if let target = ranges.first(where: { $0.dropRIDs != nil }), let rids = target.dropRIDs {
                    let value = target.dropValue.flatMap { try? CosmosJSON(parsing: Array($0.utf8)) }
                    let covered = ranges.filter { $0.dropRIDs != nil }
                    ties = (value, target.min, covered.map(\.max).max() ?? target.max, rids)
                }
                skipped = state.skipped
                emitted = state.emitted
                return fanOut()
            } catch {
                return fail(error)
            }
        }
        if query == nil {
            return planRanges()
        }
        gatewayPage(token: nil)
    }

    private func singlePartition() {
        send(request(rangeID: nil, token: options.continuation, maxItemCount: options.maxItemCount, queryText: nil)) {
            [self] result in
            switch result {
            case .failure(let error): fail(error)
            case .success(let page):
                if let error = repeatedContinuation(page.continuation, sent: options.continuation) { return fail(error) }
                deliver(page.documents, continuation: page.continuation)
            }
        }
    }

    /// Cross-partition, first try: the gateway runs simple queries itself; it answers 400/1004 when the client
    /// must plan and fan out.
    private func gatewayPage(token: String?) {
        send(request(rangeID: nil, token: token, maxItemCount: options.maxItemCount, queryText: nil)) { [self] result in
            switch result {
            case .failure(let error) where error.serviceCondition?.httpStatus == 400
                && error.serviceCondition?.subStatus == CosmosSubStatus.crossPartitionQueryNeedsPlan && token == nil:
                fetchPlan()
            case .failure(let error):
                fail(error)
            case .success(let page):
                if let error = repeatedContinuation(page.continuation, sent: token) { return fail(error) }
                let next = page.continuation.map {
                    CosmosQueryContinuation(direct: $0, plan: nil, ranges: [], skipped: 0, emitted: 0).encoded
                }
                deliver(page.documents, continuation: next)
            }
        }
    }

    private func fetchPlan() {
        guard let query else { return planRanges() }
        var request = CosmosRequest(method: "POST", segments: CosmosPaths.container(database, container) + ["docs"],
                                    isFeed: true, idempotent: true, operation: "\(what) (query plan)")
        request.body = query.body.jsonBytes
        request.headers = [
            ("x-ms-cosmos-is-query-plan-request", "True"), ("x-ms-documentdb-isquery", "True"),
            ("x-ms-documentdb-query-enablecrosspartition", "True"), ("x-ms-cosmos-query-version", "1.0"),
            ("x-ms-cosmos-supported-query-features", "Aggregate,CompositeAggregate,MultipleOrderBy,OffsetAndLimit,OrderBy,Top"),
            ("Content-Type", "application/query+json"),
        ]
        send(request) { [self] result in
            switch result {
            case .failure(let error): fail(error)
            case .success(let answer):
                do throws(ToolboxError) {
                    plan = try CosmosQueryPlan(parsing: Array((answer.continuation ?? "").utf8))
                    planRanges()
                } catch {
                    fail(error)
                }
            }
        }
    }

    /// The ranges the plan's query ranges overlap, in key order.
    private func planRanges() {
        routingMap { [self] map in
            var states: [CosmosQueryContinuation.RangeState] = []
            for range in map.ranges
            where plan.queryRanges.contains(where: { $0.count == 2 && range.overlaps(min: $0[0], max: $0[1]) }) {
                states.append(.init(min: range.minInclusive, max: range.maxExclusive, token: nil, skip: 0))
            }
            ranges = states
            fanOut()
        }
    }

    private func routingMap(_ next: @escaping @Sendable (CosmosRoutingMap) -> Void) {
        core.metadata.routingMap(database: database, container: container, deadline: deadline) { [self] result in
            queue.async { [self] in
                switch result {
                case .failure(let error): fail(error)
                case .success(let map): next(map)
                }
            }
        }
    }

    // MARK: Fan-out

    private func fanOut() {
        dispatchPrecondition(condition: .onQueue(queue))
        if plan.isAggregate { return aggregate(values: []) }
        if plan.isOrderBy {
            buffers = Array(repeating: [], count: ranges.count)
            nextTokens = Array(repeating: nil, count: ranges.count)
            loaded = Array(repeating: false, count: ranges.count)
            return orderByFill(output: [])
        }
        sequentialPage()
    }

    /// Reads one page of range `index` at its token; a split (410/1002, or a range that now maps to several)
    /// replaces the range by its children, which continue from the same token, and reads again.
    private func readRange(_ index: Int, maxItemCount: Int?,
                           then: @escaping @Sendable ([CosmosJSON], String?) -> Void) {
        routingMap { [self] map in
            let state = ranges[index]
            let current = map.overlapping(min: state.min, max: state.max)
            guard !current.isEmpty else {
                return fail(ToolboxError(.invalidResponse, "no partition key range covers [\(state.min), \(state.max))"))
            }
            if current.count > 1 {
                // The range split since this state was made: its children take over with the same token.
                let children = current.map {
                    CosmosQueryContinuation.RangeState(min: Swift.max($0.minInclusive, state.min),
                                                       max: Swift.min($0.maxExclusive, state.max),
                                                       token: state.token, skip: state.skip, filter: state.filter,
                                                       dropRIDs: state.dropRIDs, dropValue: state.dropValue,
                                                       resumeValue: state.resumeValue)
                }
                ranges.replaceSubrange(index...index, with: children)
                if plan.isOrderBy {
                    buffers.replaceSubrange(index...index, with: Array(repeating: [], count: children.count))
                    nextTokens.replaceSubrange(index...index, with: Array(repeating: nil, count: children.count))
                    loaded.replaceSubrange(index...index, with: Array(repeating: false, count: children.count))
                }
                return readRange(index, maxItemCount: maxItemCount, then: then)
            }
            let queryText = query.map { plan.rangeQuery(original: $0.text, filter: state.filter) }
            send(request(rangeID: current[0].id, token: state.token, maxItemCount: maxItemCount, queryText: queryText)) {
                [self] result in
                switch result {
                case .failure(let error) where error.serviceCondition?.httpStatus == 410 && splitsHandled < 8:
                    splitsHandled += 1
                    core.metadata.invalidateRanges(container: link)
                    readRange(index, maxItemCount: maxItemCount, then: then)
                case .failure(let error):
                    fail(error)
                case .success(let page):
                    if let error = repeatedContinuation(page.continuation, sent: state.token) { return fail(error) }
                    then(page.documents, page.continuation)
                }
            }
        }
    }

    /// No ORDER BY: ranges one after another, a page of the first unfinished one per call.
    private func sequentialPage() {
        guard !ranges.isEmpty else { return deliver([], continuation: nil) }
        if plan.remaining(emitted: emitted) == 0 { return deliver([], continuation: nil) }
        readRange(0, maxItemCount: options.maxItemCount) { [self] documents, next in
            if let next { ranges[0].token = next } else { ranges.removeFirst() }
            var items = documents
            if let offset = plan.offset, skipped < offset {
                let drop = Swift.min(offset - skipped, items.count)
                items.removeFirst(drop)
                skipped += drop
            }
            if let remaining = plan.remaining(emitted: emitted), items.count > remaining {
                items = Array(items.prefix(remaining))
            }
            emitted += items.count
            let finished = ranges.isEmpty || plan.remaining(emitted: emitted) == 0
            if items.isEmpty, !finished { return sequentialPage() }
            deliver(items, continuation: finished ? nil : continuation())
        }
    }

    private func continuation() -> String {
        CosmosQueryContinuation(direct: nil, plan: plan, ranges: plan.isOrderBy ? orderByResumeStates() : ranges,
                                skipped: skipped, emitted: emitted).encoded
    }

    // MARK: ORDER BY

    /// Loads every range's current page, then merges until the page is full or the ranges run out.
    private func orderByFill(output: [CosmosJSON]) {
        if let index = loaded.firstIndex(of: false) {
            return readRange(index, maxItemCount: options.maxItemCount) { [self] documents, next in
                if let error = resultsBeforeResumePoint(documents, range: index) { return fail(error) }
                let skip = Swift.min(ranges[index].skip, documents.count)
                buffers[index] = dropResumed(Array(documents.dropFirst(skip)), range: index, hasNext: next != nil)
                nextTokens[index] = next
                loaded[index] = true
                orderByFill(output: output)
            }
        }
        var output = output
        while output.count < pageSize {
            if plan.remaining(emitted: emitted) == 0 { break }
            // A range whose page ran out moves on to its next page (or is done) before anything is compared.
            if let empty = buffers.indices.first(where: { buffers[$0].isEmpty }) {
                if let next = nextTokens[empty] {
                    ranges[empty].token = next
                    ranges[empty].skip = 0
                    loaded[empty] = false
                    return orderByFill(output: output)
                }
                ranges.remove(at: empty)
                buffers.remove(at: empty)
                nextTokens.remove(at: empty)
                loaded.remove(at: empty)
                continue
            }
            guard !buffers.isEmpty else { break }
            var best = 0
            for index in buffers.indices.dropFirst() where orderByCompare(buffers[index][0], buffers[best][0]) < 0 {
                best = index
            }
            let item = buffers[best].removeFirst()
            ranges[best].skip += 1
            noteConsumed(item, from: ranges[best])
            if let offset = plan.offset, skipped < offset {
                skipped += 1
                continue
            }
            // No payload: `SELECT VALUE` of an undefined value, which yields no result (the row still counts
            // against TOP and LIMIT, as it does within one range).
            if let payload = item["payload"] { output.append(payload) }
            emitted += 1
        }
        // Ranges that are fully read need no place in the continuation (and no empty last page).
        for index in buffers.indices.reversed() where buffers[index].isEmpty && nextTokens[index] == nil {
            ranges.remove(at: index)
            buffers.remove(at: index)
            nextTokens.remove(at: index)
            loaded.remove(at: index)
        }
        let finished = buffers.isEmpty || plan.remaining(emitted: emitted) == 0
        deliver(output, continuation: finished ? nil : continuation())
    }

    /// Where each range resumes, the way the SDKs resume ORDER BY: every range reruns the query from the last
    /// result handed out with the resume filter in place of the placeholder — strictly after it in the ranges
    /// before the one it came from (their equal results came first), from it in that range and the ones after;
    /// that range skips the equal results through the last one's `_rid`. Positions in pages (service tokens and
    /// counts) do not survive a split, the filter does. Without a usable filter, positions it is.
    private func orderByResumeStates() -> [CosmosQueryContinuation.RangeState] {
        guard let ties, ties.rids.count <= Self.maxResumeTies,
            let after = plan.resumeFilter(after: ties.value, inclusive: false),
            let from = plan.resumeFilter(after: ties.value, inclusive: true)
        else { return ranges }
        return ranges.map { state in
            let isTarget = state.min >= ties.min && state.max <= ties.max
            return CosmosQueryContinuation.RangeState(
                min: state.min, max: state.max, token: nil, skip: 0, filter: state.max <= ties.min ? after : from,
                dropRIDs: isTarget ? ties.rids : nil, dropValue: isTarget ? ties.value?.jsonString : nil,
                resumeValue: ties.value?.jsonString)
        }
    }

    private static func orderByValue(_ result: CosmosJSON) -> CosmosJSON? {
        result["orderByItems"]?.arrayValue?.first?["item"]
    }

    private func noteConsumed(_ result: CosmosJSON, from range: CosmosQueryContinuation.RangeState) {
        let value = Self.orderByValue(result)
        let rid = result["_rid"]?.stringValue ?? ""
        if var current = ties, CosmosJSON.cosmosCompare(current.value, value) == 0,
            range.min >= current.min, range.max <= current.max
        {
            current.rids.append(rid)
            ties = current
        } else {
            ties = (value, range.min, range.max, [rid])
        }
    }

    /// A range resumed under the filter returns only results after the last one handed out (or from it, under an
    /// inclusive filter). One at or before it means the service ignored the filter and is returning what was handed
    /// out already; reading on, every page would hand the same results out again, forever. Refused, not skipped:
    /// a service that ignores the query's filter cannot be trusted with the rest of it either.
    private func resultsBeforeResumePoint(_ documents: [CosmosJSON], range index: Int) -> ToolboxError? {
        let state = ranges[index]
        guard let filter = state.filter, let text = state.resumeValue, let descending = plan.orderByDescending.first,
            let value = try? CosmosJSON(parsing: Array(text.utf8))
        else { return nil }
        let inclusive = filter != plan.resumeFilter(after: value, inclusive: false)
        for document in documents {
            // Numbers as the service compares them, as doubles: beyond 2^53 two integers it holds equal differ as
            // Int64, and an inclusive filter's equal result would have been refused as "before".
            let result = Self.orderByValue(document)
            let compared: Int
            if let a = result?.numberValue, let b = value.numberValue {
                compared = a == b ? 0 : (a < b ? -1 : 1)
            } else {
                compared = CosmosJSON.cosmosCompare(result, value)
            }
            let order = compared * (descending ? -1 : 1)
            if order < 0 || order == 0 && !inclusive {
                let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
                return ToolboxError(.invalidResponse, "\(what): partition key range [\(state.min), \(state.max)) "
                    + "returned a result \(order < 0 ? "before" : "at") the ORDER BY value the query resumed after "
                    + "(\(shown)): the service ignored the resume filter, and the query would return the same "
                    + "results again and again")
            }
        }
        return nil
    }

    /// A resumed range's results less those equal to the last one handed out that were handed out already.
    private func dropResumed(_ documents: [CosmosJSON], range index: Int, hasNext: Bool) -> [CosmosJSON] {
        guard let rids = ranges[index].dropRIDs.map(Set.init) else { return documents }
        let value = ranges[index].dropValue.flatMap { try? CosmosJSON(parsing: Array($0.utf8)) }
        let equal = documents.prefix { CosmosJSON.cosmosCompare(Self.orderByValue($0), value) == 0 }
        let kept = equal.filter { !rids.contains($0["_rid"]?.stringValue ?? "") }
        // Past the equal results nothing more is dropped (a page of only equal results: the next may hold more).
        if equal.count < documents.count || !hasNext { ranges[index].dropRIDs = nil }
        return kept + documents[equal.count...]
    }

    /// Compares two rewritten ORDER BY results (`{"orderByItems": [{"item": v}], "payload": ...}`).
    private func orderByCompare(_ lhs: CosmosJSON, _ rhs: CosmosJSON) -> Int {
        let left = lhs["orderByItems"]?.arrayValue ?? []
        let right = rhs["orderByItems"]?.arrayValue ?? []
        for (index, descending) in plan.orderByDescending.enumerated() {
            let a = index < left.count ? left[index]["item"] : nil
            let b = index < right.count ? right[index]["item"] : nil
            let order = CosmosJSON.cosmosCompare(a, b)
            if order != 0 { return descending ? -order : order }
        }
        return 0
    }

    // MARK: Aggregates

    /// Reads every page of every range, then folds the partial results into one value. A partial whose `item` is
    /// missing was undefined in its range (nil here): it makes the whole aggregate undefined (`CosmosAggregate`).
    private func aggregate(values: [CosmosJSON?]) {
        guard !ranges.isEmpty else {
            let result = CosmosAggregate.fold(plan.aggregates.first ?? "", values)
            return deliver(result.map { [$0] } ?? [], continuation: nil)
        }
        readRange(0, maxItemCount: nil) { [self] documents, next in
            if let next { ranges[0].token = next } else { ranges.removeFirst() }
            var values = values
            for document in documents {
                for element in document.arrayValue ?? [document] {
                    if case .object(let members) = element {
                        values.append(members["item"])
                    } else {
                        values.append(element)
                    }
                }
            }
            aggregate(values: values)
        }
    }
}

/// Folds per-range partial aggregates into the value the service gives for the same query within one range, as
/// the .NET and Java SDKs' aggregators do where the partial says enough: a SUM partial that is undefined (a range
/// summed a value of another type; an empty range sums to 0) or an AVG partial without a sum but with a count
/// makes the whole result undefined, where azure-cosmos (Python) drops that range and answers with the others'
/// (a SUM of `[1, "10"]` over two ranges would be 1). A plain MIN/MAX partial that is undefined cannot be told
/// from an empty range's, so it is skipped, as every SDK does; in the `{"min": v, "count": n}` form a count of 0
/// is an empty range and a missing `min` with values counted is undefined.
enum CosmosAggregate {
    static func fold(_ kind: String, _ values: [CosmosJSON?]) -> CosmosJSON? {
        switch kind.lowercased() {
        case "count", "sum":
            var integer: Int64 = 0
            var double = 0.0
            var isDouble = false
            var any = false
            for value in values {
                switch value {
                case .integer(let n)?:
                    let (sum, overflow) = integer.addingReportingOverflow(n)
                    if overflow { isDouble = true; double += Double(n) } else { integer = sum }
                    any = true
                case .double(let d)?:
                    isDouble = true
                    double += d
                    any = true
                default:
                    return nil
                }
            }
            if !any { return kind.lowercased() == "count" ? .integer(0) : nil }
            return isDouble ? .double(double + Double(integer)) : .integer(integer)
        case "min", "max":
            let wantMin = kind.lowercased() == "min"
            var best: CosmosJSON?
            for value in values {
                guard var candidate = value else { continue }
                if case .object(let members) = candidate, let count = members["count"] {
                    // {"min": v, "count": n}: the count of defined values; a range without any reports 0.
                    if count.numberValue == 0 { continue }
                    guard let extreme = members[wantMin ? "min" : "max"] else { return nil }
                    candidate = extreme
                }
                let order = CosmosJSON.cosmosCompare(candidate, best)
                if best == nil || order != 0 && (order < 0) == wantMin { best = candidate }
            }
            return best
        case "average":
            var sum = 0.0
            var count = 0.0
            for value in values {
                guard let partCount = value?["count"]?.numberValue else { return nil }
                if partCount == 0 { continue }
                guard let partSum = value?["sum"]?.numberValue else { return nil }
                sum += partSum
                count += partCount
            }
            return count > 0 ? .double(sum / count) : nil
        default:
            return nil
        }
    }
}
