/// HTTP header fields: ordered, repeatable, and looked up without regard to case (RFC 9110 §5.1).
///
/// ```swift
/// var headers: HTTPHeaders = ["Content-Type": "application/json"]
/// headers.add(name: "x-ms-version", value: "2021-08-06")
/// headers.first(name: "content-type")   // "application/json"
/// ```
///
/// Names keep the spelling they were added with (some servers care); lookups ignore case.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public typealias Element = (name: String, value: String)

    private var fields: [Element] = []

    public init() {}

    /// Empty, with room for `capacity` fields (the parser knows how many lines a head has).
    init(capacity: Int) {
        fields.reserveCapacity(Swift.max(capacity, 0))
    }

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> { fields.makeIterator() }

    /// Appends a field, keeping any existing ones with the same name.
    public mutating func add(name: String, value: String) {
        // Requests carry ~10 fields, added one by one: room for 16 at once, not growth by doubling from 1.
        if fields.capacity == 0 { fields.reserveCapacity(16) }
        fields.append((name: name, value: value))
    }

    /// Replaces every field named `name` (any case) with one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append((name: name, value: value))
    }

    /// Removes every field named `name` (any case).
    public mutating func remove(name: String) {
        fields.removeAll { HTTPHeaders.namesMatch($0.name, name) }
    }

    /// All values of the fields named `name`, in order.
    public subscript(name: String) -> [String] {
        fields.compactMap { HTTPHeaders.namesMatch($0.name, name) ? $0.value : nil }
    }

    /// The first value of the field named `name`.
    public func first(name: String) -> String? {
        fields.first { HTTPHeaders.namesMatch($0.name, name) }?.value
    }

    public func contains(name: String) -> Bool {
        fields.contains { HTTPHeaders.namesMatch($0.name, name) }
    }

    /// Whether a comma-separated field (`Connection`, `Transfer-Encoding`, …) lists `token`, ignoring case.
    public func containsToken(_ token: String, inField name: String) -> Bool {
        // Asked of every request and response (`Connection`, `Expect`): read in place, nothing allocated.
        for field in fields where HTTPHeaders.namesMatch(field.name, name) {
            var value = field.value
            let found = value.withUTF8 { bytes in
                var token = token
                return token.withUTF8 { wanted in HTTPSyntax.list(bytes, containsToken: wanted) }
            }
            if found { return true }
        }
        return false
    }

    /// Throws when a name is not a token or a value contains CR, LF or NUL (header injection).
    public func validate() throws {
        for field in fields {
            if field.name.isEmpty || !HTTPSyntax.allBytes(of: field.name, are: .token) {
                throw HTTPHeaders.invalidName(field.name)
            }
            if !HTTPSyntax.allBytes(of: field.value, are: .notLineBreakOrNUL) {
                throw HTTPHeaders.invalidValue(field.name)
            }
        }
    }

    /// The error for a field whose name is not a token (`validate()`, and the serializer's own check).
    static func invalidName(_ name: String) -> TransportError {
        TransportError(.invalidRequest, "header name '\(name)' is not a valid HTTP token")
    }

    /// The error for a field whose value holds CR, LF or NUL.
    static func invalidValue(_ name: String) -> TransportError {
        TransportError(.invalidRequest, "the value of header '\(name)' contains CR, LF or NUL; remove them")
    }

    public var description: String {
        // Values may carry credentials (Authorization, SAS signatures); print names only.
        "HTTPHeaders(\(fields.map(\.name).joined(separator: ", ")))"
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    /// Whether two names are equal ignoring ASCII case (header names, query parameter names).
    package static func namesMatch(_ lhs: some StringProtocol, _ rhs: some StringProtocol) -> Bool {
        let a = lhs.utf8
        let b = rhs.utf8
        guard a.count == b.count else { return false }
        // Native strings compare over their bytes in place: iterating two UTF-8 views together was ~10 % of a
        // Cosmos read's client instructions.
        let inPlace = a.withContiguousStorageIfAvailable { left in
            b.withContiguousStorageIfAvailable { right in
                zip(left, right).allSatisfy { $0 == $1 || HTTPSyntax.lower($0) == HTTPSyntax.lower($1) }
            }
        }
        if let matched = inPlace ?? nil { return matched }
        return zip(a, b).allSatisfy { HTTPSyntax.lower($0) == HTTPSyntax.lower($1) }
    }

    /// `text` without the spaces and tabs around it (optional whitespace, RFC 9110 §5.6.3).
    package static func trimmed(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}

/// Byte classes from RFC 9110 §5.6.
enum HTTPSyntax {
    /// Classes of bytes a whole string is checked against (`allBytes(of:are:)`).
    enum ByteClass {
        /// tchar (`isTokenByte`): header names, methods.
        case token
        /// Anything but CR, LF and NUL: header values the caller set (header injection).
        case notLineBreakOrNUL
        /// Visible ASCII and obs-text, no space: a request target.
        case requestTarget
    }

    /// Whether every UTF-8 byte of `text` is in `byteClass`, read in place. Every header of every request is
    /// checked: one plain loop per class, not a closure call per byte (5 % of a Cosmos read's client instructions
    /// went to that call).
    static func allBytes(of text: String, are byteClass: ByteClass) -> Bool {
        if let inPlace = text.utf8.withContiguousStorageIfAvailable({ allBytes(of: $0, are: byteClass) }) {
            return inPlace
        }
        return allBytes(of: Array(text.utf8), are: byteClass)  // a bridged string: copied once
    }

    static func allBytes(of bytes: some Collection<UInt8>, are byteClass: ByteClass) -> Bool {
        switch byteClass {
        case .token:
            for byte in bytes where !isTokenByte(byte) { return false }
        case .notLineBreakOrNUL:
            for byte in bytes where byte < 14 && (byte == 13 || byte == 10 || byte == 0) { return false }
        case .requestTarget:
            for byte in bytes where byte <= 32 || byte == 127 { return false }
        }
        return true
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }

    /// Whether `bytes` spell `lowercased` (ASCII, lowercase) in any case.
    static func bytes(_ bytes: UnsafeBufferPointer<UInt8>, equalIgnoringCase lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let wanted = lowercased.utf8Start
        for index in 0..<bytes.count where lower(bytes[index]) != wanted[index] { return false }
        return true
    }

    /// Calls `body` with each element of a comma-separated list (`#rule` of RFC 9110 §5.6.1), the optional
    /// whitespace around it trimmed (empty elements included), until `body` returns false.
    static func forEachListElement(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>.SubSequence) throws -> Bool
    ) rethrows {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 44 { end += 1 }  // ','
            var first = start
            var last = end
            while first < last, bytes[first] == 32 || bytes[first] == 9 { first += 1 }
            while last > first, bytes[last - 1] == 32 || bytes[last - 1] == 9 { last -= 1 }
            if try !body(bytes[first..<last]) { return }
            start = end + 1
        }
    }

    /// Whether a comma-separated list has an element equal to `token`, ignoring ASCII case.
    static func list(_ bytes: UnsafeBufferPointer<UInt8>, containsToken token: UnsafeBufferPointer<UInt8>) -> Bool {
        var found = false
        forEachListElement(bytes) { element in
            found = !element.isEmpty && element.count == token.count
                && zip(element, token).allSatisfy { lower($0) == lower($1) }
            return !found
        }
        return found
    }

    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    /// One bit per byte value below 128, as two words: a shift and a mask per byte instead of a chain of range
    /// compares (every header name of every message is checked).
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let bit = UInt64(1) &<< UInt64(byte & 63)
        switch byte >> 6 {
        case 0: return tokenBytesBelow64 & bit != 0
        case 1: return tokenBytes64To127 & bit != 0
        default: return false
        }
    }

    /// `!#$%&'*+-.` and the digits.
    private static let tokenBytesBelow64: UInt64 = 0x03FF_6CFA_0000_0000
    /// The letters and `^_`|~`.
    private static let tokenBytes64To127: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// field-vchar or whitespace; obs-text (≥ 0x80) is allowed for compatibility.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == 9 || (byte >= 32 && byte != 127)
    }
}
