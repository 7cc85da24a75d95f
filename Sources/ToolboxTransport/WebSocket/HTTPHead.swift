import ToolboxCore

/// An HTTP/1.1 request or response head (start line and header fields), as the WebSocket opening handshake and a
/// proxy's `CONNECT` answer use it: nothing after the blank line is part of it.
struct HTTPHead: Sendable {
    var startLine: String
    var headers: [(name: String, value: String)]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Whether a comma-separated header contains `token` (case-insensitively), e.g. `Connection: keep-alive, Upgrade`.
    func headerContains(_ name: String, token: String) -> Bool {
        headers.contains { header in
            header.name.lowercased() == name.lowercased()
                && header.value.split(separator: ",").contains { $0.trimmingSpaces().lowercased() == token.lowercased() }
        }
    }

    /// Finds a complete head at the start of `bytes`: the head and the bytes it used, nil when the blank line has
    /// not arrived yet. More than `limit` bytes without one, or a malformed line, throws naming `peer`.
    static func parse(_ bytes: [UInt8], limit: Int, peer: String) throws(ToolboxError) -> (HTTPHead, Int)? {
        var end: Int?
        if bytes.count >= 4 {
            for index in 3..<bytes.count where bytes[index] == 10 && bytes[index - 1] == 13
                && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
                end = index + 1
                break
            }
        }
        guard let end else {
            if bytes.count > limit {
                throw ToolboxError(.httpHeadersTooLarge, "\(peer) sent more than \(limit) bytes without ending its header")
            }
            return nil
        }
        guard end <= limit + 4 else {
            throw ToolboxError(.httpHeadersTooLarge, "\(peer) sent a header larger than \(limit) bytes")
        }
        guard let text = String(validating: bytes[0..<(end - 4)], as: UTF8.self) else {
            throw ToolboxError(.httpMalformed, "\(peer) sent a header that is not valid UTF-8")
        }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty, !lines[0].isEmpty else {
            throw ToolboxError(.httpMalformed, "\(peer) sent an empty start line")
        }
        let startLine = lines.removeFirst()
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw ToolboxError(.httpMalformed, "\(peer) sent a header line without a name and a colon")
            }
            let name = String(line[..<colon])
            guard !name.contains(" "), !name.contains("\t") else {
                throw ToolboxError(.httpMalformed, "\(peer) sent a header name containing white space")
            }
            headers.append((name, String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        return (HTTPHead(startLine: startLine, headers: headers), end)
    }

    /// `HTTP/1.x <status> <reason>` split, or a typed error naming `peer`.
    func statusLine(peer: String) throws(ToolboxError) -> (status: Int, reason: String) {
        let parts = startLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]),
              (100...599).contains(status)
        else {
            throw ToolboxError(.httpMalformed, "\(peer) answered with a malformed status line")
        }
        return (status, parts.count > 2 ? String(parts[2]) : "")
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
