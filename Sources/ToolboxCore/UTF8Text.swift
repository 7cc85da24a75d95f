/// Text from bytes that must be valid UTF-8, for the decoders that read a peer's strings.
package enum UTF8Text {
    /// `bytes` as a `String` when they are valid UTF-8, else nil: what `String(validating:as:)` answers, without its
    /// generic validator, which over a slice cost ~1,100 instructions (and a type-metadata lookup) per string.
    /// All-ASCII bytes are always valid; otherwise the text is valid exactly when decoding changed nothing (an
    /// invalid sequence becomes U+FFFD, whose bytes differ from it).
    package static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        let string = String(decoding: bytes, as: UTF8.self)
        return bytes.allSatisfy({ $0 < 0x80 }) || string.utf8.elementsEqual(bytes) ? string : nil
    }
}
