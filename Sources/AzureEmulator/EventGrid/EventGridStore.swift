import Foundation
import ToolboxCore

/// One event an emulated Event Grid topic accepted, as tests read it back.
public struct EmulatorEventGridEvent: Sendable {
    /// Position in the topic's stream, from 1; never reused (also after `clearEventGridEvents`).
    public let sequence: Int
    public let topic: String
    public let schema: EventGridSchema
    /// The event's JSON exactly as the client sent it (one object).
    public internal(set) var json: [UInt8]
    public let receivedAt: Date

    /// The event decoded (`[String: Any]`), or nil if it cannot be (it was valid JSON when accepted).
    public func object() -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]
    }
}

/// The events each topic kept, bounded per topic in number and bytes (`EmulatorHTTPLimits.maxEventGridEventsPerTopic`,
/// `maxEventGridBytesPerTopic`; the oldest go first and are counted in `dropped`).
final class EventGridStore: Sendable {
    private struct Topic {
        var events: [EmulatorEventGridEvent] = []
        /// Index of the oldest kept event in `events` (a ring without moving elements on every drop).
        var head = 0
        var nextSequence = 1
        var dropped = 0
        /// JSON bytes of the kept events.
        var keptBytes = 0

        var kept: ArraySlice<EmulatorEventGridEvent> { events[head...] }
    }

    private let limit: Int
    private let byteLimit: Int
    private let topics: LockedValue<[String: Topic]>

    init(topics names: [String], limit: Int, byteLimit: Int = .max) {
        self.limit = max(1, limit)
        self.byteLimit = max(1, byteLimit)
        var topics: [String: Topic] = [:]
        for name in names { topics[name.lowercased()] = Topic() }
        self.topics = LockedValue(topics)
    }

    /// Whether `topic` is served (names compare case-insensitively, as Azure's do).
    func contains(_ topic: String) -> Bool {
        topics.withLockedValue { $0[topic.lowercased()] != nil }
    }

    /// Keeps `events` of `schema`; false when the topic does not exist.
    func append(topic: String, schema: EventGridSchema, events: [[UInt8]], now: Date = Date()) -> Bool {
        topics.withLockedValue { topics in
            guard var state = topics[topic.lowercased()] else { return false }
            topics[topic.lowercased()] = nil  // Mutate a unique copy, not a shared buffer.
            for json in events {
                state.events.append(EmulatorEventGridEvent(sequence: state.nextSequence, topic: topic, schema: schema,
                                                            json: json, receivedAt: now))
                state.nextSequence += 1
                state.keptBytes += json.count
                while state.events.count - state.head > limit
                    || (state.keptBytes > byteLimit && state.events.count - state.head > 1)
                {
                    state.keptBytes -= state.events[state.head].json.count
                    state.events[state.head].json = []  // its bytes go now, not at the next compaction
                    state.head += 1
                    state.dropped += 1
                }
            }
            // Compact once the dropped prefix outgrows what is kept.
            if state.head > max(64, state.events.count - state.head) {
                state.events.removeFirst(state.head)
                state.head = 0
            }
            topics[topic.lowercased()] = state
            return true
        }
    }

    /// The kept events of `topic` with a sequence above `after`, and how many were dropped so far; nil for an
    /// unknown topic.
    func events(topic: String, after: Int = 0) -> (events: [EmulatorEventGridEvent], dropped: Int)? {
        topics.withLockedValue { topics in
            guard let state = topics[topic.lowercased()] else { return nil }
            return (state.kept.filter { $0.sequence > after }, state.dropped)
        }
    }

    /// Forgets the kept events of `topic` (sequences keep counting); false for an unknown topic.
    func clear(topic: String) -> Bool {
        topics.withLockedValue { topics in
            guard var state = topics[topic.lowercased()] else { return false }
            state.events = []
            state.head = 0
            state.keptBytes = 0
            topics[topic.lowercased()] = state
            return true
        }
    }
}
