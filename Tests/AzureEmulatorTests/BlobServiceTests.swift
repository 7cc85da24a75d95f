import AzureAuth
import Foundation
import ToolboxCore
import ToolboxTransport
import XCTest

@testable import AzureEmulator

/// The Blob service's operations over the wire, signed with Shared Key.
final class BlobServiceTests: XCTestCase {
    func testContainerCreatePropertiesListAndDelete() throws {
        let emulator = try startBlobEmulator(containers: ["preset"])
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)

        let created = try blob.send("PUT", "/photos?restype=container", headers: [("x-ms-meta-Owner", "team-a")])
        XCTAssertEqual(created.status, 201)
        XCTAssertNotNil(created.headers.first(name: "ETag"))
        XCTAssertNotNil(created.headers.first(name: "Last-Modified"))
        XCTAssertNotNil(created.headers.first(name: "x-ms-request-id"))
        XCTAssertEqual(created.headers.first(name: "x-ms-version"), "2026-10-06")

        let again = try blob.send("PUT", "/photos?restype=container")
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(again.errorCode, "ContainerAlreadyExists")
        XCTAssertTrue(blob.text(again).contains("<Code>ContainerAlreadyExists</Code>"))

        let properties = try blob.send("GET", "/photos?restype=container")
        XCTAssertEqual(properties.status, 200)
        XCTAssertEqual(properties.headers.first(name: "x-ms-meta-Owner"), "team-a")
        XCTAssertEqual(try blob.send("HEAD", "/photos?restype=container").status, 200)
        let setMetadata = try blob.send("PUT", "/photos?restype=container&comp=metadata", headers: [("x-ms-meta-Stage", "two")])
        XCTAssertEqual(setMetadata.status, 200)
        XCTAssertNotEqual(setMetadata.headers.first(name: "ETag"), created.headers.first(name: "ETag"))
        let metadata = try blob.send("GET", "/photos?restype=container&comp=metadata")
        XCTAssertEqual(metadata.headers.first(name: "x-ms-meta-Stage"), "two")
        XCTAssertNil(metadata.headers.first(name: "x-ms-meta-Owner"))
        XCTAssertEqual(try blob.send("PUT", "/photos?restype=container&comp=metadata", headers: [("x-ms-meta-Owner", "team-a")]).status, 200)
        let account = try blob.send("GET", "/?restype=account&comp=properties")
        XCTAssertEqual(account.status, 200)
        XCTAssertEqual(account.headers.first(name: "x-ms-account-kind"), "StorageV2")

        let listed = blob.text(try blob.send("GET", "/?comp=list&include=metadata"))
        XCTAssertTrue(listed.contains("<Name>photos</Name>"), listed)
        XCTAssertTrue(listed.contains("<Name>preset</Name>"), listed)
        XCTAssertTrue(listed.contains("<Metadata><Owner>team-a</Owner></Metadata>"), listed)
        let filtered = blob.text(try blob.send("GET", "/?comp=list&prefix=pre"))
        XCTAssertFalse(filtered.contains("photos"))
        XCTAssertTrue(filtered.contains("<Prefix>pre</Prefix>"))
        let paged = blob.text(try blob.send("GET", "/?comp=list&maxresults=1"))
        XCTAssertTrue(paged.contains("<NextMarker>preset</NextMarker>"), paged)

        XCTAssertEqual(try blob.send("DELETE", "/photos?restype=container").status, 202)
        let gone = try blob.send("GET", "/photos?restype=container")
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(gone.errorCode, "ContainerNotFound")
        XCTAssertEqual(try blob.send("DELETE", "/photos?restype=container").errorCode, "ContainerNotFound")
        XCTAssertEqual(try blob.send("PUT", "/Bad_Name?restype=container").errorCode, "InvalidResourceName")
        XCTAssertEqual(try blob.send("PUT", "/ab?restype=container").errorCode, "OutOfRangeInput")
        XCTAssertEqual(try blob.send("PUT", "/$logs?restype=container").errorCode, "InvalidResourceName")
    }

    /// The container name is checked on every request, as on Azure: a malformed one is a 400 naming what is wrong
    /// whatever the operation, never a 404 that reads as "create it first".
    func testEveryRequestChecksTheContainerName() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let blockBlob = [("x-ms-blob-type", "BlockBlob")]
        for (name, code) in [("Photos", "InvalidResourceName"), ("my_files", "InvalidResourceName"),
                             ("a--b", "InvalidResourceName"), ("-abc", "InvalidResourceName"), ("ab", "OutOfRangeInput"),
                             (String(repeating: "a", count: 64), "OutOfRangeInput")] {
            for (method, path, headers, body) in [
                ("GET", "/\(name)?restype=container", [], []), ("DELETE", "/\(name)?restype=container", [], []),
                ("GET", "/\(name)?restype=container&comp=list", [], []), ("GET", "/\(name)/a.txt", [], []),
                ("HEAD", "/\(name)/a.txt", [], []), ("PUT", "/\(name)/a.txt", blockBlob, [1]), ("DELETE", "/\(name)/a.txt", [], []),
            ] as [(String, String, [(String, String)], [UInt8])] {
                let response = try blob.send(method, path, headers: headers, body: body)
                XCTAssertEqual(response.status, 400, "\(method) \(path)")
                XCTAssertEqual(response.errorCode, code, "\(method) \(path)")
            }
        }
        // Azure's own containers pass the check: absent here, they are simply not found.
        XCTAssertEqual(try blob.send("GET", "/$logs?restype=container").errorCode, "ContainerNotFound")
        XCTAssertEqual(try blob.send("GET", "/$web/index.html").errorCode, "ContainerNotFound")
        // `$root` may be created, and then holds blobs like any other container.
        XCTAssertEqual(try blob.send("PUT", "/$root?restype=container").status, 201)
        XCTAssertEqual(try blob.send("PUT", "/$root/top.txt", headers: blockBlob, body: [7]).status, 201)
        XCTAssertEqual(try blob.send("GET", "/$root/top.txt").body, [7])
        XCTAssertEqual(try blob.send("PUT", "/nope/a.txt", headers: [("x-ms-blob-type", "BlockBlob")], body: [1]).errorCode,
                       "ContainerNotFound")
    }

    func testPutGetHeadDeleteWithMetadataAndContentHeaders() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let body = Array("hello blob world\n".utf8)
        let md5 = AuthCrypto.base64(AuthCrypto.md5(body))

        let put = try blob.send("PUT", "/ctr/dir/small%20file.txt", headers: [
            ("x-ms-blob-type", "BlockBlob"), ("If-None-Match", "*"), ("Content-Type", "application/octet-stream"),
            ("x-ms-blob-content-type", "text/plain"), ("x-ms-blob-content-language", "en"),
            ("x-ms-blob-content-disposition", "attachment"), ("x-ms-blob-cache-control", "no-cache"),
            ("x-ms-blob-content-encoding", "identity"), ("x-ms-meta-Color", "blue"), ("Content-MD5", md5),
        ], body: body)
        XCTAssertEqual(put.status, 201, blob.text(put))
        XCTAssertEqual(put.headers.first(name: "Content-MD5"), md5)
        let etag = try XCTUnwrap(put.headers.first(name: "ETag"))

        let exists = try blob.send("PUT", "/ctr/dir/small%20file.txt", headers: [("x-ms-blob-type", "BlockBlob"), ("If-None-Match", "*")], body: body)
        XCTAssertEqual(exists.status, 409)
        XCTAssertEqual(exists.errorCode, "BlobAlreadyExists")

        let get = try blob.send("GET", "/ctr/dir/small%20file.txt")
        XCTAssertEqual(get.status, 200)
        XCTAssertEqual(get.body, body)
        XCTAssertEqual(get.headers.first(name: "ETag"), etag)
        XCTAssertEqual(get.headers.first(name: "Content-Type"), "text/plain")
        XCTAssertEqual(get.headers.first(name: "Content-Language"), "en")
        XCTAssertEqual(get.headers.first(name: "Content-Disposition"), "attachment")
        XCTAssertEqual(get.headers.first(name: "Cache-Control"), "no-cache")
        XCTAssertEqual(get.headers.first(name: "Content-Encoding"), "identity")
        XCTAssertEqual(get.headers.first(name: "Content-MD5"), md5)
        XCTAssertEqual(get.headers.first(name: "x-ms-meta-Color"), "blue")
        XCTAssertEqual(get.headers.first(name: "x-ms-blob-type"), "BlockBlob")

        let head = try blob.send("HEAD", "/ctr/dir/small%20file.txt")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers.first(name: "Content-Length"), String(body.count))
        XCTAssertTrue(head.body.isEmpty)

        let setMetadata = try blob.send("PUT", "/ctr/dir/small%20file.txt?comp=metadata", headers: [("x-ms-meta-Size", "small")])
        XCTAssertEqual(setMetadata.status, 200)
        XCTAssertNotEqual(setMetadata.headers.first(name: "ETag"), etag)
        let metadata = try blob.send("GET", "/ctr/dir/small%20file.txt?comp=metadata")
        XCTAssertEqual(metadata.headers.first(name: "x-ms-meta-Size"), "small")
        XCTAssertNil(metadata.headers.first(name: "x-ms-meta-Color"))
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/small%20file.txt?comp=metadata", headers: [("x-ms-meta-1bad", "x")]).errorCode,
                       "InvalidMetadata")

        let setProperties = try blob.send("PUT", "/ctr/dir/small%20file.txt?comp=properties", headers: [("x-ms-blob-content-type", "application/json")])
        XCTAssertEqual(setProperties.status, 200)
        let afterProperties = try blob.send("HEAD", "/ctr/dir/small%20file.txt")
        XCTAssertEqual(afterProperties.headers.first(name: "Content-Type"), "application/json")
        XCTAssertNil(afterProperties.headers.first(name: "Content-Language"))
        XCTAssertEqual(afterProperties.headers.first(name: "Content-MD5"), md5)

        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "dir/small file.txt"), body)
        let deleted = try blob.send("DELETE", "/ctr/dir/small%20file.txt")
        XCTAssertEqual(deleted.status, 202)
        XCTAssertEqual(deleted.headers.first(name: "x-ms-delete-type-permanent"), "true")
        let missing = try blob.send("DELETE", "/ctr/dir/small%20file.txt")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.errorCode, "BlobNotFound")
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/small%20file.txt").errorCode, "BlobNotFound")
        XCTAssertEqual(try blob.send("HEAD", "/ctr/dir/small%20file.txt").errorCode, "BlobNotFound")
        XCTAssertEqual(emulator.blobStoredBytes, 0)
    }

    func testContentMD5MismatchAndOtherBlobTypesAreRefused() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let wrong = AuthCrypto.base64(AuthCrypto.md5(Array("other".utf8)))
        let put = try blob.send("PUT", "/ctr/a", headers: [("x-ms-blob-type", "BlockBlob"), ("Content-MD5", wrong)], body: [1, 2, 3])
        XCTAssertEqual(put.status, 400)
        XCTAssertEqual(put.errorCode, "Md5Mismatch")
        let declared = try blob.send("PUT", "/ctr/a", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-blob-content-md5", wrong)], body: [1, 2, 3])
        XCTAssertEqual(declared.errorCode, "Md5Mismatch")
        let block = try blob.send("PUT", "/ctr/a?comp=block&blockid=QUFB", headers: [("Content-MD5", wrong)], body: [1, 2, 3])
        XCTAssertEqual(block.errorCode, "Md5Mismatch")
        XCTAssertEqual(try blob.send("PUT", "/ctr/a", headers: [("x-ms-blob-type", "AppendBlob")]).status, 400)
        XCTAssertEqual(try blob.send("PUT", "/ctr/a", body: [1]).errorCode, "MissingRequiredHeader")
        XCTAssertNil(emulator.blobContent(container: "ctr", blob: "a"))
    }

    func testPutBlockPutBlockListAndGetBlockList() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let parts = [blobPattern(1024, seed: 1), blobPattern(1024, seed: 2), blobPattern(772, seed: 3)]
        let ids = ["MDAwMDAx", "MDAwMDAy", "MDAwMDAz"]
        for (id, part) in zip(ids, parts) {
            let put = try blob.send("PUT", "/ctr/dir/blocky.bin?comp=block&blockid=\(id)", body: part)
            XCTAssertEqual(put.status, 201, blob.text(put))
        }
        let uncommitted = blob.text(try blob.send("GET", "/ctr/dir/blocky.bin?comp=blocklist&blocklisttype=all"))
        XCTAssertTrue(uncommitted.contains("<UncommittedBlocks><Block><Name>MDAwMDAx</Name><Size>1024</Size></Block>"), uncommitted)
        XCTAssertEqual(try blob.send("GET", "/ctr/dir/blocky.bin").status, 404, "uncommitted blocks are no blob yet")

        let badLength = try blob.send("PUT", "/ctr/dir/blocky.bin?comp=block&blockid=QUFBQUFBQUE=", body: [1])
        XCTAssertEqual(badLength.errorCode, "InvalidBlobOrBlock")

        let missing = "<?xml version='1.0' encoding='utf-8'?>\n<BlockList><Latest>MDAwMDA5</Latest></BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/blocky.bin?comp=blocklist", body: Array(missing.utf8)).errorCode, "InvalidBlockList")

        let list = "<?xml version='1.0' encoding='utf-8'?>\n<BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
        let commit = try blob.send("PUT", "/ctr/dir/blocky.bin?comp=blocklist", headers: [
            ("Content-Type", "application/xml"), ("x-ms-blob-content-type", "application/x-test"), ("x-ms-meta-Kind", "blocks"),
        ], body: Array(list.utf8))
        XCTAssertEqual(commit.status, 201, blob.text(commit))
        let whole = try blob.send("GET", "/ctr/dir/blocky.bin")
        XCTAssertEqual(whole.body, parts.flatMap { $0 })
        XCTAssertEqual(whole.headers.first(name: "Content-Type"), "application/x-test")
        XCTAssertEqual(whole.headers.first(name: "x-ms-meta-Kind"), "blocks")

        let committed = try blob.send("GET", "/ctr/dir/blocky.bin?comp=blocklist")
        XCTAssertEqual(committed.headers.first(name: "x-ms-blob-content-length"), "2820")
        XCTAssertTrue(blob.text(committed).contains("<CommittedBlocks><Block><Name>MDAwMDAx</Name><Size>1024</Size></Block>"))
        XCTAssertFalse(blob.text(committed).contains("UncommittedBlocks"))

        // Re-commit using one committed block and a new uncommitted one: the rest are dropped.
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/blocky.bin?comp=block&blockid=MDAwMDA0", body: [9, 9]).status, 201)
        let second = "<BlockList><Committed>MDAwMDAz</Committed><Uncommitted>MDAwMDA0</Uncommitted></BlockList>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/blocky.bin?comp=blocklist", body: Array(second.utf8)).status, 201)
        XCTAssertEqual(emulator.blobContent(container: "ctr", blob: "dir/blocky.bin"), parts[2] + [9, 9])
        XCTAssertEqual(emulator.blobStoredBytes, 774)
        XCTAssertEqual(try blob.send("PUT", "/ctr/dir/blocky.bin?comp=blocklist", body: Array("<BlockList><Committed>MDAwMDAx</Committed></BlockList>".utf8)).errorCode,
                       "InvalidBlockList", "blocks left out of the last commit are gone")
    }

    func testHostileXMLBodiesGetXMLErrors() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        let bodies = [
            #"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><BlockList><Latest>&lol2;</Latest></BlockList>"#,
            "<BlockList><Latest>unterminated",
            String(repeating: "<a>", count: 50) + String(repeating: "</a>", count: 50),
            "\u{0}\u{1}garbage",
            "<Other/>",
            "<BlockList><Bogus>x</Bogus></BlockList>",
        ]
        for body in bodies {
            let response = try blob.send("PUT", "/ctr/x?comp=blocklist", body: Array(body.utf8))
            XCTAssertEqual(response.status, 400, body)
            XCTAssertNotNil(response.errorCode, body)
        }
        XCTAssertEqual(try blob.send("PUT", "/ctr/x?comp=blocklist").status, 400, "empty body")
        let utf16: [UInt8] = [0xFF, 0xFE] + Array("<!DOCTYPE a [<!ENTITY x \"y\">]><BlockList/>".utf8).flatMap { byte -> [UInt8] in [byte, 0] }
        XCTAssertEqual(try blob.send("PUT", "/ctr/x?comp=blocklist", body: utf16).errorCode, "InvalidXmlDocument")
        let hidden = "<!--" + String(repeating: " ", count: 70_000) + "--><!DOCTYPE a><BlockList/>"
        XCTAssertEqual(try blob.send("PUT", "/ctr/x?comp=blocklist", body: Array(hidden.utf8)).errorCode, "InvalidXmlDocument")
    }

    func testListBlobsWithPrefixDelimiterMetadataAndPaging() throws {
        let emulator = try startBlobEmulator()
        defer { emulator.stop() }
        let blob = try BlobTestClient(emulator: emulator)
        for name in ["a.txt", "dir/one.txt", "dir/two.txt", "dir/sub/three.txt", "other/x.txt", "z&<>.txt"] {
            let path = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "&"))) ?? name
            XCTAssertEqual(try blob.send("PUT", "/ctr/\(path)", headers: [("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-N", "v")],
                                         body: Array(name.utf8)).status, 201, name)
        }
        let prefixed = blob.text(try blob.send("GET", "/ctr?restype=container&comp=list&prefix=dir/"))
        XCTAssertTrue(prefixed.contains(#"ContainerName="ctr""#))
        XCTAssertTrue(prefixed.contains("<Prefix>dir/</Prefix>"))
        XCTAssertTrue(prefixed.contains("<Name>dir/one.txt</Name>") && prefixed.contains("<Name>dir/sub/three.txt</Name>"))
        XCTAssertFalse(prefixed.contains("other/x.txt"))
        XCTAssertTrue(prefixed.contains("<NextMarker />"))
        XCTAssertTrue(prefixed.contains("<Content-Length>11</Content-Length>"))

        let hierarchy = blob.text(try blob.send("GET", "/ctr?restype=container&comp=list&delimiter=/&include=metadata"))
        XCTAssertTrue(hierarchy.contains("<Delimiter>/</Delimiter>"))
        XCTAssertTrue(hierarchy.contains("<Name>a.txt</Name>"))
        XCTAssertTrue(hierarchy.contains("<BlobPrefix><Name>dir/</Name></BlobPrefix>"))
        XCTAssertTrue(hierarchy.contains("<BlobPrefix><Name>other/</Name></BlobPrefix>"))
        XCTAssertTrue(hierarchy.contains("<Name>z&amp;&lt;&gt;.txt</Name>"), hierarchy)
        XCTAssertTrue(hierarchy.contains("<Metadata><N>v</N></Metadata>"))
        XCTAssertFalse(hierarchy.contains("dir/one.txt"))
        let nested = blob.text(try blob.send("GET", "/ctr?restype=container&comp=list&delimiter=/&prefix=dir/"))
        XCTAssertTrue(nested.contains("<Name>dir/one.txt</Name>") && nested.contains("<BlobPrefix><Name>dir/sub/</Name></BlobPrefix>"))

        // Pages of two, following NextMarker, visit every entry once in order.
        var seen: [String] = []
        var marker: String?
        repeat {
            var query = "/ctr?restype=container&comp=list&maxresults=2&delimiter=/"
            if let marker { query += "&marker=" + (marker.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
            let page = blob.text(try blob.send("GET", query))
            seen += page.components(separatedBy: "<Name>").dropFirst().map { String($0.prefix { $0 != "<" }) }
            let next = page.components(separatedBy: "<NextMarker>").dropFirst().first.map { String($0.prefix { $0 != "<" }) }
            marker = next.map { $0.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">") }
        } while marker != nil
        XCTAssertEqual(seen, ["a.txt", "dir/", "other/", "z&amp;&lt;&gt;.txt"])
        XCTAssertEqual(try blob.send("GET", "/ctr?restype=container&comp=list&maxresults=0").errorCode, "OutOfRangeQueryParameterValue")
        XCTAssertEqual(emulator.blobNames(in: "ctr")?.count, 6)
    }
}
