import Dispatch
import ToolboxCore

/// Merges concurrent publishes to one topic into shared requests (`EventGridClientOptions.Coalescing`).
///
/// Up to `maxRequestsInFlight` requests run per topic and schema; a publish made while they are all busy waits,
/// and when one finishes, everything that waited (up to the request's size and event caps) goes as the next
/// request, one JSON array of all their events. A lone publish never waits.
///
/// Each caller keeps its own result: a merged request the service accepts completes every publish in it
/// successfully; one it refuses as a whole for its content (400, 413) is re-sent publish by publish, so only the
/// publishes that are really wrong fail — safe, because the service takes a request all or nothing. Any other
/// failure (time-out, authorization, throttling after the retries, a broken connection) is the same for every
/// publish in the request.
final class EventGridCoalescer: Sendable {
    /// One caller's publish: its events as an encoded JSON array, and its own operation.
    struct Member: Sendable {
        let body: [UInt8]
        let count: Int
        let operation: PublishOperation
        let deadline: Deadline
        let what: String
    }

    private struct Lane: Sendable {
        var inFlight = 0
        var waiting: [Member] = []
    }

    private struct Key: Hashable, Sendable {
        let topic: String
        let contentType: String
    }

    private let settings: EventGridClientOptions.Coalescing
    private let lanes = LockedValue<[Key: Lane]>([:])

    init(settings: EventGridClientOptions.Coalescing) {
        self.settings = settings
    }

    private var maxInFlight: Int { min(max(1, settings.maxRequestsInFlight), 1_024) }
    private var maxEvents: Int { min(max(1, settings.maxEventsPerRequest), 100_000) }
    private var maxBytes: Int { max(2, settings.maxBytesPerRequest) }

    /// Sends `member` now if a request slot is free, else keeps it for the next request of its topic.
    /// `core` sends the requests; it is held only while they run.
    func submit(_ member: Member, topic: String, contentType: String, core: EventGridCore) {
        let key = Key(topic: topic, contentType: contentType)
        let sendNow: Bool = lanes.withLockedValue { lanes in
            var lane = lanes[key] ?? Lane()
            defer { lanes[key] = lane }
            guard lane.inFlight < maxInFlight else {
                lane.waiting.append(member)
                return false
            }
            lane.inFlight += 1
            return true
        }
        if sendNow { dispatch([member], key: key, core: core) }
    }

    /// Sends `members` as one request; when it ends, completes them and starts the next requests of the lane.
    private func dispatch(_ members: [Member], key: Key, core: EventGridCore) {
        // A publish cancelled (or finished otherwise) while it waited is not sent.
        let live = members.filter { !$0.operation.isFinished }
        guard !live.isEmpty else { return finished(key, core: core) }
        if live.count == 1, let only = live.first {
            return core.sendMerged(topic: key.topic, contentType: key.contentType, body: only.body, count: only.count,
                                   deadline: only.deadline, what: only.what) { [self] result in
                only.operation.finish(result)
                finished(key, core: core)
            }
        }
        var body: [UInt8] = []
        body.reserveCapacity(live.reduce(live.count * 2) { $0 + $1.body.count })
        body.append(UInt8(ascii: "["))
        for (index, member) in live.enumerated() {
            if index > 0 { body.append(contentsOf: ", ".utf8) }
            // Each member's body is a JSON array `[…]`: its elements are everything between the brackets.
            body.append(contentsOf: member.body.dropFirst().dropLast())
        }
        body.append(UInt8(ascii: "]"))
        let count = live.reduce(0) { $0 + $1.count }
        let deadline = live.map(\.deadline).min() ?? live[0].deadline
        let what = "publishing \(count) events of \(live.count) merged publishes to topic '\(key.topic)'"
        core.sendMerged(topic: key.topic, contentType: key.contentType, body: body, count: count, deadline: deadline,
                        what: what) { [self] result in
            switch result {
            case .success:
                for member in live { member.operation.finish(.success(())) }
            case .failure(let error) where Self.isContentRefusal(error):
                // Nothing of the request was taken: each publish goes again alone and gets its own answer.
                for member in live { core.sendAlone(member, topic: key.topic, contentType: key.contentType) }
            case .failure(let error):
                for member in live {
                    member.operation.finish(.failure(ToolboxError(
                        error.code, "\(member.what) (merged with \(live.count - 1) other publishes): \(error.message)",
                        serviceCondition: error.serviceCondition, underlying: error, recovery: error.recovery)))
                }
            }
            finished(key, core: core)
        }
    }

    /// The service refused the request for what it carried (a bad event, too large), not for who sent it.
    private static func isContentRefusal(_ error: ToolboxError) -> Bool {
        guard let status = error.serviceCondition?.httpStatus else { return false }
        return status == 400 || status == 413
    }

    /// One request of the lane ended: start requests for what waited, or free the slot.
    private func finished(_ key: Key, core: EventGridCore) {
        let next: [Member]? = lanes.withLockedValue { lanes in
            guard var lane = lanes[key] else { return nil }
            defer { lanes[key] = lane.inFlight == 0 && lane.waiting.isEmpty ? nil : lane }
            guard !lane.waiting.isEmpty else {
                lane.inFlight -= 1
                return nil
            }
            var batch: [Member] = []
            var consumed = 0
            var events = 0
            var bytes = 2
            for member in lane.waiting {
                // A publish cancelled while it waited is dropped here, so it takes no room in the request.
                if member.operation.isFinished {
                    consumed += 1
                    continue
                }
                // Its body's own brackets make up for the separator it needs in the merged array.
                let (more, overflow) = bytes.addingReportingOverflow(member.body.count)
                // The first always goes (alone if it is too large: the service then says so).
                if !batch.isEmpty, overflow || more > maxBytes || events + member.count > maxEvents { break }
                batch.append(member)
                consumed += 1
                events += member.count
                bytes = overflow ? Int.max : more
            }
            lane.waiting.removeFirst(consumed)
            return batch
        }
        if let next { dispatch(next, key: key, core: core) }
    }
}
