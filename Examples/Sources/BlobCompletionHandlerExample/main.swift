// Blob Storage with completion handlers: the core API; nothing blocks a thread of the library.
import AzureBlobStorage
import Dispatch
import ExampleSupport

let account = try BlobAccount.start()
defer { account.stop() }
// The managed client keeps warm connections shared by every caller.
var clientOptions = BlobClientOptions()
clientOptions.pool.minReady = 2
let blobs = try ManagedBlobContainer(connectionString: account.connectionString, containerName: account.container,
                                     options: clientOptions)
let queue = DispatchQueue(label: "example.callbacks")
let done = DispatchSemaphore(value: 0)

var options = BlobUploadOptions()
options.overwrite = true
blobs.upload("callbacks/hello.txt", from: .bytes(Array("hello".utf8)), options: options, timeout: .seconds(30),
             queue: queue) { result in
    switch result {
    case .failure(let error):
        print("upload failed:", error)
        done.signal()
    case .success(let uploaded):
        print("uploaded, etag", uploaded.etag)
        blobs.downloadChunks("callbacks/hello.txt", options: .init(), timeout: .seconds(30), queue: queue,
                             onChunk: { print("chunk:", String(decoding: $0, as: UTF8.self)) }) { result in
            print("download:", (try? result.get().size).map { "\($0) bytes" } ?? "failed")
            let handle = blobs.listBlobs(prefix: "callbacks/", pageSize: 10, marker: nil, timeout: .seconds(30),
                                         queue: queue) { page in
                print("listed:", (try? page.get().blobs.map(\.name)) ?? [])
                done.signal()
            }
            _ = handle  // handle.cancel() would deliver .cancelled instead
        }
    }
}
done.wait()
print("pool:", blobs.poolSnapshot.map { "\($0.ready) ready, \($0.creates) created" } ?? "-")
try blobs.close()
