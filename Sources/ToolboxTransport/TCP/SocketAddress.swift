#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import ToolboxCore

/// An IPv4 or IPv6 socket address, as produced by name resolution or `getsockname`.
public struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    package init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// `sockaddr_in` or `sockaddr_in6` copied into a `sockaddr_storage`, with its own size as the length.
    private init<Address>(copying address: Address) {
        var storage = sockaddr_storage()
        withUnsafeBytes(of: address) { raw in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
        }
        self.init(storage: storage, length: socklen_t(MemoryLayout<Address>.size))
    }

    /// Parses a numeric IPv4 or IPv6 address (no name resolution); nil when `host` is not numeric.
    public init?(numericHost host: String, port: UInt16) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET, bare, &v4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = v4
            self.init(copying: address)
        } else if inet_pton(AF_INET6, bare, &v6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = v6
            self.init(copying: address)
        } else {
            return nil
        }
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order.
    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                return UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
            }
            return UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// The numeric host ("127.0.0.1", "::1").
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
            }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    package func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The local address a socket is bound to.
    package static func local(of fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return rc == 0 ? SocketAddress(storage: storage, length: length) : nil
    }
}

/// Resolves host names with `getaddrinfo` on a work queue, so no connection queue ever blocks on DNS.
///
/// Lookups of one host and port that overlap share one `getaddrinfo` call: a pool warming up 50 connections to
/// one namespace resolves its name once, on one thread, instead of blocking 50 threads on 50 identical lookups.
/// Nothing is cached after the lookup ends (`getaddrinfo` reports no lifetime), so a name that moves is seen
/// by the next connect.
public enum HostResolver {
    private struct Key: Hashable {
        let host: String
        let port: UInt16
    }

    private typealias Waiter = (queue: DispatchQueue,
                                completion: @Sendable (Result<[SocketAddress], TransportError>) -> Void)

    /// The waiters of each lookup in flight; a key is present exactly while its lookup runs.
    private static let inFlight = LockedValue<[Key: [Waiter]]>([:])

    /// Resolves `host` to its addresses (numeric hosts skip the resolver) and calls `completion` on `queue`.
    public static func resolve(
        host: String, port: UInt16, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<[SocketAddress], TransportError>) -> Void
    ) {
        resolve(host: host, port: port, queue: queue, lookup: resolveBlocking, completion: completion)
    }

    /// `resolve` with the blocking lookup to run (tests pass one they control).
    static func resolve(
        host: String, port: UInt16, queue: DispatchQueue,
        lookup: @escaping @Sendable (_ host: String, _ port: UInt16) -> Result<[SocketAddress], TransportError>,
        completion: @escaping @Sendable (Result<[SocketAddress], TransportError>) -> Void
    ) {
        if let numeric = SocketAddress(numericHost: host, port: port) {
            queue.async { completion(.success([numeric])) }
            return
        }
        let key = Key(host: host, port: port)
        let starts = inFlight.withLockedValue { lookups in
            let first = lookups[key] == nil
            lookups[key, default: []].append((queue, completion))
            return first
        }
        guard starts else { return }
        // Not `DispatchQueue.global()`: see `LibraryQueues.makeWorkQueue` (getaddrinfo may block for seconds).
        LibraryQueues.makeWorkQueue(label: "ToolboxTransport.resolve").async {
            let result = lookup(host, port)
            let waiters = inFlight.withLockedValue { $0.removeValue(forKey: key) } ?? []
            for waiter in waiters { waiter.queue.async { waiter.completion(result) } }
        }
    }


    static func resolveBlocking(host: String, port: UInt16) -> Result<[SocketAddress], TransportError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = POSIX.streamType
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = String(cString: gai_strerror(rc))
            return .failure(TransportError(
                .resolutionFailed, "could not resolve host '\(host)': \(reason); check the host name and DNS"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr, entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6 {
                var storage = sockaddr_storage()
                let length = entry.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &storage) { dest in
                    dest.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(length)))
                }
                addresses.append(SocketAddress(storage: storage, length: length))
            }
            cursor = entry.pointee.ai_next
        }
        if addresses.isEmpty {
            return .failure(TransportError(.resolutionFailed, "host '\(host)' has no IPv4 or IPv6 address"))
        }
        return .success(addresses)
    }
}
