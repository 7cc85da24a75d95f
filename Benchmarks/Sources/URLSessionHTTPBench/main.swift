// URLSession baseline for `toolbox bench http`: N GET requests, C in flight, one JSON line with the same keys
// (without connections_opened, which URLSession does not expose).
//   URLSessionHTTPBench URL [REQUESTS] [CONCURRENCY]
// Exits with status 1 when any request failed (the first error goes to stderr).
//
// HTTPS with a test CA: URLSession on Linux (FoundationNetworking, i.e. libcurl) cannot be told to trust a custom
// CA in-process (neither URLSessionCertificateAuthorityInfoFile, SSL_CERT_FILE nor CURL_CA_BUNDLE is honoured),
// which is one reason ToolboxTransport exists. It trusts the system store, /etc/ssl/certs/ca-certificates.crt and
// the hashed directory /etc/ssl/certs, so scripts/bench-http.sh runs this program in a private mount namespace
// (`unshare -rm`) where a copy of /etc/ssl/certs that also holds the test CA is bind-mounted over /etc/ssl/certs;
// the same run with an unrelated CA fails, which shows that the certificate really is verified.
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 2, let url = URL(string: arguments[1]) else {
    FileHandle.standardError.write(Data("usage: URLSessionHTTPBench URL [REQUESTS] [CONCURRENCY]\n".utf8))
    exit(2)
}
let total = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let concurrency = arguments.count > 3 ? Int(arguments[3]) ?? 32 : 32

let configuration = URLSessionConfiguration.default
configuration.httpMaximumConnectionsPerHost = concurrency
configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
configuration.urlCache = nil
let session = URLSession(configuration: configuration)

final class Results: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    let lock = NSLock()
    var remaining: Int
    var inFlight = 0
    var errors = 0
    var latencies: [Double] = []
    init(remaining: Int) { self.remaining = remaining }
}

let results = Results(remaining: total)
let done = DispatchSemaphore(value: 0)

@Sendable func launch() {
    results.lock.lock()
    guard results.remaining > 0 else {
        results.lock.unlock()
        return
    }
    results.remaining -= 1
    results.inFlight += 1
    results.lock.unlock()
    let sent = DispatchTime.now().uptimeNanoseconds
    session.dataTask(with: url) { _, response, error in
        let micros = Double(DispatchTime.now().uptimeNanoseconds - sent) / 1000
        results.lock.lock()
        results.inFlight -= 1
        if error != nil || ((response as? HTTPURLResponse)?.statusCode ?? 599) >= 400 {
            if results.errors == 0 {
                FileHandle.standardError.write(Data("first error: \(error.map { "\($0)" } ?? "HTTP status")\n".utf8))
            }
            results.errors += 1
        } else {
            results.latencies.append(micros)
        }
        let finished = results.remaining == 0 && results.inFlight == 0
        results.lock.unlock()
        if finished { done.signal() } else { launch() }
    }.resume()
}

let started = DispatchTime.now().uptimeNanoseconds
for _ in 0..<min(concurrency, total) { launch() }
done.wait()
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
let sorted = results.latencies.sorted()
func percentile(_ p: Double) -> Int {
    guard !sorted.isEmpty else { return 0 }
    return Int(sorted[max(0, min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1))].rounded())
}
let rate = (Double(total) / elapsed * 10).rounded() / 10
print("{\"errors\":\(results.errors),\"p50_us\":\(percentile(0.5)),\"p99_us\":\(percentile(0.99)),"
    + "\"requests\":\(total),\"requests_per_sec\":\(rate)}")
if results.errors > 0 { exit(1) }
