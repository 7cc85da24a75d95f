import Dispatch
import ToolboxCore
import ToolboxTransport

/// Merges concurrent publishes to one topic into shared requests (`EventGridClientOptions.Coalescing`).
///
/// Up to `maxRequestsInFlight` requests run per topic and schema; a publish made while they are all busy waits
/// (at most `maxWaitingPublishes` of them; past that a publish fails at once with `.poolExhausted`), and when one
/// finishes, everything that waited (up to the request's size and event caps) goes as the next request, one JSON
/// array of all their events. A lone publish never waits.
///
/// Each caller keeps its own result and its own time-out: a publish that waits or rides in a merged request
/// finishes `.timedOut` at its own deadline (a timer on `options.clock`), one whose deadline passed while it
/// waited is not sent, and a merged request runs until the latest deadline of its publishes, so no publish fails
/// for another's shorter time-out. A merged request the service accepts completes every publish in it still
/// waiting for it; one it refuses as a whole for its content (400, 413) is re-sent publish by publish — through the
/// lane's slots, ahead of new requests — so only the publishes that are really wrong fail; safe, because the
/// service takes a request all or nothing. Any other failure (authorization, throttling after the retries, a broken
/// connection) is the same for every publish in the request. A request is aborted once every publish it carries
/// has finished otherwise (cancelled, timed out).
final class EventGridCoalescer: Sendable {
    /// One caller's publish: its events as an encoded JSON array, and its own operation.
    struct Member: Sendable {
        let body: [UInt8]
        let count: Int
        let operation: PublishOperation
        let deadline: Deadline
        let what: String
        /// Set once the publish is in a request (for the time-out message: sent or not).
        let sent = LockedValue(false)
    }

    private struct Lane: Sendable {
        var inFlight = 0
        var waiting = FIFO<Member>()
        /// Publishes of a merged request refused for its content, each to be sent alone; served first.
        var resends = FIFO<Member>()

        var isIdle: Bool { inFlight == 0 && waiting.isEmpty && resends.isEmpty }
    }

    private struct Key: Hashable, Sendable {
        let topic: String
        let contentType: String
    }

    /// What a freed slot sends next.
    private enum Next {
        case merged([Member])
        case alone(Member)
    }

    /// A publish with less time left than this is not sent: no request completes that fast.
    static let minimumTimeLeft = 0.002

    private let settings: EventGridClientOptions.Coalescing
    private let clock: any ToolboxClock
    private let lanes = LockedValue<[Key: Lane]>([:])

    init(settings: EventGridClientOptions.Coalescing, clock: any ToolboxClock) {
        self.settings = settings
        self.clock = clock
    }

    private var maxInFlight: Int { min(max(1, settings.maxRequestsInFlight), 1_024) }
    private var maxEvents: Int { min(max(1, settings.maxEventsPerRequest), 100_000) }
    private var maxBytes: Int { max(2, settings.maxBytesPerRequest) }
    private var maxWaiting: Int { max(1, settings.maxWaitingPublishes) }

    private func hasTimeLeft(_ member: Member) -> Bool {
        member.deadline.instant.seconds(since: clock.now()) > Self.minimumTimeLeft
    }

    private enum Admission {
        case sendNow
        case wait
        case full(Int)
    }

    /// Sends `member` now if a request slot is free, else keeps it for the next request of its topic.
    /// `core` sends the requests; it is held only while they run.
    func submit(_ member: Member, topic: String, contentType: String, core: EventGridCore) {
        let key = Key(topic: topic, contentType: contentType)
        let admission: Admission = lanes.withLockedValue { lanes in
            var lane = lanes[key] ?? Lane()
            defer { lanes[key] = lane.isIdle ? nil : lane }
            guard lane.inFlight < maxInFlight else {
                if lane.waiting.count >= maxWaiting {
                    // Publishes that finished while they waited (cancelled, timed out) still hold places: drop them.
                    lane.waiting.removeAll { $0.operation.isFinished }
                    guard lane.waiting.count < maxWaiting else { return .full(lane.waiting.count) }
                }
                lane.waiting.append(member)
                return .wait
            }
            lane.inFlight += 1
            return .sendNow
        }
        switch admission {
        case .sendNow:
            sendAlone(member, key: key, core: core)
        case .wait:
            armTimeout(member)
        case .full(let waiting):
            member.operation.finish(.failure(ToolboxError(.poolExhausted, "\(member.what): \(waiting) publishes to "
                + "the topic already wait for a request slot (coalescing.maxWaitingPublishes); try again later")))
        }
    }

    /// Finishes `member` `.timedOut` at its own deadline, whether it is still waiting or in a merged request.
    private func armTimeout(_ member: Member) {
        let timer = clock.schedule(at: member.deadline.instant,
                                   on: LibraryQueues.makeWorkQueue(label: "AzureEventGrid.coalescer")) {
            let sent = member.sent.load()
            member.operation.finish(.failure(ToolboxError(.timedOut, sent
                ? "\(member.what) timed out while its merged request was in flight (the service may have taken it)"
                : "\(member.what) timed out waiting for a request slot of the topic; it was not sent")))
        }
        member.operation.track(timer)
    }

    /// Sends `member` alone under its own operation (cancelling it aborts the request); its end frees the slot.
    private func sendAlone(_ member: Member, key: Key, core: EventGridCore) {
        member.sent.withLockedValue { $0 = true }
        member.operation.onFinish { [self] in
            // Off the finishing thread: a publish finished at once (closed client) must not recurse into the next.
            LibraryQueues.makeWorkQueue(label: "AzureEventGrid.coalescer").async { self.finished(key, core: core) }
        }
        core.sendAlone(member, topic: key.topic, contentType: key.contentType)
    }

    /// Sends `members` as one request; when it ends, completes them and starts the next requests of the lane.
    private func dispatch(_ members: [Member], key: Key, core: EventGridCore) {
        // A publish cancelled (or finished otherwise) while it waited is not sent.
        let live = members.filter { !$0.operation.isFinished }
        guard live.count > 1 else {
            if let only = live.first { return sendAlone(only, key: key, core: core) }
            return finished(key, core: core)
        }
        var body: [UInt8] = []
        body.reserveCapacity(live.reduce(live.count * 2) { $0 + $1.body.count })
        body.append(UInt8(ascii: "["))
        for (index, member) in live.enumerated() {
            if index > 0 { body.append(contentsOf: ", ".utf8) }
            // Each member's body is a JSON array `[…]`: its elements are everything between the brackets.
            body.append(contentsOf: member.body.dropFirst().dropLast())
            member.sent.withLockedValue { $0 = true }
        }
        body.append(UInt8(ascii: "]"))
        let count = live.reduce(0) { $0 + $1.count }
        // The latest deadline: each publish times out at its own (`armTimeout`), none for another's.
        let deadline = live.map(\.deadline).max() ?? live[0].deadline
        let what = "publishing \(count) events of \(live.count) merged publishes to topic '\(key.topic)'"
        let request = core.sendMerged(topic: key.topic, contentType: key.contentType, body: body, count: count,
                                      deadline: deadline, what: what) { [self] result in
            switch result {
            case .success:
                for member in live { member.operation.finish(.success(())) }
            case .failure(let error) where Self.isContentRefusal(error):
                // Nothing of the request was taken: each publish goes again alone, through the lane's slots.
                lanes.withLockedValue { lanes in
                    guard var lane = lanes[key] else { return }
                    for member in live where !member.operation.isFinished { lane.resends.append(member) }
                    lanes[key] = lane
                }
            case .failure(let error):
                for member in live {
                    member.operation.finish(.failure(ToolboxError(
                        error.code, "\(member.what) (merged with \(live.count - 1) other publishes): \(error.message)",
                        serviceCondition: error.serviceCondition, underlying: error, recovery: error.recovery)))
                }
            }
            finished(key, core: core)
        }
        // Once no publish in it waits for its answer any more, the request is aborted.
        let unfinished = LockedValue(live.count)
        for member in live {
            member.operation.onFinish {
                let last: Bool = unfinished.withLockedValue { left in
                    left -= 1
                    return left == 0
                }
                if last { request.cancel() }
            }
        }
    }

    /// The service refused the request for what it carried (a bad event, too large), not for who sent it.
    private static func isContentRefusal(_ error: ToolboxError) -> Bool {
        guard let status = error.serviceCondition?.httpStatus else { return false }
        return status == 400 || status == 413
    }

    /// One request of the lane ended: start the next (a re-send first, else what waited), or free the slot.
    private func finished(_ key: Key, core: EventGridCore) {
        var expired: [Member] = []
        let next: Next? = lanes.withLockedValue { lanes in
            guard var lane = lanes[key] else { return nil }
            defer { lanes[key] = lane.isIdle ? nil : lane }
            while let member = lane.resends.popFirst() {
                if !member.operation.isFinished { return .alone(member) }
            }
            var batch: [Member] = []
            var events = 0
            var bytes = 2
            while let member = lane.waiting.first {
                // A publish cancelled while it waited is dropped here, so it takes no room in the request; one
                // whose time ran out is not sent (its timer may not have fired yet).
                if member.operation.isFinished {
                    _ = lane.waiting.popFirst()
                    continue
                }
                if !hasTimeLeft(member) {
                    _ = lane.waiting.popFirst()
                    expired.append(member)
                    continue
                }
                // Its body's own brackets make up for the separator it needs in the merged array.
                let (more, overflow) = bytes.addingReportingOverflow(member.body.count)
                // The first always goes (alone if it is too large: the service then says so).
                if !batch.isEmpty, overflow || more > maxBytes || events + member.count > maxEvents { break }
                _ = lane.waiting.popFirst()
                batch.append(member)
                events += member.count
                bytes = overflow ? Int.max : more
            }
            guard !batch.isEmpty else {
                lane.inFlight -= 1
                return nil
            }
            return .merged(batch)
        }
        for member in expired {
            member.operation.finish(.failure(ToolboxError(.timedOut, "\(member.what) timed out waiting for a request "
                + "slot of the topic; it was not sent")))
        }
        switch next {
        case .alone(let member): sendAlone(member, key: key, core: core)
        case .merged(let members): dispatch(members, key: key, core: core)
        case nil: break
        }
    }
}

/// A first-in first-out queue with O(1) amortized `append` and `popFirst` (a head index into an array that is
/// compacted once half of it is consumed).
private struct FIFO<Element: Sendable>: Sendable {
    private var items: [Element] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }
    var first: Element? { isEmpty ? nil : items[head] }

    mutating func append(_ element: Element) { items.append(element) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }

    /// O(n): drops the elements `shouldRemove` picks (for rare clean-ups, not the hot path).
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        items = items[head...].filter { !shouldRemove($0) }
        head = 0
    }
}
