/// A position in a text file: 1-based line and 1-based column, counted in Unicode scalars.
///
/// Line ends (`\n`, `\r\n`, `\r`) each count as one line break, as XML normalizes them.
struct XMLPosition: Equatable, Sendable, CustomStringConvertible {
    /// The 1-based line.
    var line: Int
    /// The 1-based column, in Unicode scalars.
    var column: Int

    /// `line:column`.
    var description: String { "\(line):\(column)" }
}

/// The bounds the XML reader enforces, so that no input takes unbounded memory or time.
struct XMLLimits: Sendable {
    /// The largest input accepted, in bytes.
    var maxBytes = 4 << 20
    /// The deepest element nesting accepted (the root is depth 1).
    var maxDepth = 64
    /// The most attributes one start tag may carry.
    var maxAttributes = 32
    /// The longest element, attribute or entity name, in Unicode scalars.
    var maxNameLength = 256
    /// The longest attribute value, in Unicode scalars.
    var maxAttributeLength = 65_536
    /// The most elements and text runs in the whole document.
    var maxNodes = 200_000
    /// The longest comment, processing instruction or DOCTYPE literal, in Unicode scalars.
    var maxMarkupLength = 1 << 20
}

/// A malformed XML document: what is wrong, and where.
struct XMLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The broad class of the error, for callers and tests.
    enum Kind: String, Sendable {
        /// A start or end tag has no `>`.
        case unclosedTag
        /// An end tag names another element than the one open.
        case mismatchedEndTag
        /// An attribute is malformed, unquoted, duplicated, or one too many.
        case badAttribute
        /// The input ends inside a construct or with elements still open.
        case unexpectedEnd
        /// A character XML forbids (NUL, most control characters) or invalid UTF-8.
        case invalidCharacter
        /// An entity or character reference that is malformed, unknown or forbidden.
        case invalidEntity
        /// Elements nested deeper than the limit.
        case tooDeep
        /// The input, a name or a value is larger than its limit.
        case tooLarge
        /// Any other violation of the XML grammar.
        case syntax
        /// Well-formed XML this reader refuses by design (a DTD internal subset).
        case unsupported
    }

    /// The class of the error.
    var kind: Kind
    /// Where the error was found.
    var position: XMLPosition
    /// What is wrong, in words.
    var reason: String

    /// `line:column: reason`.
    var description: String { "\(position): \(reason)" }
}

/// One attribute of a start tag.
struct XMLAttribute: Equatable, Sendable {
    /// The qualified name, prefix included (`xmlns:ink`).
    var name: String
    /// The value, entities and character references replaced, whitespace normalized to spaces.
    var value: String
    /// The position of the attribute's name.
    var position: XMLPosition
}

/// A run of character data (text or one CDATA section).
struct XMLText: Equatable, Sendable {
    /// The text, entities and character references replaced.
    var value: String
    /// The position where the run starts in the file.
    var position: XMLPosition
    /// The position of the run's first character that is not XML whitespace, if any.
    var contentPosition: XMLPosition?
}

/// A child of an element: an element or a run of text. Comments and processing instructions are dropped.
enum XMLNode: Equatable, Sendable {
    /// A child element.
    case element(XMLElement)
    /// A run of text.
    case text(XMLText)
}

/// One element with its attributes and children.
struct XMLElement: Equatable, Sendable {
    /// The qualified name, prefix included (`ink:statistics`).
    var name: String
    /// The attributes, in document order.
    var attributes: [XMLAttribute]
    /// The children, in document order.
    var children: [XMLNode]
    /// The position of the `<` that opens the element.
    var position: XMLPosition

    /// The attribute with this qualified name, if present.
    func attribute(_ name: String) -> XMLAttribute? {
        attributes.first { $0.name == name }
    }
}
