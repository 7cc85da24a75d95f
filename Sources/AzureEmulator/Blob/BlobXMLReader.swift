import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element: name, text and children. Enough for the request bodies the Blob API takes
/// (`<BlockList>`, `<KeyInfo>`), read with Foundation's XMLParser.
struct BlobXMLElement: Sendable, Equatable {
    var name: String
    var text = ""
    var children: [BlobXMLElement] = []

    func child(_ name: String) -> BlobXMLElement? { children.first { $0.name == name } }
}

/// Parses small, hostile-safe XML request bodies: no DTDs or entity declarations (billion-laughs and external
/// entities are refused before parsing), bounded depth, element count and text length.
enum BlobXMLReader {
    struct Limits {
        var maxDepth = 8
        var maxElements = 200_000
        var maxTextBytes = 4096
    }

    /// The document's root element, or why the body is not acceptable XML.
    static func parse(_ body: [UInt8], limits: Limits = Limits()) -> Result<BlobXMLElement, BlobError> {
        let invalid = { (why: String) in
            Result<BlobXMLElement, BlobError>.failure(BlobError(400, "InvalidXmlDocument", "XML specified is not syntactically valid: \(why)"))
        }
        guard !body.isEmpty else { return invalid("the body is empty") }
        // UTF-8 only (what the SDKs send): a UTF-16 body could hide a DTD from the check below.
        guard !body.contains(0), let text = String(validating: body, as: UTF8.self) else {
            return invalid("the body is not UTF-8 text")
        }
        let lowered = text.lowercased()
        if lowered.contains("<!doctype") || lowered.contains("<!entity") {
            return invalid("document type declarations are not accepted")
        }
        let delegate = TreeBuilder(limits: limits)
        let parser = XMLParser(data: Data(body))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = delegate
        let ok = parser.parse()
        if let failure = delegate.failure { return invalid(failure) }
        guard ok, let root = delegate.root else {
            return invalid(parser.parserError.map { "\($0.localizedDescription)" } ?? "not well-formed")
        }
        return .success(root)
    }

    /// Builds the tree; used only inside `parse`, on the calling thread.
    private final class TreeBuilder: NSObject, XMLParserDelegate {
        let limits: Limits
        var stack: [BlobXMLElement] = []
        var root: BlobXMLElement?
        var count = 0
        var failure: String?

        init(limits: Limits) { self.limits = limits }

        func fail(_ why: String, _ parser: XMLParser) {
            if failure == nil { failure = why }
            parser.abortParsing()
        }

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            count += 1
            if count > limits.maxElements { return fail("more than \(limits.maxElements) elements", parser) }
            if stack.count >= limits.maxDepth { return fail("nested deeper than \(limits.maxDepth) elements", parser) }
            if root != nil, stack.isEmpty { return fail("more than one root element", parser) }
            stack.append(BlobXMLElement(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
            if stack[stack.count - 1].text.utf8.count > limits.maxTextBytes {
                fail("an element's text is longer than \(limits.maxTextBytes) bytes", parser)
            }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
            guard var element = stack.popLast() else { return }
            element.text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
        }

        func parser(_ parser: XMLParser, foundInternalSubsetDeclarationWithName name: String) {
            fail("document type declarations are not accepted", parser)
        }

        func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) {
            fail("entity declarations are not accepted", parser)
        }
    }
}
