/// What a link address names, once the `amqps://host:port/` prefix (kept by the SDKs even without TLS) is gone.
enum EntityAddress: Equatable {
    case cbs
    /// Event Hubs namespace-level `$management`.
    case namespaceManagement
    /// `<entity>/$management` (Service Bus).
    case entityManagement(String)
    /// `<hub>/Partitions/<id>`: a producer pinned to one partition.
    case partition(hub: String, partition: String)
    /// `<hub>/ConsumerGroups/<group>/Partitions/<id>`: a consumer.
    case consumer(hub: String, group: String, partition: String)
    /// `<queue>/$DeadLetterQueue`.
    case deadLetter(String)
    /// A bare entity name (hub or queue).
    case entity(String)

    /// The path without scheme, host and surrounding slashes: `amqps://h:1/eh1/Partitions/2` → `eh1/Partitions/2`.
    static func path(_ address: String) -> String {
        var text = Substring(address)
        // A plain scan of the UTF-8 bytes: Foundation's `range(of:)` (bridged through NSString on Linux) was ~3 %
        // of the emulator's CPU per Service Bus management request, and the standard library's generic
        // `firstRange(of:)` that replaced it ~10 % (every reply looks its link up by this path).
        if let afterScheme = Self.indexAfterScheme(text) {
            text = text[afterScheme...]
            if let slash = text.firstIndex(of: "/") { text = text[slash...] } else { text = "" }
        }
        while text.hasPrefix("/") { text = text.dropFirst() }
        while text.hasSuffix("/") { text = text.dropLast() }
        return String(text)
    }

    /// Where the text after the first `://` starts, or nil without one.
    private static func indexAfterScheme(_ text: Substring) -> Substring.Index? {
        let bytes = text.utf8
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: ":") {
                let first = bytes.index(after: index)
                if first != bytes.endIndex, bytes[first] == UInt8(ascii: "/") {
                    let second = bytes.index(after: first)
                    if second != bytes.endIndex, bytes[second] == UInt8(ascii: "/") { return bytes.index(after: second) }
                }
            }
            index = bytes.index(after: index)
        }
        return nil
    }

    init?(_ address: String?) {
        guard let address else { return nil }
        let path = EntityAddress.path(address)
        guard !path.isEmpty else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let lower = parts.map { $0.lowercased() }
        switch parts.count {
        case 1 where lower[0] == "$cbs": self = .cbs
        case 1 where lower[0] == "$management": self = .namespaceManagement
        case 1: self = .entity(parts[0])
        case 2 where lower[1] == "$management": self = .entityManagement(parts[0])
        case 2 where lower[1] == "$deadletterqueue": self = .deadLetter(parts[0])
        case 3 where lower[1] == "partitions": self = .partition(hub: parts[0], partition: parts[2])
        // Topic subscriptions behave as queues named `<topic>/Subscriptions/<subscription>`.
        case 3 where lower[1] == "subscriptions": self = .entity(parts.joined(separator: "/"))
        case 4 where lower[1] == "subscriptions" && lower[3] == "$management":
            self = .entityManagement(parts[0..<3].joined(separator: "/"))
        case 4 where lower[1] == "subscriptions" && lower[3] == "$deadletterqueue":
            self = .deadLetter(parts[0..<3].joined(separator: "/"))
        case 5 where lower[1] == "consumergroups" && lower[3] == "partitions":
            self = .consumer(hub: parts[0], group: parts[2], partition: parts[4])
        default: return nil
        }
    }

    /// The path a token must cover to use this address (nil: no token needed). A token covers its own path and
    /// everything below it, so a hub token covers its partitions and a consumer token just its partition.
    var authorizationPath: String? {
        switch self {
        case .cbs, .namespaceManagement: return nil
        case .entity(let name): return name
        case .entityManagement(let name): return name + "/$management"
        case .partition(let hub, let partition): return "\(hub)/Partitions/\(partition)"
        case .consumer(let hub, let group, let partition): return "\(hub)/ConsumerGroups/\(group)/Partitions/\(partition)"
        case .deadLetter(let queue): return queue + "/$DeadLetterQueue"
        }
    }
}
