import ArgumentParser
import AzureBlobStorage
import Foundation
import ToolboxCore

/// `toolbox bench blob --operation upload|download --size BYTES [--count N] [--concurrency K]`
struct BenchBlobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blob",
        abstract: "Upload or download blobs of one size; prints {operation, size, count, mb_per_sec, p50_ms, "
            + "p99_ms, errors, max_rss_mb}.",
        discussion: "Uploads go to bench-<run>/<n> (overwritten, deleted afterwards); downloads read one blob of "
            + "--size uploaded first, into memory. mb_per_sec counts 10^6 bytes of successful operations per "
            + "second of wall time; max_rss_mb is this process's peak resident set (getrusage; Linux carries a large parent's figure over exec), peak_rss_mb the same from /proc (VmHWM). "
            + "With --file PATH the bytes stream: uploads read PATH (--size must be its length), downloads write "
            + "PATH.<n> (removed after each one), so memory stays within block size × parallelism.")

    enum Operation: String, ExpressibleByArgument { case upload, download }

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "upload or download") var operation: Operation
    @Option(help: "Bytes per blob") var size: Int
    @Option(help: "Operations to run") var count = 10
    @Option(help: "Operations in flight at once") var concurrency = 1
    @Option(help: "Stream from/to files: upload PATH (of --size bytes), download to PATH.<n>") var file: String?
    @Option(help: "Untimed operations before measuring (default 0); warm-up uploads go to bench-<run>/warm-<n>")
    var warmup = 0

    func validate() throws {
        guard size >= 0, size <= 4 << 30 else { throw ValidationError("--size must be 0...4 GiB") }
        guard count >= 1 else { throw ValidationError("--count must be >= 1") }
        guard (0...10_000).contains(warmup) else { throw ValidationError("--warmup must be 0...10000") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1...1024") }
        if let file, operation == .upload {
            let length = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
            guard length == Int64(size) else {
                throw ValidationError("--file \(file) must exist and hold exactly --size (\(size)) bytes")
            }
        }
    }

    func run() throws {
        try BlobCLI.run {
            let client = try common.makeClient()
            let run = UUID().uuidString.prefix(8).lowercased()
            let file = self.file
            // Streaming from a file keeps the payload out of memory, so max RSS shows the client's own buffers.
            var payload = [UInt8](repeating: 0, count: file == nil ? size : 0)
            for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
            let data = payload
            let source: BlobUploadSource = file.map { .file(path: $0) } ?? .bytes(data)
            let expected = Int64(size)
            var uploadOptions = BlobUploadOptions()
            uploadOptions.overwrite = true
            let options = uploadOptions
            let sourceName = "bench-\(run)/source"
            if operation == .download {
                if file == nil {
                    _ = try client.upload(sourceName, from: source, options: options)
                } else {
                    // A file was not given for the download's source blob: stream a pattern of --size bytes.
                    _ = try client.upload(sourceName, from: BenchBlobCommand.patternStream(size: size), options: options)
                }
            }
            let transfer: @Sendable (String, @escaping @Sendable (String?) -> Void) -> Void = { label, done in
                switch operation {
                case .upload:
                    client.upload("bench-\(run)/\(label)", from: source, options: options) { result in
                        done(result.failure.map { "\($0)" })
                    }
                case .download:
                    if let file {
                        let path = "\(file).\(label)"
                        client.download(sourceName, toFile: path) { result in
                            unlink(path)
                            switch result {
                            case .failure(let error): done("\(error)")
                            case .success(let written) where written.bytesWritten != expected:
                                done("downloaded \(written.bytesWritten) bytes, expected \(expected)")
                            case .success: done(nil)
                            }
                        }
                        return
                    }
                    client.download(sourceName) { result in
                        switch result {
                        case .failure(let error): done("\(error)")
                        case .success(let downloaded) where downloaded.content.count != data.count:
                            done("downloaded \(downloaded.content.count) bytes, expected \(data.count)")
                        case .success: done(nil)
                        }
                    }
                }
            }
            if warmup > 0 {
                let warm = ClosedLoopLoad.run(count: warmup, concurrency: concurrency) { index, done in
                    transfer("warm-\(index)", done)
                }
                if let error = warm.lastError { JSONOutput.printError("warm-up: \(error)") }
            }
            let cpuBefore = BenchBlobCommand.cpuSeconds()
            let outcome = ClosedLoopLoad.run(count: count, concurrency: concurrency) { index, done in
                transfer("\(index)", done)
            }
            let cpu = BenchBlobCommand.cpuSeconds() - cpuBefore
            let megabytes = Double(size) * Double(outcome.succeeded) / 1e6
            // Best-effort clean-up of what the run wrote.
            let written = operation == .upload
                ? (0..<count).map { "bench-\(run)/\($0)" } + (0..<warmup).map { "bench-\(run)/warm-\($0)" }
                : [sourceName]
            for name in written { try? client.deleteBlob(name) }
            try? client.close()
            if let lastError = outcome.lastError { JSONOutput.printError("last error: \(lastError)") }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            JSONOutput.printLine([
                "operation": operation.rawValue, "size": size, "count": count, "concurrency": concurrency,
                "mb_per_sec": BlobCLI.megabytesPerSecond(Int64(size) * Int64(outcome.succeeded), outcome.seconds),
                "p50_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.5)) / 1e6),
                "p99_ms": JSONOutput.rounded(Double(outcome.histogram.percentile(0.99)) / 1e6),
                "errors": outcome.failed, "max_rss_mb": JSONOutput.rounded(Double(usage.ru_maxrss) / 1024, 1),
                "seconds": JSONOutput.rounded(outcome.seconds), "peak_rss_mb": BlobCLI.peakResidentMegabytes(),
                "streamed": file != nil, "cpu_seconds": JSONOutput.rounded(cpu, 3),
                "cpu_ms_per_mb": JSONOutput.rounded(megabytes > 0 ? cpu * 1000 / megabytes : 0, 3),
            ])
            if outcome.failed > 0 { throw ExitCode(1) }
        }
    }
}

extension BenchBlobCommand {
    /// User + system CPU seconds of this process so far (the timed transfers only, when taken before and after).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// `size` bytes of the bench's pattern, produced 1 MiB at a time (never held whole).
    static func patternStream(size: Int) -> BlobUploadSource {
        let produced = LockedValue(0)
        return .stream(length: Int64(size)) { deliver in
            let piece = produced.withLockedValue { done -> [UInt8]? in
                guard done < size else { return nil }
                let count = min(1 << 20, size - done)
                defer { done += count }
                return (0..<count).map { UInt8(truncatingIfNeeded: (done + $0) &* 31 &+ 7) }
            }
            deliver(.success(piece))
        }
    }
}
