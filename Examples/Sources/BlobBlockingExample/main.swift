// Blob Storage with blocking calls: for scripts and threads you own (never on a library callback queue).
import AzureBlobStorage
import ToolboxCore
import ExampleSupport
import Foundation

let account = try BlobAccount.start()
defer { account.stop() }
let blobs = try BlobContainer(connectionString: account.connectionString, containerName: account.container)

// A small upload is one Put Blob; names are cleaned up the way the Python toolbox does it.
let name = BlobNames.safe("  reports/#q3 summary.txt. ")          // "reports/q3 summary.txt"
var options = BlobUploadOptions()
options.contentType = "text/plain"
options.overwrite = true
let uploaded = try blobs.upload(name, data: Array("quarterly numbers".utf8), options: options)
print("uploaded", name, "etag", uploaded.etag)

// A file larger than one block goes as parallel blocks, read block by block; downloads come back as parallel
// ranges written in place.
let path = FileManager.default.temporaryDirectory.appendingPathComponent("blob-example.bin").path
try Data((0..<20_000_000).map { UInt8(truncatingIfNeeded: $0) }).write(to: URL(fileURLWithPath: path))
defer { try? FileManager.default.removeItem(atPath: path) }
var big = BlobUploadOptions()
big.overwrite = true
big.progress = { print("  uploaded \($0.bytesTransferred) of \($0.totalBytes ?? 0) bytes") }
print("blocks:", try blobs.upload("data/big.bin", from: .file(path: path), options: big).blockCount)
let downloaded = try blobs.download("data/big.bin", toFile: path + ".copy")
print("downloaded", downloaded.bytesWritten, "bytes")
try? FileManager.default.removeItem(atPath: path + ".copy")

for blob in try blobs.listAllBlobs(prefix: "reports/") { print("listed", blob.name, blob.size, blob.etag) }
print("read-only SAS URL for an hour:", try blobs.sasURL(for: name).exposedValue.prefix(60), "…")
switch Result(catching: { () throws(ToolboxError) in try blobs.properties(of: "missing.txt") }) {
case .failure(let error) where error.code == .resourceNotFound:
    print("missing.txt:", error.serviceCondition?.errorCode ?? "")
default:
    print("missing.txt exists?")
}
try blobs.deleteBlob(name)
try blobs.close()
