import CToolboxOpenSSL
import ToolboxCore

/// How a server refused a WebSocket upgrade, or a proxy a `CONNECT`: its status line and headers, as it sent them.
/// Header values are the peer's (never the request's credentials).
public struct HTTPRefusal: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let reason: String
    public let headers: [(name: String, value: String)]

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var description: String { "HTTP \(status) \(reason)" }
}

/// The opening handshake of RFC 6455 §4, both sides.
public enum WebSocketHandshake {
    /// The GUID of §1.3 that the accept key hashes with the client's key.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// Largest handshake head accepted from the peer.
    static let headLimit = 16 * 1024

    /// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
    static func makeKey() -> String { Base64.encode(randomBytes(16)) }

    /// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        input.withUnsafeBufferPointer { bytes in _ = SHA1(bytes.baseAddress, bytes.count, &digest) }
        return Base64.encode(digest)
    }

    /// Random bytes from OpenSSL (masking keys, handshake keys).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        if RAND_bytes(&bytes, Int32(count)) != 1 {
            // RAND_bytes fails only when OpenSSL's generator cannot be seeded; masking is about defeating cache
            // poisoning by scripts, not secrecy, so the system generator is an acceptable fallback.
            var generator = SystemRandomNumberGenerator()
            for index in bytes.indices { bytes[index] = generator.next() }
        }
        return bytes
    }

    /// The client's upgrade request.
    static func request(host: String, port: UInt16, secure: Bool, path: String, key: String,
                        subprotocols: [String], extraHeaders: [(String, String)]) -> [UInt8] {
        let defaultPort: UInt16 = secure ? 443 : 80
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
        var text = "GET \(path.isEmpty ? "/" : path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if !subprotocols.isEmpty { text += "Sec-WebSocket-Protocol: \(subprotocols.joined(separator: ", "))\r\n" }
        for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Checks the server's answer to `request`: 101 with the right upgrade, accept key and subprotocol.
    static func validateResponse(_ head: HTTPHead, key: String, subprotocols: [String],
                                 peer: String) throws(ToolboxError) {
        let (status, reason) = try head.statusLine(peer: peer)
        let refusal = HTTPRefusal(status: status, reason: reason, headers: head.headers)
        func refused(_ why: String) -> ToolboxError {
            ToolboxError(.webSocketUpgradeRefused, "\(peer) refused the WebSocket upgrade: \(why)", underlying: refusal)
        }
        guard status == 101 else { throw refused("HTTP \(status) \(reason)") }
        guard head.headerContains("Upgrade", token: "websocket") else { throw refused("101 without Upgrade: websocket") }
        guard head.headerContains("Connection", token: "upgrade") else { throw refused("101 without Connection: Upgrade") }
        guard head.header("Sec-WebSocket-Accept") == acceptValue(forKey: key) else {
            throw refused("Sec-WebSocket-Accept does not match the key sent")
        }
        let chosen = head.header("Sec-WebSocket-Protocol")
        if subprotocols.isEmpty {
            guard chosen == nil else { throw refused("it chose subprotocol '\(chosen ?? "")' that was not offered") }
        } else {
            guard let chosen, subprotocols.contains(chosen) else {
                throw refused("it did not choose one of the subprotocols offered (\(subprotocols.joined(separator: ", ")))")
            }
        }
        guard head.header("Sec-WebSocket-Extensions") == nil else {
            throw refused("it named extensions although none were offered")
        }
    }

    /// A server's verdict on a client's upgrade request: the 101 answer to send, or an error answer and why.
    static func answer(_ head: HTTPHead, subprotocol: String, path: String?) -> (response: [UInt8], accepted: Bool, why: String) {
        func refuse(_ status: String, _ why: String, extra: String = "") -> ([UInt8], Bool, String) {
            (Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\(extra)\r\n".utf8), false, why)
        }
        let parts = head.startLine.split(separator: " ")
        guard parts.count == 3, parts[0] == "GET", parts[2] == "HTTP/1.1" else {
            return refuse("400 Bad Request", "not a GET … HTTP/1.1 request")
        }
        if let path, parts[1] != path[...] { return refuse("404 Not Found", "path \(parts[1]) is not \(path)") }
        guard head.headerContains("Upgrade", token: "websocket"), head.headerContains("Connection", token: "upgrade"),
              let key = head.header("Sec-WebSocket-Key"), Base64.decodedCount(key) == 16
        else {
            return refuse("400 Bad Request", "not a WebSocket upgrade request")
        }
        guard head.header("Sec-WebSocket-Version") == "13" else {
            return refuse("426 Upgrade Required", "unsupported WebSocket version", extra: "Sec-WebSocket-Version: 13\r\n")
        }
        let offered = head.headers.filter { $0.name.lowercased() == "sec-websocket-protocol" }
            .flatMap { $0.value.split(separator: ",").map { $0.trimmingSpaces() } }
        guard offered.contains(subprotocol) else {
            return refuse("400 Bad Request", "the client did not offer subprotocol \(subprotocol)")
        }
        let text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(acceptValue(forKey: key))\r\nSec-WebSocket-Protocol: \(subprotocol)\r\n\r\n"
        return (Array(text.utf8), true, "")
    }
}

/// Standard base64 (RFC 4648 §4), for handshake keys and Basic credentials; ToolboxTransport does not use
/// Foundation.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// How many bytes `text` decodes to, or nil if it is not canonical padded base64.
    static func decodedCount(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count % 4 == 0 else { return nil }
        let padding = bytes.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard padding <= 2 else { return nil }
        for byte in bytes.dropLast(padding) where !alphabet.contains(byte) { return nil }
        return bytes.count / 4 * 3 - padding
    }
}
