#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ToolboxCore

extension ToolboxError.Code {
    /// The HTTP proxy refused to open a tunnel (`CONNECT` answered with something other than 2xx), or closed the
    /// connection instead of answering. The message names the proxy (never its password); `HTTPRefusal` is the
    /// underlying error when it answered.
    public static let proxyConnectRefused = Self("proxyConnectRefused")
}

/// An HTTP proxy that `TCPConnection.connect` tunnels through with `CONNECT` (RFC 9110 §9.3.6), with Basic
/// proxy authentication when it has a user name.
///
/// ```swift
/// var options = TCPConnectOptions()
/// options.proxy = try HTTPProxy(url: "http://user:secret@proxy.internal:3128")
/// // or, as Azure's SDKs do: HTTPS_PROXY / https_proxy, and NO_PROXY / no_proxy
/// options.proxy = HTTPProxy.fromEnvironment()
/// ```
///
/// The proxy is spoken to in plain HTTP; TLS to the target (when the connection has it) runs inside the tunnel,
/// end to end, so the certificate checked is the target's. Hosts matched by `noProxy` are connected to directly.
public struct HTTPProxy: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    /// The user for Basic proxy authentication (`Proxy-Authorization`), if the proxy wants one.
    public var username: String?
    public var password: Secret<String>?
    /// Hosts to reach without the proxy, as in `NO_PROXY`: `*` (every host), a name (`example.org` also covers
    /// `api.example.org`), a leading-dot suffix (`.example.org`), or an address; a `:port` suffix is ignored.
    public var noProxy: [String]

    public init(host: String, port: UInt16, username: String? = nil, password: Secret<String>? = nil,
                noProxy: [String] = []) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.noProxy = noProxy
    }

    /// Parses `http://[user[:password]@]host[:port][/]` (scheme optional, port default 80; user and password
    /// percent-decoded). Errors name what is wrong without repeating the password.
    public init(url: String, noProxy: [String] = []) throws(ToolboxError) {
        var rest = Substring(url.trimmingSpaces())
        let parts = rest.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            let scheme = parts[0].lowercased()
            guard scheme == "http" else {
                throw ToolboxError(.invalidArgument,
                                   "proxy URL scheme '\(scheme)' is not supported; use an http:// proxy (it tunnels TLS with CONNECT)")
            }
            rest = parts[1]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else {
                throw ToolboxError(.invalidArgument, "a proxy URL has no path; got one after the host")
            }
            rest = rest[..<slash]
        }
        var user: String?
        var secret: Secret<String>?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                user = try Self.percentDecoded(info[..<colon], what: "user name")
                secret = Secret(try Self.percentDecoded(info[info.index(after: colon)...], what: "password"))
            } else {
                user = try Self.percentDecoded(info, what: "user name")
            }
        }
        var hostPart = rest
        var port: UInt16 = 80
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw ToolboxError(.invalidArgument, "the proxy URL's IPv6 address has no closing bracket")
            }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = UInt16(after.dropFirst()), value > 0 else {
                    throw ToolboxError(.invalidArgument, "the proxy URL's port is not a number from 1 to 65535")
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            guard let value = UInt16(rest[rest.index(after: colon)...]), value > 0 else {
                throw ToolboxError(.invalidArgument, "the proxy URL's port is not a number from 1 to 65535")
            }
            port = value
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 == " " || $0 == "@" || $0 == "/" }) else {
            throw ToolboxError(.invalidArgument, "the proxy URL has no valid host")
        }
        self.init(host: String(hostPart), port: port, username: user, password: secret, noProxy: noProxy)
    }

    /// The proxy Azure's SDKs would use for HTTPS and WSS: `HTTPS_PROXY` (or `https_proxy`), with `NO_PROXY`
    /// (or `no_proxy`, comma-separated) as exceptions; nil when unset, empty or unparsable (a bad value is not
    /// fatal for clients that never meant to use it; `fromEnvironmentStrict` reports it).
    public static func fromEnvironment(_ environment: [String: String]? = nil) -> HTTPProxy? {
        (try? fromEnvironmentStrict(environment)) ?? nil
    }

    /// `fromEnvironment`, but a value that does not parse throws naming the variable.
    public static func fromEnvironmentStrict(_ environment: [String: String]? = nil) throws(ToolboxError) -> HTTPProxy? {
        func value(_ name: String) -> String? {
            let found = environment.map { $0[name] } ?? getenv(name).map { String(cString: $0) }
            guard let found, !found.trimmingSpaces().isEmpty else { return nil }
            return found
        }
        guard let url = value("HTTPS_PROXY") ?? value("https_proxy") else { return nil }
        let exceptions = (value("NO_PROXY") ?? value("no_proxy") ?? "").split(separator: ",")
            .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        do {
            return try HTTPProxy(url: url, noProxy: exceptions)
        } catch {
            throw ToolboxError(.invalidArgument, "HTTPS_PROXY is not a usable proxy URL: \(error.message)")
        }
    }

    /// Whether connections to `host` go through the proxy (false when `noProxy` matches it).
    public func applies(to host: String) -> Bool {
        let target = Self.normalized(host)
        for entry in noProxy {
            var rule = entry.lowercased()
            if rule == "*" { return false }
            if rule.hasPrefix("["), let close = rule.firstIndex(of: "]") {
                rule = String(rule[rule.index(after: rule.startIndex)..<close])
            } else if rule.filter({ $0 == ":" }).count == 1, let colon = rule.firstIndex(of: ":") {
                rule = String(rule[..<colon])
            }
            if rule.hasPrefix("*.") { rule.removeFirst() }
            if rule.hasPrefix(".") {
                if target.hasSuffix(rule) || target == String(rule.dropFirst()) { return false }
            } else if target == rule || target.hasSuffix("." + rule) {
                return false
            }
        }
        return true
    }

    static func normalized(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        return name
    }

    /// `http://[user@]host:port`: never the password.
    public var description: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return "http://\(username.map { "\($0)@" } ?? "")\(bracketed):\(port)"
    }

    /// The `CONNECT` request for `host:port`.
    func connectRequest(host: String, port: UInt16) -> [UInt8] {
        let authority = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var text = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let username {
            let credentials = Array("\(username):\(password?.exposedValue ?? "")".utf8)
            text += "Proxy-Authorization: Basic \(Base64.encode(credentials))\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }

    private static func percentDecoded<S: StringProtocol>(_ text: S, what: String) throws(ToolboxError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(ASCIIHex.value), let low = iterator.next().flatMap(ASCIIHex.value) else {
                throw ToolboxError(.invalidArgument, "the proxy URL's \(what) has a bad percent escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ToolboxError(.invalidArgument, "the proxy URL's \(what) is not valid UTF-8 once decoded")
        }
        return decoded
    }
}
