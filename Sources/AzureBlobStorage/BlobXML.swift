import AzureAuth
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ToolboxCore

/// A small element tree read with Foundation's `XMLParser` (libxml2): what Blob listings, user delegation keys
/// and error bodies need. External entities are not resolved, and size, depth and attributes per element are
/// bounded, so a hostile body gives an error, never a crash, a runaway allocation or minutes of CPU.
struct BlobXMLNode: Sendable {
    var name: String
    var attributes: [String: String]
    var children: [BlobXMLNode]
    var text: String

    /// The first child called `name`.
    func child(_ name: String) -> BlobXMLNode? { children.first { $0.name == name } }

    /// The text of the first child called `name`, or nil when there is none.
    func childText(_ name: String) -> String? { child(name)?.text }

    /// The most attributes one element may have. Blob Storage's documents have at most two; libxml2 checks each
    /// attribute of an element against all the others, so an element with hundreds of thousands of them costs
    /// minutes of CPU (quadratic) before a single parser event.
    static let maxAttributesPerElement = 64

    /// Parses `bytes`; nil when they are not well-formed XML within the limits.
    static func parse(_ bytes: [UInt8], maxDepth: Int = 32, maxElements: Int = 1_000_000) -> BlobXMLNode? {
        try? parsing(bytes, maxDepth: maxDepth, maxElements: maxElements)
    }

    /// Parses `bytes`; throws `.invalidResponse` saying why they are not well-formed XML within the limits.
    static func parsing(_ bytes: [UInt8], maxDepth: Int = 32, maxElements: Int = 1_000_000)
        throws(ToolboxError) -> BlobXMLNode
    {
        // The service sends UTF-8 without a document type declaration; a DTD is where entity expansion (a billion
        // laughs) and external entities live, so none is handed to libxml2, whatever its own limits are. (UTF-16 or
        // UTF-32, with their NUL bytes, could spell the declaration in a way this check does not see.)
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw ToolboxError(.invalidResponse, "the body is not UTF-8 text")
        }
        guard !text.lowercased().contains("<!doctype") else {
            throw ToolboxError(.invalidResponse, "the body has a document type declaration")
        }
        if let count = XMLAttributeScan.firstElementOver(maxAttributesPerElement, in: bytes) {
            throw ToolboxError(.invalidResponse, "an element has more than \(maxAttributesPerElement) attributes "
                + "(at least \(count))")
        }
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        let builder = XMLTreeBuilder(maxDepth: maxDepth, maxElements: maxElements)
        parser.delegate = builder
        let parsed = parser.parse()
        if builder.exceeded {
            throw ToolboxError(.invalidResponse, "the document is deeper than \(maxDepth) elements or has more than "
                + "\(maxElements) elements")
        }
        guard parsed, let root = builder.root else {
            let line = parser.lineNumber
            throw ToolboxError(.invalidResponse, "the body is not well-formed XML (line \(line))")
        }
        return root
    }
}

/// A linear pass over an XML document's markup that counts the attributes of each start tag, so that a document
/// libxml2 would take quadratic time over is refused first. It follows comments, CDATA sections, processing
/// instructions and quoted values only as far as needed to find where tags are; the parser checks the rest.
enum XMLAttributeScan {
    /// The attribute count (`limit` + 1) of the first element with more than `limit` attributes, or nil.
    static func firstElementOver(_ limit: Int, in bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            let count = buffer.count
            var index = 0
            /// The index just past the first `terminator` at or after `from`, or `count`.
            func skip(past terminator: StaticString, from: Int) -> Int {
                let pattern = UnsafeBufferPointer(start: terminator.utf8Start, count: terminator.utf8CodeUnitCount)
                var at = from
                while at + pattern.count <= count {
                    if buffer[at] == pattern[0] {
                        var match = true
                        for offset in 1..<pattern.count where buffer[at + offset] != pattern[offset] {
                            match = false
                            break
                        }
                        if match { return at + pattern.count }
                    }
                    at += 1
                }
                return count
            }
            func starts(with prefix: StaticString, at: Int) -> Bool {
                let pattern = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
                guard at + pattern.count <= count else { return false }
                for offset in 0..<pattern.count where buffer[at + offset] != pattern[offset] { return false }
                return true
            }
            while index < count {
                guard buffer[index] == UInt8(ascii: "<") else {
                    index += 1
                    continue
                }
                if starts(with: "<!--", at: index) {
                    index = skip(past: "-->", from: index + 4)
                } else if starts(with: "<![CDATA[", at: index) {
                    index = skip(past: "]]>", from: index + 9)
                } else if starts(with: "<?", at: index) {
                    index = skip(past: "?>", from: index + 2)
                } else {
                    // A start tag (or an end tag, or a declaration): each quoted value is one attribute.
                    var attributes = 0
                    index += 1
                    while index < count {
                        let byte = buffer[index]
                        if byte == UInt8(ascii: ">") {
                            index += 1
                            break
                        }
                        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                            attributes += 1
                            if attributes > limit { return attributes }
                            index += 1
                            while index < count, buffer[index] != byte { index += 1 }
                        }
                        index += 1
                    }
                }
            }
            return nil
        }
    }
}

/// Collects the parser's events into `BlobXMLNode`s.
private final class XMLTreeBuilder: NSObject, XMLParserDelegate {
    var stack: [BlobXMLNode] = []
    var root: BlobXMLNode?
    var exceeded = false
    private var count = 0
    private let maxDepth: Int
    private let maxElements: Int

    init(maxDepth: Int, maxElements: Int) {
        self.maxDepth = maxDepth
        self.maxElements = maxElements
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        count += 1
        if stack.count >= maxDepth || count > maxElements {
            exceeded = true
            parser.abortParsing()
            return
        }
        stack.append(BlobXMLNode(name: elementName, attributes: attributeDict, children: [], text: ""))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        guard let done = stack.popLast() else { return }
        if stack.isEmpty {
            root = done
        } else {
            stack[stack.count - 1].children.append(done)
        }
    }
}

/// The Blob service's XML bodies.
enum BlobXML {
    /// `List Blobs` → a page. Throws `.invalidResponse` naming what was wrong.
    static func listPage(_ body: [UInt8]) throws(ToolboxError) -> BlobListPage {
        let root: BlobXMLNode
        do {
            root = try BlobXMLNode.parsing(body)
        } catch {
            throw ToolboxError(.invalidResponse, "the List Blobs answer is refused: \(error.message)")
        }
        guard root.name == "EnumerationResults" else {
            throw ToolboxError(.invalidResponse, "the List Blobs answer is not an <EnumerationResults> XML document")
        }
        var blobs: [BlobProperties] = []
        for blob in root.child("Blobs")?.children ?? [] where blob.name == "Blob" {
            guard let nameElement = blob.child("Name") else {
                throw ToolboxError(.invalidResponse, "a <Blob> in the List Blobs answer has no <Name>")
            }
            var name = nameElement.text
            if nameElement.attributes["Encoded"] == "true" { name = PercentEncoding.unquote(name) }
            let properties = blob.child("Properties")
            let lengthText = properties?.childText("Content-Length") ?? "0"
            guard let size = Int64(lengthText.trimmingCharacters(in: .whitespaces)), size >= 0 else {
                throw ToolboxError(.invalidResponse, "blob '\(name)' has a Content-Length that is not a size: "
                    + "'\(lengthText.prefix(40))'")
            }
            var metadata: [String: String] = [:]
            for entry in blob.child("Metadata")?.children ?? [] { metadata[entry.name] = entry.text }
            blobs.append(BlobProperties(
                name: name, size: size, etag: properties?.childText("Etag") ?? "",
                lastModified: nonEmpty(properties?.childText("Last-Modified")),
                creationTime: nonEmpty(properties?.childText("Creation-Time")),
                contentType: nonEmpty(properties?.childText("Content-Type")),
                contentMD5: nonEmpty(properties?.childText("Content-MD5")),
                contentEncoding: nonEmpty(properties?.childText("Content-Encoding")),
                contentLanguage: nonEmpty(properties?.childText("Content-Language")),
                cacheControl: nonEmpty(properties?.childText("Cache-Control")),
                contentDisposition: nonEmpty(properties?.childText("Content-Disposition")),
                blobType: nonEmpty(properties?.childText("BlobType")),
                accessTier: nonEmpty(properties?.childText("AccessTier")), metadata: metadata))
        }
        return BlobListPage(blobs: blobs, nextMarker: nonEmpty(root.childText("NextMarker")))
    }

    /// `Get User Delegation Key` → the key. Throws `.invalidResponse` when a field is missing.
    static func userDelegationKey(_ body: [UInt8]) throws(ToolboxError) -> UserDelegationKey {
        guard let root = BlobXMLNode.parse(body), root.name == "UserDelegationKey" else {
            throw ToolboxError(.invalidResponse, "the Get User Delegation Key answer is not a <UserDelegationKey>")
        }
        func field(_ name: String) throws(ToolboxError) -> String {
            guard let value = nonEmpty(root.childText(name)) else {
                throw ToolboxError(.invalidResponse, "the user delegation key has no <\(name)>")
            }
            return value
        }
        return UserDelegationKey(
            signedObjectID: try field("SignedOid"), signedTenantID: try field("SignedTid"),
            signedStart: secondPrecision(try field("SignedStart")),
            signedExpiry: secondPrecision(try field("SignedExpiry")), signedService: try field("SignedService"),
            signedVersion: try field("SignedVersion"),
            signedDelegatedUserTenantID: nonEmpty(root.childText("SignedDelegatedUserTid")),
            value: Secret(try field("Value")))
    }

    /// The `<KeyInfo>` body of a Get User Delegation Key request.
    static func keyInfo(start: Int, expiry: Int) -> [UInt8] {
        Array(("<?xml version='1.0' encoding='utf-8'?>\n<KeyInfo><Start>\(UTCDate.iso8601(start))</Start>"
            + "<Expiry>\(UTCDate.iso8601(expiry))</Expiry></KeyInfo>").utf8)
    }

    /// The `<BlockList>` body of Put Block List.
    static func blockList(_ ids: [String]) -> [UInt8] {
        var text = "<?xml version='1.0' encoding='utf-8'?>\n<BlockList>"
        for id in ids { text += "<Latest>\(id)</Latest>" }
        return Array((text + "</BlockList>").utf8)
    }

    /// `<Error><Code>…</Code><Message>…</Message></Error>` → (code, message), when the body is one.
    static func error(_ body: [UInt8]) -> (code: String?, message: String?) {
        guard !body.isEmpty, let root = BlobXMLNode.parse(body, maxElements: 100), root.name == "Error" else {
            return (nil, nil)
        }
        return (nonEmpty(root.childText("Code")), nonEmpty(root.childText("Message")))
    }

    /// The SDK re-formats the key's dates to whole seconds before signing (`%Y-%m-%dT%H:%M:%SZ`); so do we.
    static func secondPrecision(_ iso: String) -> String {
        UTCDate.parseISO8601(iso).map(UTCDate.iso8601) ?? iso
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
