import Testing

@testable import Processor

/// Parses `text` and returns the error, or nil when it parsed.
private func xmlError(_ text: String, limits: XMLLimits = XMLLimits()) -> XMLError? {
    xmlError(Array(text.utf8), limits: limits)
}

private func xmlError(_ bytes: [UInt8], limits: XMLLimits = XMLLimits()) -> XMLError? {
    do {
        _ = try XMLReader.parse(bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

@Suite("XML reader")
struct XMLReaderTests {
    @Test("declaration, DOCTYPE, comments, prefixed names, both quotes, entities, CDATA and positions")
    func wellFormed() throws {
        let text = """
            <?xml version="1.0" encoding="UTF-8" standalone="no"?>
            <!DOCTYPE ink:statistics SYSTEM "stats.config.dtd">
            <!-- a comment -->
            <ink:statistics xmlns:ink='http://example/' a="x&lt;y &amp; &#65;&#x42;">
              <e b='say "hi"'>one &gt; two<![CDATA[ <raw> & ]]></e><?pi skipped?>
              <empty/>
            </ink:statistics>
            <!-- trailing comment -->

            """
        let root = try XMLReader.parse(Array(text.utf8))
        #expect(root.name == "ink:statistics")
        #expect(root.position == XMLPosition(line: 4, column: 1))
        #expect(root.attribute("xmlns:ink")?.value == "http://example/")
        #expect(root.attribute("a")?.value == "x<y & AB")
        #expect(root.attribute("a")?.position == XMLPosition(line: 4, column: 45))
        let elements = root.children.compactMap { node -> XMLElement? in
            if case .element(let element) = node { return element }
            return nil
        }
        #expect(elements.map(\.name) == ["e", "empty"])
        #expect(elements[0].attribute("b")?.value == "say \"hi\"")
        #expect(elements[0].position == XMLPosition(line: 5, column: 3))
        let texts = elements[0].children.compactMap { node -> String? in
            if case .text(let text) = node { return text.value }
            return nil
        }
        #expect(texts == ["one > two", " <raw> & "])
        #expect(elements[1].children.isEmpty)
    }

    @Test("CR LF and lone CR count as one line break each; a byte order mark is skipped")
    func lineEnds() throws {
        let root = try XMLReader.parse([0xEF, 0xBB, 0xBF] + Array("<a>\r\n\r<b/></a>".utf8))
        guard case .element(let b) = root.children.last else {
            Issue.record("no element child")
            return
        }
        #expect(b.position == XMLPosition(line: 3, column: 1))
    }

    @Test("every malformed input is an error of the right kind at the right line:column")
    func errors() {
        let cases: [(String, XMLError.Kind, Int, Int, String)] = [
            ("<a>\n  <b x='1'\n  <c/></b></a>", .unclosedTag, 3, 3, "start tag <b> opened at 2:3 is not closed"),
            ("<a>\n<b></c></a>", .mismatchedEndTag, 2, 4, "end tag </c> does not match <b> opened at 2:1"),
            ("<a></a x>", .unclosedTag, 1, 8, "end tag </a> opened at 1:4 is not closed: found 'x'"),
            ("<a x=1/>", .badAttribute, 1, 6, "value of attribute 'x' must be in quotes"),
            ("<a x/>", .badAttribute, 1, 5, "attribute 'x' has no value"),
            ("<a x='1' x='2'/>", .badAttribute, 1, 10, "duplicate attribute 'x'"),
            ("<a x='1'y='2'/>", .badAttribute, 1, 9, "expected whitespace before attribute"),
            ("<a x='<'/>", .badAttribute, 1, 7, "'<' is not allowed in the value of attribute 'x'"),
            ("<a>\n<b>", .unexpectedEnd, 2, 4, "unexpected end of file: <b> opened at 2:1 is not closed"),
            ("<a x='1", .unexpectedEnd, 1, 8, "unexpected end of file in the value of attribute 'x'"),
            ("<a><!-- x", .unexpectedEnd, 1, 10, "unexpected end of file in the comment opened at 1:4"),
            ("", .unexpectedEnd, 1, 1, "unexpected end of file: no root element"),
            ("<a>&foo;</a>", .invalidEntity, 1, 4, "unknown entity '&foo;'"),
            ("<a>&#0;</a>", .invalidEntity, 1, 4, "character reference to U+0000"),
            ("<a>a & b</a>", .invalidEntity, 1, 6, "'&' must start an entity reference"),
            ("<a>&amp</a>", .invalidEntity, 1, 4, "entity reference '&amp' is not closed by ';'"),
            ("<a>\u{1}</a>", .invalidCharacter, 1, 4, "character U+0001 is not allowed in XML"),
            ("<a/>\n<b/>", .syntax, 2, 1, "after the root element <a>"),
            ("<a/>junk", .syntax, 1, 5, "after the root element <a>"),
            ("junk<a/>", .syntax, 1, 1, "before the root element"),
            ("<a><!-- x -- y --></a>", .syntax, 1, 11, "'--' is not allowed inside a comment"),
            ("<a>]]></a>", .syntax, 1, 4, "']]>' is not allowed in text"),
            ("< a/>", .syntax, 1, 2, "expected an element name after '<'"),
            ("<a:b:c/>", .syntax, 1, 2, "malformed prefixed name 'a:b:c'"),
            ("<a/><?xml version='1.0'?>", .syntax, 1, 5, "the XML declaration is allowed only at the very start"),
            ("<?xml version='2.0'?><a/>", .unsupported, 1, 7, "XML version '2.0' is not supported"),
            ("<?xml version='1.0' encoding='latin1'?><a/>", .unsupported, 1, 21, "encoding 'latin1'"),
            (
                "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", .unsupported, 1, 13,
                "a DTD internal subset is not supported"
            ),
        ]
        for (text, kind, line, column, reason) in cases {
            let error = xmlError(text)
            #expect(error?.kind == kind, "\(text)")
            #expect(error?.position == XMLPosition(line: line, column: column), "\(text): \(String(describing: error))")
            #expect(error?.reason.contains(reason) == true, "\(text): \(String(describing: error))")
        }
    }

    @Test("NUL bytes and invalid UTF-8 are errors at their position")
    func badBytes() {
        let nul = xmlError(Array("<a>\n x".utf8) + [0] + Array("</a>".utf8))
        #expect(nul?.kind == .invalidCharacter)
        #expect(nul?.description == "2:3: NUL byte (U+0000) is not allowed in XML")
        let utf8 = xmlError(Array("<a>é".utf8) + [0xFF] + Array("</a>".utf8))
        #expect(utf8?.description == "1:5: invalid UTF-8")
    }

    @Test("attacker's inputs: deep nesting, huge attributes, many attributes, entity bombs, size")
    func bounds() {
        let deep = String(repeating: "<a>", count: 10_000) + String(repeating: "</a>", count: 10_000)
        let tooDeep = xmlError(deep)
        #expect(tooDeep?.kind == .tooDeep)
        #expect(tooDeep?.description == "1:193: elements nested deeper than 64 levels")
        // Unclosed deep nesting too: stops at the limit, not at the end of the input.
        #expect(xmlError(String(repeating: "<a>", count: 1_000_000))?.kind == .tooDeep)

        let huge = "<a x='" + String(repeating: "y", count: 100_000) + "'/>"
        let hugeError = xmlError(huge)
        #expect(hugeError?.kind == .tooLarge)
        #expect(hugeError?.description == "1:6: value of attribute 'x' longer than 65536 characters")

        let many = "<a " + (0..<40).map { "x\($0)='1'" }.joined(separator: " ") + "/>"
        #expect(xmlError(many)?.kind == .badAttribute)
        #expect(xmlError(many)?.reason == "more than 32 attributes on <a>")

        let longName = "<" + String(repeating: "n", count: 300) + "/>"
        #expect(xmlError(longName)?.description == "1:2: an element name after '<' longer than 256 characters")

        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [
             <!ENTITY lol "lol">
             <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
            ]>
            <lolz>&lol2;</lolz>
            """
        #expect(xmlError(laughs)?.kind == .unsupported)
        // Without the DTD the reference is simply unknown: nothing is ever expanded.
        #expect(xmlError("<lolz>&lol2;</lolz>")?.kind == .invalidEntity)

        var few = XMLLimits()
        few.maxNodes = 10
        let crowd = xmlError("<a>" + String(repeating: "<b/>", count: 11) + "</a>", limits: few)
        #expect(crowd?.description == "1:48: more than 10 elements and text runs in the document")
        #expect(xmlError("<a>" + String(repeating: "<b/>", count: 10) + "</a>", limits: few) == nil)

        var limits = XMLLimits()
        limits.maxBytes = 100
        let big = xmlError("<a>" + String(repeating: " ", count: 200) + "</a>", limits: limits)
        #expect(big?.description == "1:1: file too large: 207 bytes (limit 100)")
    }

    @Test("every truncation of a valid document is an error, never a crash")
    func truncations() {
        let text = """
            <?xml version="1.0"?><!DOCTYPE r SYSTEM "x"><!-- c --><r a='1' b="&amp;&#x41;">t<![CDATA[d]]><s/><?p q?></r>
            """
        let bytes = Array(text.utf8)
        for length in 0..<bytes.count {
            #expect(xmlError(Array(bytes[0..<length])) != nil, "prefix of \(length) bytes")
        }
        #expect(xmlError(bytes) == nil)
    }

    @Test("random bytes and random markup never crash")
    func fuzz() {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let pieces = [
            "<", ">", "/", "a", "b:c", "=", "'", "\"", "&", "#", ";", "!--", "-->", "<![CDATA[", "]]>", "?", " ", "\n",
        ]
        for _ in 0..<2_000 {
            let count = Int(next() % 40)
            let text = (0..<count).map { _ in pieces[Int(next() % UInt64(pieces.count))] }.joined()
            _ = xmlError(text)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
            _ = xmlError(bytes)
        }
    }
}
