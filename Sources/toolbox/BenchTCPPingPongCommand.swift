import ArgumentParser
import Foundation

/// `toolbox bench tcp-pingpong`: the physical floor for one acknowledged send on this machine — a blocking
/// loopback TCP round trip of `size` bytes each way (TCP_NODELAY), with no protocol, TLS or event loop at all.
struct BenchTCPPingPongCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcp-pingpong",
        abstract: "Loopback TCP ping-pong of SIZE bytes (raw blocking sockets); prints one JSON line.",
        discussion: "Keys: size, count, round_trips_per_sec, p50_ms, p99_ms, mean_ms, errors.")

    @Option(help: "Payload bytes each way.")
    var size: Int = 128

    @Option(help: "Timed round trips (after 1,000 untimed ones).")
    var count: Int = 20000

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard size >= 1, size <= 1_000_000 else { throw ValidationError("--size must be 1...1000000") }
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
    }

    func run() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw failure("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        guard bound else { throw failure("bind/listen") }
        let size = size
        let server = Thread {
            let peer = accept(listener, nil, nil)
            guard peer >= 0 else { return }
            Self.noDelay(peer)
            var buffer = [UInt8](repeating: 0, count: size)
            while Self.exchange(peer, &buffer, readFirst: true) {}
            close(peer)
        }
        server.start()
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
        }
        guard client >= 0, connected else { throw failure("connect") }
        Self.noDelay(client)
        var buffer = [UInt8](repeating: 0x78, count: size)
        var errors = 0
        for _ in 0..<1000 where !Self.exchange(client, &buffer, readFirst: false) { errors += 1 }
        var histogram = LatencyHistogram()
        var total: UInt64 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var previous = start
        for _ in 0..<count {
            if !Self.exchange(client, &buffer, readFirst: false) { errors += 1; break }
            let now = DispatchTime.now().uptimeNanoseconds
            histogram.record(now - previous)
            total += now - previous
            previous = now
        }
        let seconds = Double(previous - start) / 1e9
        close(client)
        close(listener)
        let summary: [String: Any] = [
            "mode": "tcp-pingpong", "size": size, "count": count, "errors": errors,
            "round_trips_per_sec": JSONOutput.rounded(Double(count) / max(seconds, 1e-9), 1),
            "p50_ms": JSONOutput.rounded(Double(histogram.percentile(0.5)) / 1e6, 4),
            "p99_ms": JSONOutput.rounded(Double(histogram.percentile(0.99)) / 1e6, 4),
            "mean_ms": JSONOutput.rounded(Double(total) / Double(count) / 1e6, 4),
        ]
        JSONOutput.printLine(summary)  // JSON either way: a Swift dictionary's description has no stable order
        if errors > 0 {
            JSONOutput.printError("\(errors) of \(count) round trips failed")
            throw ExitCode(1)
        }
    }

    private func failure(_ call: String) -> ValidationError { ValidationError("\(call) failed: errno \(errno)") }

    private static func noDelay(_ descriptor: Int32) {
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// One round trip: write then read `buffer.count` bytes (the client), or read then write (the echo server).
    private static func exchange(_ descriptor: Int32, _ buffer: inout [UInt8], readFirst: Bool) -> Bool {
        readFirst ? transfer(descriptor, &buffer, read: true) && transfer(descriptor, &buffer, read: false)
            : transfer(descriptor, &buffer, read: false) && transfer(descriptor, &buffer, read: true)
    }

    private static func transfer(_ descriptor: Int32, _ buffer: inout [UInt8], read reading: Bool) -> Bool {
        let total = buffer.count
        return buffer.withUnsafeMutableBytes { bytes in
            var done = 0
            while done < total {
                let n = reading ? recv(descriptor, bytes.baseAddress! + done, total - done, 0)
                    : send(descriptor, bytes.baseAddress! + done, total - done, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }
}
