/// A small, strict, bounded, non-recursive XML 1.0 reader.
///
/// It reads what configuration files use: the XML declaration, comments, processing
/// instructions (skipped), a DOCTYPE without internal subset (its external DTD is never
/// loaded), elements with prefixed names, attributes in single or double quotes, text, CDATA,
/// the five predefined entities and numeric character references. It never expands a DTD
/// entity: an internal subset is refused and any other entity reference is an error, so no
/// input can expand. Every error carries a `line:column`.
struct XMLReader {
    private let scalars: [Unicode.Scalar]
    private let limits: XMLLimits
    private var index = 0
    private var line = 1
    private var column = 1
    private var nodes = 0

    private init(scalars: [Unicode.Scalar], limits: XMLLimits) {
        self.scalars = scalars
        self.limits = limits
    }

    /// Parses a whole document and returns its root element.
    static func parse(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLError) -> XMLElement {
        guard bytes.count <= limits.maxBytes else {
            throw XMLError(
                kind: .tooLarge, position: XMLPosition(line: 1, column: 1),
                reason: "file too large: \(bytes.count) bytes (limit \(limits.maxBytes))")
        }
        var reader = XMLReader(scalars: try decode(bytes), limits: limits)
        return try reader.document()
    }

    // MARK: Decoding

    /// Decodes UTF-8, drops a leading byte order mark, normalizes line ends to `\n`, and
    /// refuses characters XML forbids.
    private static func decode(_ bytes: [UInt8]) throws(XMLError) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(bytes.count)
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var position = XMLPosition(line: 1, column: 1)
        var afterCR = false
        while true {
            let scalar: Unicode.Scalar
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): scalar = Unicode.UTF8.decode(encoded)
            case .emptyInput: return result
            case .error:
                throw XMLError(kind: .invalidCharacter, position: position, reason: "invalid UTF-8")
            }
            if afterCR {
                afterCR = false
                if scalar == "\n" { continue }
            }
            if result.isEmpty && position.line == 1 && position.column == 1 && scalar.value == 0xFEFF { continue }
            if scalar.value == 0 {
                throw XMLError(
                    kind: .invalidCharacter, position: position, reason: "NUL byte (U+0000) is not allowed in XML")
            }
            guard isXMLChar(scalar.value) else {
                throw XMLError(
                    kind: .invalidCharacter, position: position,
                    reason: "character \(hex(scalar.value)) is not allowed in XML")
            }
            if scalar == "\r" {
                afterCR = true
                result.append("\n")
            } else {
                result.append(scalar)
            }
            if result.last == "\n" {
                position.line += 1
                position.column = 1
            } else {
                position.column += 1
            }
        }
    }

    static func isXMLChar(_ value: UInt32) -> Bool {
        switch value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    // MARK: Cursor

    private var position: XMLPosition { XMLPosition(line: line, column: column) }
    private var atEnd: Bool { index >= scalars.count }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func advance() {
        guard index < scalars.count else { return }
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private func looking(at literal: String) -> Bool {
        var offset = 0
        for scalar in literal.unicodeScalars {
            guard peek(offset) == scalar else { return false }
            offset += 1
        }
        return true
    }

    private mutating func skip(_ literal: String) {
        for _ in literal.unicodeScalars { advance() }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n"
    }

    /// Skips whitespace; returns whether there was any.
    @discardableResult
    private mutating func skipSpace() -> Bool {
        var skipped = false
        while let scalar = peek(), Self.isSpace(scalar) {
            advance()
            skipped = true
        }
        return skipped
    }

    private func describe(_ scalar: Unicode.Scalar?) -> String {
        guard let scalar else { return "the end of the file" }
        if scalar.value < 0x20 || scalar.value == 0x7F { return Self.hex(scalar.value) }
        return "'\(Character(scalar))'"
    }

    private func error(_ kind: XMLError.Kind, _ reason: String, at where_: XMLPosition? = nil) -> XMLError {
        XMLError(kind: kind, position: where_ ?? position, reason: reason)
    }

    // MARK: Names

    private static func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A, 0x5F, 0x3A: true
        case 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF, 0x370...0x37D, 0x37F...0x1FFF, 0x200C...0x200D,
            0x2070...0x218F, 0x2C00...0x2FEF, 0x3001...0xD7FF, 0xF900...0xFDCF, 0xFDF0...0xFFFD,
            0x10000...0xEFFFF:
            true
        default: false
        }
    }

    private static func isNameChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39, 0x2D, 0x2E, 0xB7, 0x300...0x36F, 0x203F...0x2040: true
        default: isNameStart(scalar)
        }
    }

    /// Reads a name (an element, attribute, entity or DOCTYPE name); `what` says which, for errors.
    private mutating func name(_ what: String) throws(XMLError) -> String {
        let start = position
        guard let first = peek(), Self.isNameStart(first) else {
            throw error(.syntax, "expected \(what), found \(describe(peek()))")
        }
        var text = String.UnicodeScalarView()
        while let scalar = peek(), Self.isNameChar(scalar) {
            guard text.count < limits.maxNameLength else {
                throw error(.tooLarge, "\(what) longer than \(limits.maxNameLength) characters", at: start)
            }
            text.append(scalar)
            advance()
        }
        let result = String(text)
        let parts = result.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count > 2 || (parts.count == 2 && (parts[0].isEmpty || parts[1].isEmpty)) {
            throw error(.syntax, "malformed prefixed name '\(result)' (expected prefix:name)", at: start)
        }
        return result
    }

    // MARK: Document

    private mutating func document() throws(XMLError) -> XMLElement {
        if looking(at: "<?xml"), let after = peek(5), Self.isSpace(after) || after == "?" {
            try xmlDeclaration()
        }
        var sawDoctype = false
        while true {
            skipSpace()
            if atEnd { throw error(.unexpectedEnd, "unexpected end of file: no root element") }
            if looking(at: "<!--") {
                try comment()
            } else if looking(at: "<?") {
                try processingInstruction()
            } else if looking(at: "<!DOCTYPE") {
                if sawDoctype { throw error(.syntax, "second DOCTYPE declaration") }
                sawDoctype = true
                try doctype()
            } else if peek() == "<" {
                break
            } else {
                throw error(.syntax, "unexpected \(describe(peek())) before the root element")
            }
        }
        let root = try elementTree()
        while true {
            skipSpace()
            if atEnd { return root }
            if looking(at: "<!--") {
                try comment()
            } else if looking(at: "<?") {
                try processingInstruction()
            } else {
                throw error(
                    .syntax,
                    "unexpected \(describe(peek())) after the root element <\(root.name)>: only comments may follow it")
            }
        }
    }

    private mutating func xmlDeclaration() throws(XMLError) {
        let start = position
        skip("<?xml")
        var seen: [String] = []
        while true {
            let spaced = skipSpace()
            if atEnd { throw error(.unexpectedEnd, "unexpected end of file in the XML declaration opened at \(start)") }
            if looking(at: "?>") {
                skip("?>")
                break
            }
            guard spaced else { throw error(.syntax, "expected whitespace or '?>' in the XML declaration") }
            let attribute = try self.attribute()
            let expected = ["version", "encoding", "standalone"]
            guard let order = expected.firstIndex(of: attribute.name),
                seen.allSatisfy({ expected.firstIndex(of: $0) ?? 0 < order })
            else {
                throw error(
                    .syntax, "unexpected '\(attribute.name)' in the XML declaration (version, encoding, standalone)",
                    at: attribute.position)
            }
            seen.append(attribute.name)
            switch attribute.name {
            case "version" where !attribute.value.hasPrefix("1."):
                throw error(.unsupported, "XML version '\(attribute.value)' is not supported", at: attribute.position)
            case "encoding" where !["utf-8", "utf8", "us-ascii", "ascii"].contains(attribute.value.lowercased()):
                throw error(
                    .unsupported, "encoding '\(attribute.value)' is not supported (UTF-8 only)", at: attribute.position)
            case "standalone" where attribute.value != "yes" && attribute.value != "no":
                throw error(.syntax, "standalone must be 'yes' or 'no'", at: attribute.position)
            default: break
            }
        }
        guard seen.first == "version" else {
            throw error(.syntax, "the XML declaration has no version", at: start)
        }
    }

    private mutating func comment() throws(XMLError) {
        let start = position
        skip("<!--")
        var length = 0
        while !atEnd {
            if looking(at: "--") {
                guard peek(2) == ">" else { throw error(.syntax, "'--' is not allowed inside a comment") }
                skip("-->")
                return
            }
            length += 1
            if length > limits.maxMarkupLength {
                throw error(.tooLarge, "comment longer than \(limits.maxMarkupLength) characters", at: start)
            }
            advance()
        }
        throw error(.unexpectedEnd, "unexpected end of file in the comment opened at \(start)")
    }

    private mutating func processingInstruction() throws(XMLError) {
        let start = position
        skip("<?")
        let target = try name("a processing instruction target")
        if target.lowercased() == "xml" {
            throw error(.syntax, "the XML declaration is allowed only at the very start of the file", at: start)
        }
        var length = 0
        while !atEnd {
            if looking(at: "?>") {
                skip("?>")
                return
            }
            length += 1
            if length > limits.maxMarkupLength {
                throw error(
                    .tooLarge, "processing instruction longer than \(limits.maxMarkupLength) characters", at: start)
            }
            advance()
        }
        throw error(.unexpectedEnd, "unexpected end of file in the processing instruction opened at \(start)")
    }

    private mutating func doctype() throws(XMLError) {
        let start = position
        skip("<!DOCTYPE")
        guard skipSpace() else { throw error(.syntax, "expected whitespace after <!DOCTYPE") }
        _ = try name("a DOCTYPE name")
        skipSpace()
        if looking(at: "SYSTEM") {
            skip("SYSTEM")
            skipSpace()
            try literal()
        } else if looking(at: "PUBLIC") {
            skip("PUBLIC")
            skipSpace()
            try literal()
            skipSpace()
            try literal()
        }
        skipSpace()
        if peek() == "[" {
            throw error(
                .unsupported,
                "a DTD internal subset is not supported: entity and other declarations are never read or expanded")
        }
        if atEnd { throw error(.unexpectedEnd, "unexpected end of file in the DOCTYPE opened at \(start)") }
        guard peek() == ">" else {
            throw error(
                .unclosedTag, "DOCTYPE opened at \(start) is not closed: expected '>', found \(describe(peek()))")
        }
        advance()
    }

    /// Skips a quoted DOCTYPE literal (a system or public identifier).
    private mutating func literal() throws(XMLError) {
        guard let quote = peek(), quote == "\"" || quote == "'" else {
            throw error(.syntax, "expected a quoted identifier in the DOCTYPE, found \(describe(peek()))")
        }
        let start = position
        advance()
        var length = 0
        while let scalar = peek(), scalar != quote {
            length += 1
            if length > limits.maxMarkupLength {
                throw error(.tooLarge, "DOCTYPE identifier longer than \(limits.maxMarkupLength) characters", at: start)
            }
            advance()
        }
        if atEnd { throw error(.unexpectedEnd, "unexpected end of file in the identifier opened at \(start)") }
        advance()
    }

    // MARK: Elements

    /// Reads the root element and everything in it, with an explicit stack (no recursion).
    private mutating func elementTree() throws(XMLError) -> XMLElement {
        var stack: [XMLElement] = []
        let (root, rootClosed) = try startTag(depth: 1)
        if rootClosed { return root }
        stack.append(root)
        while true {
            guard let open = stack.last else { break }
            if atEnd {
                let more = stack.count > 1 ? " (and \(stack.count - 1) enclosing element(s))" : ""
                throw error(
                    .unexpectedEnd,
                    "unexpected end of file: <\(open.name)> opened at \(open.position) is not closed\(more)")
            }
            var finished: XMLElement?
            if looking(at: "</") {
                try endTag(closing: open)
                finished = stack.removeLast()
            } else if looking(at: "<!--") {
                try comment()
            } else if looking(at: "<![CDATA[") {
                let text = try cdata()
                try countNode()
                stack[stack.count - 1].children.append(.text(text))
            } else if looking(at: "<?") {
                try processingInstruction()
            } else if looking(at: "<!") {
                throw error(.syntax, "unexpected '<!' inside <\(open.name)> (a DOCTYPE may only precede the root)")
            } else if peek() == "<" {
                let (child, closed) = try startTag(depth: stack.count + 1)
                if closed {
                    finished = child
                } else {
                    stack.append(child)
                }
            } else {
                let text = try self.text()
                try countNode()
                stack[stack.count - 1].children.append(.text(text))
            }
            if let element = finished {
                if stack.isEmpty { return element }
                try countNode()
                stack[stack.count - 1].children.append(.element(element))
            }
        }
        throw error(.syntax, "internal: empty element stack")
    }

    private mutating func countNode() throws(XMLError) {
        nodes += 1
        if nodes > limits.maxNodes {
            throw error(.tooLarge, "more than \(limits.maxNodes) elements and text runs in the document")
        }
    }

    /// Reads a start tag at `<`; returns the element and whether it was self-closing (`/>`).
    private mutating func startTag(depth: Int) throws(XMLError) -> (XMLElement, Bool) {
        let start = position
        if depth > limits.maxDepth {
            throw error(.tooDeep, "elements nested deeper than \(limits.maxDepth) levels")
        }
        advance()
        let tagName = try name("an element name after '<'")
        var element = XMLElement(name: tagName, attributes: [], children: [], position: start)
        while true {
            let spaced = skipSpace()
            guard let scalar = peek() else {
                throw error(.unexpectedEnd, "unexpected end of file in the start tag <\(tagName)> opened at \(start)")
            }
            if scalar == ">" {
                advance()
                return (element, false)
            }
            if scalar == "/" {
                advance()
                guard peek() == ">" else {
                    throw error(
                        .unclosedTag, "start tag <\(tagName)> opened at \(start) is not closed: expected '>' after '/'")
                }
                advance()
                return (element, true)
            }
            if scalar == "<" {
                throw error(
                    .unclosedTag, "start tag <\(tagName)> opened at \(start) is not closed: found '<' before '>'")
            }
            guard Self.isNameStart(scalar) else {
                throw error(.badAttribute, "unexpected \(describe(scalar)) in the start tag <\(tagName)>")
            }
            guard spaced else {
                throw error(.badAttribute, "expected whitespace before attribute in the start tag <\(tagName)>")
            }
            let attribute = try self.attribute()
            if element.attribute(attribute.name) != nil {
                throw error(
                    .badAttribute, "duplicate attribute '\(attribute.name)' on <\(tagName)>", at: attribute.position)
            }
            guard element.attributes.count < limits.maxAttributes else {
                throw error(
                    .badAttribute, "more than \(limits.maxAttributes) attributes on <\(tagName)>",
                    at: attribute.position)
            }
            element.attributes.append(attribute)
        }
    }

    private mutating func endTag(closing open: XMLElement) throws(XMLError) {
        let start = position
        skip("</")
        let tagName = try name("an element name after '</'")
        skipSpace()
        guard tagName == open.name else {
            throw error(
                .mismatchedEndTag, "end tag </\(tagName)> does not match <\(open.name)> opened at \(open.position)",
                at: start)
        }
        if atEnd {
            throw error(.unexpectedEnd, "unexpected end of file in the end tag </\(tagName)> opened at \(start)")
        }
        guard peek() == ">" else {
            throw error(
                .unclosedTag, "end tag </\(tagName)> opened at \(start) is not closed: found \(describe(peek()))")
        }
        advance()
    }

    private mutating func attribute() throws(XMLError) -> XMLAttribute {
        let start = position
        let attributeName = try name("an attribute name")
        skipSpace()
        guard peek() == "=" else {
            throw error(
                .badAttribute, "attribute '\(attributeName)' has no value: expected '=', found \(describe(peek()))")
        }
        advance()
        skipSpace()
        guard let quote = peek(), quote == "\"" || quote == "'" else {
            throw error(
                .badAttribute, "value of attribute '\(attributeName)' must be in quotes, found \(describe(peek()))")
        }
        let valueStart = position
        advance()
        var value = String.UnicodeScalarView()
        var length = 0
        while true {
            guard let scalar = peek() else {
                throw error(
                    .unexpectedEnd,
                    "unexpected end of file in the value of attribute '\(attributeName)' opened at \(valueStart)")
            }
            if scalar == quote {
                advance()
                break
            }
            if scalar == "<" {
                throw error(.badAttribute, "'<' is not allowed in the value of attribute '\(attributeName)'")
            }
            length += 1
            if length > limits.maxAttributeLength {
                throw error(
                    .tooLarge,
                    "value of attribute '\(attributeName)' longer than \(limits.maxAttributeLength) characters",
                    at: valueStart)
            }
            if scalar == "&" {
                value.append(try reference())
            } else {
                value.append(Self.isSpace(scalar) ? " " : scalar)
                advance()
            }
        }
        return XMLAttribute(name: attributeName, value: String(value), position: start)
    }

    /// Reads `&name;` or `&#…;` and returns the character it stands for.
    private mutating func reference() throws(XMLError) -> Unicode.Scalar {
        let start = position
        advance()
        if peek() == "#" {
            advance()
            var radix: UInt32 = 10
            if peek() == "x" {
                radix = 16
                advance()
            }
            var value: UInt32 = 0
            var digits = 0
            while let scalar = peek(), let digit = Self.digit(scalar, radix: radix) {
                digits += 1
                if digits > 8 { throw error(.invalidEntity, "character reference too long", at: start) }
                value = value * radix + digit
                advance()
            }
            guard digits > 0, peek() == ";" else {
                throw error(.invalidEntity, "malformed character reference: expected digits and ';'", at: start)
            }
            advance()
            guard value != 0, Self.isXMLChar(value), let scalar = Unicode.Scalar(value) else {
                throw error(
                    .invalidEntity, "character reference to \(Self.hex(value)), which XML does not allow", at: start)
            }
            return scalar
        }
        guard let first = peek(), Self.isNameStart(first) else {
            throw error(.invalidEntity, "'&' must start an entity reference such as &amp;", at: start)
        }
        var entity = ""
        while let scalar = peek(), Self.isNameChar(scalar), entity.unicodeScalars.count < 32 {
            entity.unicodeScalars.append(scalar)
            advance()
        }
        guard peek() == ";" else {
            throw error(.invalidEntity, "entity reference '&\(entity)' is not closed by ';'", at: start)
        }
        advance()
        switch entity {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "apos": return "'"
        case "quot": return "\""
        default:
            throw error(
                .invalidEntity,
                "unknown entity '&\(entity);' (only &lt; &gt; &amp; &apos; &quot; and character references; "
                    + "DTD entities are never expanded)",
                at: start)
        }
    }

    private static func digit(_ scalar: Unicode.Scalar, radix: UInt32) -> UInt32? {
        switch scalar.value {
        case 0x30...0x39: scalar.value - 0x30
        case 0x61...0x66 where radix == 16: scalar.value - 0x61 + 10
        case 0x41...0x46 where radix == 16: scalar.value - 0x41 + 10
        default: nil
        }
    }

    private mutating func text() throws(XMLError) -> XMLText {
        let start = position
        var content: XMLPosition?
        var value = String.UnicodeScalarView()
        while let scalar = peek(), scalar != "<" {
            if content == nil && !Self.isSpace(scalar) { content = position }
            if scalar == "&" {
                value.append(try reference())
            } else {
                if looking(at: "]]>") { throw error(.syntax, "']]>' is not allowed in text") }
                value.append(scalar)
                advance()
            }
        }
        return XMLText(value: String(value), position: start, contentPosition: content)
    }

    private mutating func cdata() throws(XMLError) -> XMLText {
        let start = position
        skip("<![CDATA[")
        var content: XMLPosition?
        var value = String.UnicodeScalarView()
        while let scalar = peek() {
            if looking(at: "]]>") {
                skip("]]>")
                return XMLText(value: String(value), position: start, contentPosition: content)
            }
            if content == nil && !Self.isSpace(scalar) { content = position }
            value.append(scalar)
            advance()
        }
        throw error(.unexpectedEnd, "unexpected end of file in the CDATA section opened at \(start)")
    }
}
