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

/// JSON's string escapes, for the decoders that read JSON text byte by byte (the Cosmos client's and emulator's).
package enum JSONEscape {
    /// The byte a one-character escape (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`) stands for; nil for `u`
    /// (four hex digits follow) and for what is not an escape.
    package static func simple(_ escape: UInt8) -> UInt8? {
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return escape
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        default: return nil
        }
    }
}
