import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private tinyproxy (Debian's `tinyproxy`) on a free loopback port, optionally demanding Basic credentials:
/// the real HTTP proxy the proxy tests tunnel through with `CONNECT`. `stop()` ends it; so does `deinit`.
public final class TinyproxyFixture: @unchecked Sendable {
    // @unchecked Sendable: every property is set in init and only read afterwards; `Process` is thread-safe.
    public let port: UInt16
    public let username: String?
    public let password: String?
    private let process: Process
    private let directory: String

    /// `http://[user:password@]127.0.0.1:port`.
    public var url: String {
        let credentials = username.map { "\($0):\(password ?? "")@" } ?? ""
        return "http://\(credentials)127.0.0.1:\(port)"
    }

    /// The proxy's log (connections it made, refusals), for failure messages.
    public var log: String { (try? String(contentsOfFile: directory + "/tinyproxy.log", encoding: .utf8)) ?? "" }

    /// Starts tinyproxy; retries on a new port if another process took the one picked before tinyproxy bound it.
    public static func start(username: String? = nil, password: String? = nil) throws -> TinyproxyFixture {
        let candidates = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy", "/usr/local/bin/tinyproxy"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ToolboxCLI.Failure("tinyproxy is not installed; the proxy tests need Debian's tinyproxy "
                + "(apt-get install tinyproxy, in scripts/system-deps.sh)")
        }
        var lastError = ""
        for _ in 0..<5 {
            do {
                return try TinyproxyFixture(executable: executable, username: username, password: password)
            } catch let error as ToolboxCLI.Failure {
                lastError = error.description
            }
        }
        throw ToolboxCLI.Failure("tinyproxy did not start: \(lastError)")
    }

    private init(executable: String, username: String?, password: String?) throws {
        port = try Self.freePort()
        self.username = username
        self.password = password
        directory = NSTemporaryDirectory() + "tinyproxy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = """
            Port \(port)
            Listen 127.0.0.1
            Timeout 60
            Allow 127.0.0.1
            MaxClients 64
            LogLevel Info
            LogFile "\(directory)/tinyproxy.log"
            DisableViaHeader Yes

            """
        if let username { config += "BasicAuth \(username) \(password ?? "")\n" }
        try config.write(toFile: directory + "/tinyproxy.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-d", "-c", directory + "/tinyproxy.conf"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when it accepts a connection (or failed when it exited).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning {
                throw ToolboxCLI.Failure("tinyproxy exited with status \(process.terminationStatus): \(log)")
            }
            if Self.accepts(port: port) { return }
            usleep(20_000)
        }
        stop()
        throw ToolboxCLI.Failure("tinyproxy did not accept connections on port \(port) within 10 s")
    }

    deinit { stop() }

    /// Ends tinyproxy and removes its files. Idempotent.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ToolboxCLI.Failure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int32 in
                guard bind(fd, raw, length) == 0 else { return -1 }
                return getsockname(fd, raw, &length)
            }
        }
        guard bound == 0 else { throw ToolboxCLI.Failure("could not bind a free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
