import ArgumentParser
import AzureAuth
import AzureBlobStorage
import Foundation
import ToolboxCore

/// The options every `toolbox blob` command (and `toolbox bench blob`) shares.
struct BlobCommonOptions: ParsableArguments {
    @Option(name: .customLong("connection-string"),
            help: "Storage connection string (AccountKey, SharedAccessSignature or UseDevelopmentStorage=true)")
    var connectionString: String?

    @Option(name: .customLong("account-url"),
            help: "Blob account URL (https://<account>.blob.core.windows.net or path-style); may carry a SAS")
    var accountURL: String?

    @Option(help: "With --account-url: default|environment|client-secret|managed-identity|workload-identity|azure-cli")
    var credential: TokenCommand.Kind?

    @Option(name: .customLong("authority-host"), help: "Entra ID authority (overrides AZURE_AUTHORITY_HOST)")
    var authorityHost: String?

    @OptionGroup var tls: CAFileOption

    @Option(help: "The container")
    var container: String

    @Flag(help: "Print JSON (one object per line; the only output format)")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Draw a progress bar on stderr (default: when stderr is a terminal)")
    var progress: Bool?

    @Flag(help: "Use the managed (pooled) client")
    var managed = false

    @Flag(help: "upload and bench upload only (other subcommands ignore it): send Content-MD5 with a single put and record the blob's MD5 at commit (an MD5 pass over the data; off by default, as in azure-storage-blob)")
    var md5 = false

    @Option(name: .customLong("try-timeout"),
            help: "Seconds each HTTP attempt may take before it is given up and retried (default 120)")
    var tryTimeout: Double?

    func validate() throws {
        if (connectionString == nil) == (accountURL == nil) {
            throw ValidationError("give exactly one of --connection-string and --account-url")
        }
        if credential != nil, accountURL == nil {
            throw ValidationError("--credential goes with --account-url")
        }
        if let tryTimeout { _ = try Duration(cliSeconds: tryTimeout, flag: "--try-timeout") }
    }

    var showProgress: Bool { progress ?? (isatty(2) == 1) }

    /// Runs `body` with a new client, closed after it, through `BlobCLI.run` (an error becomes the error line and
    /// exit status 1).
    func withClient(transfer: (inout BlobTransferOptions) -> Void = { _ in },
                    _ body: (any BlobContainerOperations) throws -> Void) throws {
        try BlobCLI.run {
            let client = try makeClient(transfer: transfer)
            defer { try? client.close() }
            try body(client)
        }
    }

    /// Runs one upload or download: `transfer` gets the progress handler to put in its options (a bar on stderr,
    /// or nil without one); returns the result and the seconds the transfer took.
    func timedTransfer<Result>(_ label: String,
                               _ transfer: ((@Sendable (BlobTransferProgress) -> Void)?) throws -> Result)
        throws -> (Result, seconds: Double)
    {
        let bar = showProgress ? ProgressBar(label: label) : nil
        let started = MonotonicInstant.now()
        var progress: (@Sendable (BlobTransferProgress) -> Void)?
        if let bar { progress = { bar.update($0) } }
        let result = try transfer(progress)
        let seconds = MonotonicInstant.now().seconds(since: started)
        bar?.finish()
        return (result, seconds)
    }

    func makeClient(transfer: (inout BlobTransferOptions) -> Void = { _ in }) throws -> any BlobContainerOperations {
        var options = BlobClientOptions()
        options.caFile = tls.caFile
        if let tryTimeout { options.tryTimeout = try Duration(cliSeconds: tryTimeout, flag: "--try-timeout") }
        options.transfer.computeMD5 = md5
        transfer(&options.transfer)
        if let connectionString {
            return managed
                ? try ManagedBlobContainer(connectionString: connectionString, containerName: container, options: options)
                : try BlobContainer(connectionString: connectionString, containerName: container, options: options)
        }
        var blobCredential = BlobCredential.anonymous
        if let credential {
            var environment = AzureEnvironmentVariable.processEnvironment
            if let authorityHost { environment[AzureEnvironmentVariable.authorityHost] = authorityHost }
            let transport = try AuthCommandTransport.make(caFile: tls.caFile)
            blobCredential = .token(try TokenCommand.makeCredential(credential, environment: environment,
                                                                     transport: transport))
        }
        let url = accountURL ?? ""
        return managed
            ? try ManagedBlobContainer(accountURL: url, containerName: container, credential: blobCredential,
                                       options: options)
            : try BlobContainer(accountURL: url, containerName: container, credential: blobCredential, options: options)
    }
}

/// How `toolbox blob` reports: results as JSON lines, failures as `{"error": {status, code, message}}` on
/// stdout plus the reason on stderr, exit status 1.
enum BlobCLI {
    /// Runs `body`; any error becomes the error line and exit status 1.
    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch let error as ToolboxError {
            fail(error)
        } catch {
            fail(ToolboxError(.invalidArgument, "\(error)"))
        }
    }

    static func fail(_ error: ToolboxError) -> Never {
        let status = error.serviceCondition?.httpStatus ?? 0
        let code = error.serviceCondition?.errorCode ?? error.code.rawValue
        JSONOutput.printLine(["error": ["status": status, "code": code, "message": error.message]])
        JSONOutput.printError("\(error)")
        Foundation.exit(1)
    }

    /// The line `upload` and `download` print: name, size, etag, seconds, mb_per_sec and peak_rss_mb, plus `extra`.
    static func printTransfer(name: String, size: Int64, etag: String, seconds: Double, extra: [String: Any]) {
        let line: [String: Any] = [
            "name": name, "size": size, "etag": etag, "seconds": JSONOutput.rounded(seconds),
            "mb_per_sec": megabytesPerSecond(size, seconds), "peak_rss_mb": peakResidentMegabytes(),
        ]
        JSONOutput.printLine(line.merging(extra) { _, added in added })
    }

    /// MB (10⁶ bytes) per second.
    static func megabytesPerSecond(_ bytes: Int64, _ seconds: Double) -> Double {
        JSONOutput.rounded(seconds > 0 ? Double(bytes) / 1e6 / seconds : 0, 2)
    }

    /// ISO 8601 from an RFC 1123 date, or the text unchanged when it does not parse.
    static func iso8601(_ rfc1123: String?) -> String {
        guard let rfc1123 else { return "" }
        return BlobProperties(name: "", size: 0, etag: "", lastModified: rfc1123).lastModifiedUnixSeconds
            .map(UTCDate.iso8601) ?? rfc1123
    }

    /// This process's peak resident set in MB from `/proc/self/status` (`VmHWM`), which, unlike `getrusage`'s
    /// `ru_maxrss`, starts afresh at `exec` (Linux carries the parent's figure over when a large process starts
    /// us); 0 where `/proc` is missing.
    static func peakResidentMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = line.split(separator: " ").compactMap({ Double($0) }).first
        else { return 0 }
        return JSONOutput.rounded(kilobytes / 1024, 1)
    }

    /// The SHA-256 of what a download wrote, read back from the file; nil (JSON null) when the target is not a
    /// regular file — `/dev/null`, a pipe or a terminal cannot be read back, and hashing what reading it gives
    /// (nothing, or someone else's bytes) would report a digest of bytes that were never downloaded.
    static func sha256(ofDownload path: String) throws -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return try sha256(ofFile: path)
    }

    /// Lower-case hex SHA-256 of a file, read 4 MiB at a time.
    static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ToolboxError(.invalidArgument, "cannot read '\(path)' to hash it")
        }
        defer { try? handle.close() }
        let digest = StreamingDigest(.sha256)
        while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty {
            data.withUnsafeBytes { digest.update($0) }
        }
        return AuthCrypto.hex(digest.finish())
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
final class ProgressBar: @unchecked Sendable {
    // @unchecked Sendable: `lastDraw` is guarded by `lock`.
    private let lock = Lock()
    private var lastDraw = 0.0
    private let started = MonotonicInstant.now()
    private let label: String

    init(label: String) { self.label = label }

    func update(_ progress: BlobTransferProgress) {
        let now = MonotonicInstant.now().seconds(since: started)
        let complete = progress.totalBytes.map { progress.bytesTransferred >= $0 } ?? false
        let draw: Bool = lock.withLock {
            guard complete || now - lastDraw >= 0.1 else { return false }
            lastDraw = now
            return true
        }
        guard draw else { return }
        let done = Double(progress.bytesTransferred)
        let rate = now > 0 ? done / 1e6 / now : 0
        var line = "\r\(label) "
        if let total = progress.totalBytes, total > 0 {
            let fraction = min(1, done / Double(total))
            let filled = Int(fraction * 30)
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            line += String(format: "%3.0f%% %.1f/%.1f MB", fraction * 100, done / 1e6, Double(total) / 1e6)
        } else {
            line += String(format: "%.1f MB", done / 1e6)
        }
        line += String(format: " %.1f MB/s", rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar's line.
    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
