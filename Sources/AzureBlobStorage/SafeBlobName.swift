import AzureAuth

/// Blob-name clean-up with the rules of the Python toolbox's `blobify_filename` (aio-azure-clients-toolbox 1.5.0),
/// giving the same result for the same input.
///
/// ```swift
/// BlobNames.safe("  .report #3~.pdf. ")             // "report 3.pdf"
/// BlobNames.safe("ümlaut café.txt", quoting: true)  // "%C3%BCmlaut%20caf%C3%A9.txt"
/// ```
///
/// In order: surrounding whitespace is stripped (Python's `str.strip`, so its notion of whitespace), every `~`,
/// `#` and `\` is removed, one leading and one trailing dot are chopped, then the name is optionally
/// percent-encoded (Python's `urllib.parse.quote`, `/` kept) and cut to 1,024 characters (code points, as Python
/// slices; after quoting the text is ASCII, so a cut may split an escape exactly as Python's does).
public enum BlobNames {
    /// The most characters a blob name may have.
    public static let characterLimit = 1024

    /// The cleaned-up name; `quoting` percent-encodes it (use that only where a URL needs it).
    public static func safe(_ name: String, quoting: Bool = false) -> String {
        var scalars = Array(name.unicodeScalars)
        while let first = scalars.first, isPythonWhitespace(first) { scalars.removeFirst() }
        while let last = scalars.last, isPythonWhitespace(last) { scalars.removeLast() }
        scalars.removeAll { $0 == "~" || $0 == "#" || $0 == "\\" }
        if scalars.first == "." { scalars.removeFirst() }
        if scalars.last == "." { scalars.removeLast() }
        var cleaned = String(String.UnicodeScalarView(scalars))
        if quoting { cleaned = PercentEncoding.quote(cleaned, safe: "/") }
        let limited = cleaned.unicodeScalars.prefix(characterLimit)
        return String(String.UnicodeScalarView(limited))
    }

    /// `str.isspace()` in Python: bidirectional classes WS, B and S, and general category Zs.
    private static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
