import Foundation
import ToolboxCore
import XCTest
@testable import ToolboxTransport

/// A private nginx (Debian's nginx-light) on free loopback ports, HTTP and HTTPS, with files to serve.
///
/// The access log records nginx's own connection serial number per request (`$connection`), which is how the
/// tests count connections on the server side.
final class NginxFixture: @unchecked Sendable {
    // @unchecked Sendable: all properties are set in init and only read afterwards; `process` is thread-safe.
    let directory: String
    let httpPort: UInt16
    let httpsPort: UInt16
    private let process: Process

    struct LogLine: Equatable {
        let connection: Int
        let connectionRequests: Int
        let method: String
        let uri: String
        let status: Int
        let requestLength: Int
    }

    static let chunkedSource = String(repeating: "MARK the spot; ", count: 5000)
    static let bigFile: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }

    /// Starts nginx; retries with new ports if another process took a port between picking and binding it.
    static func start(pki: TestPKI) throws -> NginxFixture {
        guard let nginx = findExecutable("nginx") else {
            throw TestSetupError("nginx is not installed; these tests need Debian's nginx-light (apt-get install nginx-light)")
        }
        var lastError = ""
        for _ in 0..<5 {
            do {
                return try NginxFixture(nginx: nginx, pki: pki)
            } catch let error as TestSetupError {
                lastError = error.description
            }
        }
        throw TestSetupError("nginx did not start after 5 attempts: \(lastError)")
    }

    private init(nginx: String, pki: TestPKI) throws {
        directory = NSTemporaryDirectory() + "toolbox-nginx-\(UUID().uuidString)"
        let fm = FileManager.default
        for sub in ["www/dav", "tmp"] {
            try fm.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true)
        }
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: directory + "/www/hello.txt"))
        try Data(NginxFixture.chunkedSource.utf8).write(to: URL(fileURLWithPath: directory + "/www/chunked.txt"))
        try Data(NginxFixture.bigFile).write(to: URL(fileURLWithPath: directory + "/www/big.bin"))
        httpPort = try closedPort()
        httpsPort = try closedPort()
        let d = directory
        let config = """
            daemon off;
            master_process off;
            worker_processes 1;
            error_log \(d)/error.log warn;
            pid \(d)/nginx.pid;
            events { worker_connections 1024; }
            http {
                default_type application/octet-stream;
                log_format conn '$connection $connection_requests $request_method $uri $status $request_length';
                access_log \(d)/access.log conn;
                client_body_temp_path \(d)/tmp/body;
                proxy_temp_path \(d)/tmp/proxy;
                fastcgi_temp_path \(d)/tmp/fastcgi;
                uwsgi_temp_path \(d)/tmp/uwsgi;
                scgi_temp_path \(d)/tmp/scgi;
                client_max_body_size 64m;
                keepalive_timeout 60s;
                keepalive_requests 100000;
                server {
                    listen 127.0.0.1:\(httpPort);
                    listen 127.0.0.1:\(httpsPort) ssl;
                    ssl_certificate \(pki.serverCertificate);
                    ssl_certificate_key \(pki.serverKey);
                    root \(d)/www;
                    location /dav/ {
                        dav_methods PUT DELETE;
                        create_full_put_path on;
                        client_body_buffer_size 2m;
                    }
                    location = /chunked.txt {
                        sub_filter 'MARK' 'mark';
                        sub_filter_once off;
                        sub_filter_types *;
                    }
                    location = /close { keepalive_timeout 0; return 200 "bye\\n"; }
                    # Refuses bodies over 1 KiB with 413 before reading them (lingering close drains the rest).
                    location = /limited { client_max_body_size 1k; dav_methods PUT; }
                    # The same, but closing at once: the unread upload makes the kernel reset the connection.
                    location = /limited-abrupt { client_max_body_size 1k; lingering_close off; dav_methods PUT; }
                    location = /short { keepalive_timeout 1s; return 200 "short\\n"; }
                }
            }
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: d + "/nginx.conf"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-c", d + "/nginx.conf", "-p", d, "-e", d + "/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try waitUntilListening()
    }

    private func waitUntilListening() throws {
        let deadline = Deadline.after(seconds: 15)
        while !deadline.hasPassed {
            if !process.isRunning {
                let log = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
                throw TestSetupError("nginx exited: \(log)")
            }
            let ready = [httpPort, httpsPort].allSatisfy { port in
                (try? TCPConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(1))).map { c in
                    try? c.close(mode: .abortive)
                    return true
                } ?? false
            }
            if ready { return }
            usleep(50_000)
        }
        stop()
        throw TestSetupError("nginx did not start listening on \(httpPort) and \(httpsPort)")
    }

    func url(_ path: String, tls: Bool = false, host: String = "127.0.0.1") -> String {
        "\(tls ? "https" : "http")://\(host):\(tls ? httpsPort : httpPort)\(path)"
    }

    /// Parsed access log lines, oldest first.
    func accessLog() -> [LogLine] {
        let text = (try? String(contentsOfFile: directory + "/access.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 6, let c = Int(f[0]), let r = Int(f[1]), let s = Int(f[4]), let l = Int(f[5]) else {
                return nil
            }
            return LogLine(connection: c, connectionRequests: r, method: f[2], uri: f[3], status: s, requestLength: l)
        }
    }

    /// The access log once at least `count` lines match: nginx logs a request just after sending its response,
    /// so the client can be faster than the log.
    func accessLog(waitingFor count: Int, where matches: (LogLine) -> Bool = { _ in true }) -> [LogLine] {
        let deadline = Deadline.after(seconds: 10)
        var lines = accessLog().filter(matches)
        while lines.count < count, !deadline.hasPassed {
            usleep(10_000)
            lines = accessLog().filter(matches)
        }
        return lines
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
