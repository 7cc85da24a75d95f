import ArgumentParser
import AzureAuth
import AzureBlobStorage
import Foundation
import ToolboxCore

/// `toolbox blob ...`: Blob Storage commands on one container.
struct BlobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blob",
        abstract: "Upload, download, list, delete and sign blobs in one container (Azure or the emulator).",
        discussion: #"Errors: exit status 1 and {"error": {"status": S, "code": "…", "message": "…"}} on stdout "#
            + "(status 0 when no HTTP answer was involved), the reason on stderr.",
        subcommands: [BlobUpload.self, BlobDownload.self, BlobList.self, BlobDelete.self, BlobUploadFromURL.self,
                      BlobSASCommand.self])
}

/// `toolbox blob upload --name N --file PATH [--block-size BYTES] [--concurrency K] [--overwrite]`
struct BlobUpload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload", abstract: #"Upload a file; prints {"name", "size", "etag", "seconds", "mb_per_sec"}."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Blob name") var name: String
    @Option(help: "File to upload (read block by block)") var file: String
    @Option(name: .customLong("block-size"), help: "Bytes per block (files larger than one block go as blocks)")
    var blockSize: Int?
    @Option(help: "Blocks in flight at once") var concurrency: Int?
    @Flag(help: "Replace the blob if it exists (otherwise an existing blob is a 409 error)") var overwrite = false
    @Option(name: .customLong("content-type"), help: "Content-Type to store") var contentType: String?

    func run() throws {
        try common.withClient(transfer: { transfer in
            if let blockSize {
                transfer.blockSize = blockSize
                transfer.singlePutThreshold = blockSize
            }
            if let concurrency { transfer.concurrency = concurrency }
        }) { client in
            var options = BlobUploadOptions()
            options.overwrite = overwrite
            if let contentType { options.contentType = contentType }
            let (result, seconds) = try common.timedTransfer("upload \(name)") { progress in
                options.progress = progress
                return try client.upload(name, from: .file(path: file), options: options)
            }
            BlobCLI.printTransfer(name: name, size: result.size, etag: result.etag, seconds: seconds,
                                  extra: ["blocks": result.blockCount])
        }
    }
}

/// `toolbox blob download --name N --file PATH [--range START-END] [--concurrency K]`
struct BlobDownload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: #"Download to a file; prints {"name", "size", "sha256", "seconds", "mb_per_sec"}."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Blob name") var name: String
    @Option(help: "File to write (created, or replaced once the blob answers; removed if the download fails after that; a pipe gets the bytes in order)") var file: String
    @Option(help: "Bytes START-END (inclusive; END may be left out: to the end)") var range: String?
    @Option(help: "Ranges in flight at once") var concurrency: Int?
    @Option(name: .customLong("chunk-size"), help: "Bytes per ranged GET") var chunkSize: Int?

    func parsedRange() throws -> BlobRange? {
        guard let range else { return nil }
        let parts = range.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), start >= 0 else {
            throw ValidationError("--range must be START-END or START- (bytes, inclusive)")
        }
        if parts[1].isEmpty { return BlobRange(offset: start) }
        guard let end = Int64(parts[1]), end >= start else {
            throw ValidationError("--range END must be a number not below START")
        }
        // END - START + 1 overflows for 0-9223372036854775807: checked, not trapped.
        let span = end.subtractingReportingOverflow(start)
        let length = span.partialValue.addingReportingOverflow(1)
        guard !span.overflow, !length.overflow else {
            throw ValidationError("--range \(range) spans more bytes than a 64-bit length can count")
        }
        return BlobRange(offset: start, length: length.partialValue)
    }

    func validate() throws { _ = try parsedRange() }

    func run() throws {
        let blobRange = try parsedRange()
        try common.withClient(transfer: { transfer in
            if let concurrency { transfer.concurrency = concurrency }
            if let chunkSize { transfer.chunkSize = chunkSize }
        }) { client in
            var options = BlobDownloadOptions()
            options.range = blobRange
            let (result, seconds) = try common.timedTransfer("download \(name)") { progress in
                options.progress = progress
                return try client.download(name, toFile: file, options: options)
            }
            BlobCLI.printTransfer(name: name, size: result.bytesWritten, etag: result.properties.etag, seconds: seconds,
                                  extra: ["sha256": try BlobCLI.sha256(ofDownload: file) ?? NSNull(),
                                          "blob_size": result.properties.size])
        }
    }
}

/// `toolbox blob list [--prefix P] [--page-size K] [--timeout SECONDS]`
struct BlobList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: #"List blobs; prints {"name", "size", "etag", "last_modified"} per blob, then {"count": N}."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Only names starting with this") var prefix: String?
    @Option(name: .customLong("page-size"), help: "Blobs per request (1...5000)") var pageSize: Int?
    @Option(help: "Seconds the whole listing may take, every page and retry included (default: no limit)")
    var timeout: Double?

    func validate() throws {
        if let timeout { _ = try Duration(cliSeconds: timeout, flag: "--timeout") }
    }

    func run() throws {
        let limit = try timeout.map { seconds throws(ValidationError) in
            try Duration(cliSeconds: seconds, flag: "--timeout")
        }
        let started = MonotonicInstant.now()
        /// What is left of `--timeout` (nil: no limit).
        func left() -> Duration? {
            limit.map { $0 - .milliseconds(Int64(MonotonicInstant.now().seconds(since: started) * 1000)) }
        }
        try common.withClient { client in
            var count = 0
            var markers = BlobListingMarkers(start: nil)
            func timedOut(_ cause: ToolboxError?) -> ToolboxError {
                ToolboxError(.timedOut, "the listing did not end within --timeout \(timeout?.secondsText ?? "") s "
                    + "(\(markers.pages) pages, \(count) blobs listed)" + (cause.map { ": \($0.message)" } ?? ""),
                    underlying: cause)
            }
            repeat {
                var pageTimeout = BlobTimeouts.request
                if let left = left() {
                    guard left > .zero else { throw timedOut(nil) }
                    pageTimeout = min(pageTimeout, left)
                }
                let page: BlobListPage
                do {
                    page = try client.listBlobs(prefix: prefix, pageSize: pageSize, marker: markers.current,
                                                timeout: pageTimeout)
                } catch let error as ToolboxError where error.code == .timedOut
                    && (left().map { $0 <= .zero } ?? false) {
                    throw timedOut(error)
                }
                // Before printing: a page naming a marker already followed is a loop, refused before its blobs.
                _ = try markers.advance(past: page)
                for blob in page.blobs {
                    JSONOutput.printLine([
                        "name": blob.name, "size": blob.size, "etag": blob.etag,
                        "last_modified": BlobCLI.iso8601(blob.lastModified),
                        "content_type": blob.contentType ?? "",
                    ])
                }
                count += page.blobs.count
            } while markers.current != nil
            JSONOutput.printLine(["count": count])
        }
    }
}

private extension Double {
    /// `1` for 1.0, `0.5` for 0.5: seconds as they were likely typed.
    var secondsText: String { rounded() == self && abs(self) < 1e15 ? String(Int64(self)) : String(self) }
}

/// `toolbox blob delete --name N`
struct BlobDelete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: #"Delete a blob; prints {"deleted": true}."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Blob name") var name: String

    func run() throws {
        try common.withClient { client in
            try client.deleteBlob(name)
            JSONOutput.printLine(["deleted": true])
        }
    }
}

/// `toolbox blob upload-from-url --name N --source-url URL`
struct BlobUploadFromURL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload-from-url",
        abstract: #"Create a blob from a URL (Put Blob From URL); prints {"name", "etag"}."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Blob name") var name: String
    @Option(name: .customLong("source-url"), help: "Source URL (may carry a SAS)") var sourceURL: String
    @Flag(name: .customLong("no-overwrite"), help: "Fail with 409 if the blob exists (default: replace it)")
    var noOverwrite = false

    func run() throws {
        try common.withClient { client in
            let result = try client.upload(name, fromURL: sourceURL, overwrite: !noOverwrite)
            JSONOutput.printLine(["name": name, "etag": result.etag])
        }
    }
}

/// `toolbox blob sas --name N [--expiry-seconds S] [--permissions r] [--user-delegation]`
struct BlobSASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sas",
        abstract: #"Sign a SAS URL for one blob; prints {"url", "expires_on"} (expires_on in UNIX seconds)."#)

    @OptionGroup var common: BlobCommonOptions
    @Option(help: "Blob name") var name: String
    @Option(name: .customLong("expiry-seconds"), help: "Seconds until the SAS expires") var expirySeconds = 3600
    @Option(help: "Permission letters (r, rw, racwd …)") var permissions = "r"
    @Flag(name: .customLong("user-delegation"),
          help: "Sign with a user delegation key (needs --account-url and --credential)")
    var userDelegation = false

    func run() throws {
        try common.withClient { client in
            var options = BlobSASOptions()
            options.permissions = permissions
            options.expiresIn = .seconds(expirySeconds)
            options.useUserDelegationKey = userDelegation
            let signed = try client.sas(for: [name], options: options)
            guard let sas = signed.first else { throw ToolboxError(.invalidResponse, "no SAS was signed") }
            JSONOutput.printLine([
                "url": sas.url.exposedValue, "expires_on": sas.expiresOn,
                "expires_on_iso": UTCDate.iso8601(sas.expiresOn),
            ])
        }
    }
}
