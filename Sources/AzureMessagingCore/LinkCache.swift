import ToolboxCore

/// Links attached on demand and shared: concurrent requests for one key share one attach; a link that
/// failed is forgotten (`remove`) so the next request attaches a new one.
public final class LinkCache<Link: AnyObject & Sendable>: Sendable {
    private enum Entry {
        case attaching([@Sendable (Result<Link, AzureMessagingError>) -> Void])
        case ready(Link)
    }

    private let entries = LockedValue<[String: Entry]>([:])

    public init() {}

    /// The link for `key`, attaching it with `attach` when there is none.
    public func link(_ key: String,
                     attach: (@escaping @Sendable (Result<Link, AzureMessagingError>) -> Void) -> Void,
                     completion: @escaping @Sendable (Result<Link, AzureMessagingError>) -> Void) {
        let step: LinkStep<Link> = entries.withLockedValue { entries in
            switch entries[key] {
            case .ready(let link)?: return .ready(link)
            case .attaching(var waiters)?:
                waiters.append(completion)
                entries[key] = .attaching(waiters)
                return .wait
            case nil:
                entries[key] = .attaching([completion])
                return .attach
            }
        }
        switch step {
        case .ready(let link): completion(.success(link))
        case .wait: break
        case .attach:
            attach { [self] result in
                let waiters: [@Sendable (Result<Link, AzureMessagingError>) -> Void] = entries.withLockedValue { entries in
                    guard case .attaching(let waiters)? = entries[key] else { return [] }
                    if case .success(let link) = result { entries[key] = .ready(link) } else { entries[key] = nil }
                    return waiters
                }
                for waiter in waiters { waiter(result) }
            }
        }
    }

    /// Forgets `link` if it is still the one cached for `key`.
    public func remove(_ key: String, _ link: Link) {
        entries.withLockedValue { entries in
            if case .ready(let cached)? = entries[key], cached === link { entries[key] = nil }
        }
    }

    /// Every attached link (for closing).
    public var all: [Link] {
        entries.withLockedValue { $0.values.compactMap { if case .ready(let link) = $0 { return link } else { return nil } } }
    }
}

private enum LinkStep<Link> { case ready(Link), wait, attach }
