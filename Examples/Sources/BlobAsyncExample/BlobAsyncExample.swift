// Blob Storage with async/await, from the AzureClientsToolboxAsync shim; Task cancellation cancels the request.
import AzureBlobStorage
import AzureClientsToolboxAsync
import ExampleSupport

@main
struct BlobAsyncExample {
    static func main() async throws {
        let account = try BlobAccount.start()
        defer { account.stop() }
        let blobs: any BlobContainerOperations = try BlobContainer(connectionString: account.connectionString,
                                                                   containerName: account.container)
        var options = BlobUploadOptions()
        options.overwrite = true
        options.metadata = ["style": "async"]
        let uploaded = try await blobs.upload("async/note.txt", data: Array("awaited".utf8), options: options)
        print("uploaded, etag", uploaded.etag)
        let properties = try await blobs.properties(of: "async/note.txt")
        print("metadata:", properties.metadata)
        for try await chunk in blobs.chunks(of: "async/note.txt") { print("chunk:", String(decoding: chunk, as: UTF8.self)) }
        let sas = try await blobs.sas(for: ["async/note.txt"])
        print("SAS expires at", sas[0].expiresOn)
        try await blobs.deleteBlob("async/note.txt")
        await blobs.close()
    }
}
