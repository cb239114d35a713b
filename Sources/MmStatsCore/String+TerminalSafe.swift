extension String {
    /// This text made safe to show a person on a terminal: every character that could act on
    /// the terminal or hide itself is written as a `\u{…}` escape.
    ///
    /// Names, labels and values in a stats file, and the names of files, are chosen by whoever
    /// wrote them. Printed raw, a control character can start an escape sequence (clear the
    /// screen, set the window title, fake a line of output), a bidirectional override (U+202E)
    /// shows the rest of the line reversed, and a zero-width character makes two different
    /// names look alike. Escaped, as `\u{HEX}` with the code point in upper-case hexadecimal:
    ///
    /// - control characters: C0 (U+0000–U+001F, newline and tab included), DEL, C1
    ///   (U+0080–U+009F);
    /// - format characters (general category Cf): bidirectional marks, embeddings, overrides
    ///   and isolates (U+200E, U+200F, U+061C, U+202A–U+202E, U+2066–U+2069), zero-width
    ///   spaces and joiners (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen, tag characters;
    /// - the line and paragraph separators U+2028 and U+2029;
    /// - the other default-ignorable code points, which terminals draw as nothing (fillers such
    ///   as U+3164 and U+115F), except variation selectors, which only choose a glyph's style;
    /// - unassigned code points and noncharacters, which a newer terminal may treat as any of
    ///   the above.
    ///
    /// Everything else, non-ASCII letters and emoji included, is kept. A backslash is kept as
    /// it is, so text that already reads `\u{1B}` looks like an escaped character.
    ///
    /// ```swift
    /// "evil\u{1B}[2J\u{202E}txt".terminalSafe == #"evil\u{1B}[2J\u{202E}txt"#   // true: escapes are now text
    /// "café ✓".terminalSafe == "café ✓"   // true
    /// print(error.description)   // MmStatsError's description is already terminal-safe
    /// ```
    public var terminalSafe: String {
        guard unicodeScalars.contains(where: \.isUnsafeOnTerminal) else { return self }
        var result = ""
        result.reserveCapacity(utf8.count + 16)
        for scalar in unicodeScalars {
            if scalar.isUnsafeOnTerminal {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

extension Unicode.Scalar {
    /// Whether `String.terminalSafe` escapes this scalar.
    var isUnsafeOnTerminal: Bool {
        if value < 0x20 || (0x7F...0x9F).contains(value) { return true }
        if value < 0xA0 { return false }  // printable ASCII: the common case, decided without tables
        switch properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned: return true
        default: return properties.isDefaultIgnorableCodePoint && !properties.isVariationSelector
        }
    }
}
