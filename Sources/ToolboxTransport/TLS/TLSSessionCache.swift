import CToolboxOpenSSL
import ToolboxCore

/// Client-side TLS sessions kept per server, so reconnecting resumes instead of running a full handshake.
///
/// Resumption skips certificate-chain verification and the key exchange's signature, which is most of a TLS
/// connection's CPU cost. Entries are keyed by the verified name and address; a session only resumes with the
/// same `TLSContext`, so trust settings cannot leak across configurations.
final class TLSSessionCache: @unchecked Sendable {
    // @unchecked Sendable: the SSL_SESSION pointers are only reached through `state`'s lock; each stored one holds
    // one reference owned by the cache, and OpenSSL reference counts are atomic.
    private struct State {
        var sessions: [String: OpaquePointer] = [:]
        var order: [String] = []
    }

    private let state = LockedValue(State())
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    deinit {
        for session in state.load().sessions.values { SSL_SESSION_free(session) }
    }

    /// A session for `key` with a reference owned by the caller (release it with `SSL_SESSION_free`).
    func session(for key: String) -> OpaquePointer? {
        state.withLockedValue { state in
            guard let session = state.sessions[key] else { return nil }
            SSL_SESSION_up_ref(session)
            return session
        }
    }

    /// Stores `session` (the cache takes its own reference), replacing the previous one for `key`.
    func store(_ session: OpaquePointer, for key: String) {
        SSL_SESSION_up_ref(session)
        let evicted: [OpaquePointer] = state.withLockedValue { state in
            var evicted: [OpaquePointer] = []
            if let old = state.sessions.updateValue(session, forKey: key) {
                evicted.append(old)
            } else {
                state.order.append(key)
                if state.order.count > capacity,
                    let oldest = state.sessions.removeValue(forKey: state.order.removeFirst())
                {
                    evicted.append(oldest)
                }
            }
            return evicted
        }
        for old in evicted { SSL_SESSION_free(old) }
    }
}
