import Foundation
import ToolboxCore
import ToolboxTransport

/// One request to the emulator's HTTP side, with the pieces every service needs already taken apart.
///
/// `path` is the request target's path as sent (still percent-encoded, as Azure's signatures use it);
/// `pathSegments` and `query` are decoded.
package struct EmulatorHTTPRequest: Sendable {
    /// One `name=value` pair of the query string, percent-decoded (`+` is kept: Azure's SAS values are
    /// percent-encoded, and a literal `+` in a signature must survive).
    package struct QueryItem: Sendable, Equatable {
        package var name: String
        package var value: String
    }

    package let head: HTTPRequestHead
    package let body: [UInt8]
    /// Whether it arrived on the HTTPS listener.
    package let isSecure: Bool
    /// The port of the listener it arrived on.
    package let localPort: UInt16
    package let remoteAddress: SocketAddress?
    /// The path of the request target, percent-encoded as sent, without the query.
    package let path: String
    /// The query string as sent (without `?`), empty when there is none.
    package let rawQuery: String
    /// The path's segments, percent-decoded; `/` gives `[]`.
    package let pathSegments: [String]
    package let query: [QueryItem]

    package init(head: HTTPRequestHead, body: [UInt8], isSecure: Bool, localPort: UInt16, remoteAddress: SocketAddress?) {
        self.head = head
        self.body = body
        self.isSecure = isSecure
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        // Taken apart over UTF-8 (every delimiter is ASCII): Character-wise `hasPrefix` and `firstIndex(of:)` on
        // the target walked grapheme clusters, ~15 % of an Event Grid publish's instructions.
        var target = Substring(head.target).utf8
        // An absolute-form target (proxies) carries scheme and authority; keep the path.
        if let scheme = ["http://", "https://"].first(where: { target.starts(with: $0.utf8) }) {
            let authorityAndPath = target.dropFirst(scheme.utf8.count)
            target = authorityAndPath.firstIndex(of: UInt8(ascii: "/")).map { authorityAndPath[$0...] } ?? Substring("/").utf8
        }
        if let mark = target.firstIndex(of: UInt8(ascii: "?")) {
            path = String(Substring(target[..<mark]))
            rawQuery = String(Substring(target[target.index(after: mark)...]))
        } else {
            path = String(Substring(target))
            rawQuery = ""
        }
        // Split and decoded on UTF-8 bytes: `String.split` walks grapheme clusters and Foundation's
        // `removingPercentEncoding` bridges through NSString, together ~a fifth of an Event Grid publish's
        // instructions here.
        pathSegments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map {
            Self.percentDecoded(Substring($0))
        }
        query = rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { pair in
            let name: Substring.UTF8View
            var value: Substring.UTF8View = Substring("").utf8
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                name = pair[..<equals]
                value = pair[pair.index(after: equals)...]
            } else {
                name = pair
            }
            return QueryItem(name: Self.percentDecoded(Substring(name)), value: Self.percentDecoded(Substring(value)))
        }
    }

    /// `text` with its `%XX` escapes decoded (`+` stays `+`); as Foundation's `removingPercentEncoding`, a
    /// malformed escape or bytes that are not UTF-8 once decoded leave the text as it was.
    package static func percentDecoded(_ text: Substring) -> String {
        let utf8 = text.utf8
        guard utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            index = utf8.index(after: index)
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard index != utf8.endIndex, let high = ASCIIHex.value(utf8[index]) else { return String(text) }
            index = utf8.index(after: index)
            guard index != utf8.endIndex, let low = ASCIIHex.value(utf8[index]) else { return String(text) }
            index = utf8.index(after: index)
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self) ?? String(text)
    }

    package var method: String { head.method }

    /// The first value of a header (names compare case-insensitively).
    package func header(_ name: String) -> String? { head.headers.first(name: name) }

    /// The first value of a query parameter; names compare case-insensitively, as Azure's do.
    package func queryValue(_ name: String) -> String? {
        query.first { HTTPHeaders.namesMatch($0.name, name) }?.value
    }

    /// `scheme://host:port` as the client addressed us (from `Host`, else the loopback address and our port), so
    /// URLs the emulator hands out (Cosmos account locations, `_self` links) point where the client can reach.
    package var baseURL: String {
        let scheme = isSecure ? "https" : "http"
        if let host = header("Host"), !host.isEmpty, host.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") }) {
            return "\(scheme)://\(host)"
        }
        return "\(scheme)://127.0.0.1:\(localPort)"
    }
}
