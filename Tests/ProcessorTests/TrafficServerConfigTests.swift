import Processor
import Testing

/// Traffic Server's shipped file, in the shared fixtures beside the package root (as the other targets' tests find theirs).
private let fixture: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/ProcessorTests/TrafficServerConfigTests.swift
    return parts.joined(separator: "/") + "/../shared/fixtures/ats/stats.config.xml.default"
}()

/// Loads `text` as `bad.xml` and returns the error's description, or nil when it loaded.
private func loadError(_ text: String) -> String? {
    loadError(Array(text.utf8))
}

private func loadError(_ bytes: [UInt8]) -> String? {
    do {
        _ = try TrafficServerConfig.parse(bytes, file: "bad.xml")
        return nil
    } catch {
        return error.description
    }
}

/// A document whose root holds `body`; the body starts on line 2.
private func document(_ body: String) -> String {
    "<ink:statistics xmlns:ink='http://trafficserver.apache.com/'>\n" + body + "\n</ink:statistics>\n"
}

@Suite("Traffic Server stats.config.xml")
struct TrafficServerConfigTests {
    @Test("the shipped stats.config.xml.default loads unchanged: 142 entries, first and last checked by hand")
    func shippedFile() throws {
        let entries = try TrafficServerConfig.load(path: fixture)
        #expect(entries.count == 142)
        #expect(entries.map(\.index) == Array(1...142))

        let first = entries[0]
        #expect(first.line == 8)
        #expect(first.column == 5)
        #expect(
            first.destinations == [
                .init(
                    name: "proxy.node.http.user_agents_total_documents_served", scope: .node, operation: .sum,
                    line: 10, column: 9),
                .init(
                    name: "proxy.cluster.http.user_agents_total_documents_served", scope: .cluster, operation: .sum,
                    line: 11, column: 9),
            ])
        #expect(first.expression == "proxy.process.http.incoming_requests")
        #expect(first.expressionLine == 13)
        #expect(first.expressionColumn == 13)
        #expect(first.minimum == 0)
        #expect(first.maximum == nil)
        #expect(first.interval == nil)
        #expect(first.debug == false)

        let last = entries[141]
        #expect(last.line == 1950)
        #expect(last.destinations.count == 1)
        #expect(last.nodeDestination?.name == "proxy.process.ssl.total_success_handshake_count")
        #expect(last.clusterDestination == nil)
        #expect(last.expression == "proxy.process.ssl.total_success_handshake_count_in")
        #expect(last.expressionLine == 1954)
        #expect(last.interval == nil)

        // Entry 16 (line 171): a re-calculate cluster destination, a 10 s interval, a # delta.
        let lookups = entries[15]
        #expect(lookups.line == 171)
        #expect(lookups.interval == 10)
        #expect(lookups.clusterDestination?.name == "proxy.cluster.hostdb.total_lookups_avg_10s")
        #expect(lookups.clusterDestination?.operation == .reCalculate)
        #expect(lookups.expression == "#proxy.process.hostdb.total_lookups")

        // Entry 18 (line 193): bounds, and an expression over two lines mapped back to the file.
        let ratio = entries[17]
        #expect(ratio.minimum == 0)
        #expect(ratio.maximum == 100)
        #expect(ratio.expression.hasPrefix("proxy.node.hostdb.total_hits_avg_10s    /\n"))
        #expect(ratio.expression.hasSuffix("proxy.node.hostdb.total_lookups_avg_10s"))
        #expect(ratio.expressionLine == 200)
        let divisor = ratio.expression.unicodeScalars.firstIndex(of: "/").map {
            ratio.expression.unicodeScalars.distance(from: ratio.expression.unicodeScalars.startIndex, to: $0) + 1
        }
        #expect(divisor.map { ratio.expressionPosition(offset: $0) } ?? (0, 0) == (200, 53))
        let second = (divisor ?? 0) + 14  // "/", newline, 12 spaces: the divisor's first character
        #expect(ratio.expressionPosition(offset: second) == (201, 13))

        // Counts over the whole file, from grep: 139 node and 63 cluster destinations, 70 intervals of 10 s.
        #expect(entries.compactMap(\.nodeDestination).count == 139)
        #expect(entries.compactMap(\.clusterDestination).count == 63)
        #expect(entries.filter { $0.clusterDestination?.operation == .reCalculate }.count == 9)
        #expect(entries.filter { $0.interval == 10 }.count == 70)
        #expect(entries.filter { $0.maximum != nil }.count == 38)
        #expect(entries.allSatisfy { !$0.expression.isEmpty && !$0.destinations.isEmpty })
    }

    @Test("malformed XML: each error is file:line:column: message")
    func malformedXML() {
        let cases: [(String, String)] = [
            (
                document("<statistics minimum='0'\n  <destination>d</destination></statistics>"),
                "bad.xml:3:3: start tag <statistics> opened at 2:1 is not closed: found '<' before '>'"
            ),
            (
                document("<statistics>\n  <destination>d</expression>\n</statistics>"),
                "bad.xml:3:17: end tag </expression> does not match <destination> opened at 3:3"
            ),
            (
                document("<statistics>\n  <destination>d</destination>\n  <expression>a</expression>\n</statistics>")
                    + "\n  <garbage/>",
                "bad.xml:8:3: unexpected '<' after the root element <ink:statistics>: only comments may follow it"
            ),
            (
                document("<statistics>\n  <destination>d</destination>\n  <expression>a</expression>\n</statistics>")
                    + "trailing text",
                "bad.xml:7:1: unexpected 't' after the root element <ink:statistics>: only comments may follow it"
            ),
            (
                "<ink:statistics>\n  <statistics minimum=\"0\">\n    <destination>d</destination>\n    <expr",
                "bad.xml:4:10: unexpected end of file in the start tag <expr> opened at 4:5"
            ),
            (
                "<ink:statistics>\n  <statistics minimum=\"0\">\n    <destination>d</destination>\n",
                "bad.xml:4:1: unexpected end of file: <statistics> opened at 2:3 is not closed "
                    + "(and 1 enclosing element(s))"
            ),
            (
                "<ink:statistics>\n<statistics>\n<expression>a\u{0}b</expression>",
                "bad.xml:3:14: NUL byte (U+0000) is not allowed in XML"
            ),
            (
                "<ink:statistics>" + String(repeating: "<statistics>", count: 10_000),
                "bad.xml:1:773: elements nested deeper than 64 levels"
            ),
            (
                document("<statistics><expression>a &lol; b</expression></statistics>"),
                "bad.xml:2:27: unknown entity '&lol;' (only &lt; &gt; &amp; &apos; &quot; and character references; "
                    + "DTD entities are never expanded)"
            ),
        ]
        for (text, expected) in cases {
            #expect(loadError(text) == expected)
        }
        #expect(loadError(Array("<ink:statistics>\n<x a='".utf8) + [0xC3]) == "bad.xml:2:7: invalid UTF-8")
    }

    @Test("the schema Traffic Server read is enforced, each error naming the entry and the field")
    func schema() {
        let dest = "\n  <destination>proxy.node.a</destination>"
        let expr = "\n  <expression>a</expression>"
        let cases: [(String, String)] = [
            (
                "<statistics xmlns='x'/>",
                "bad.xml:1:1: the root element is <statistics>, expected <ink:statistics>"
            ),
            (
                "<ink:statistics version='2'/>",
                "bad.xml:1:17: unknown attribute 'version' on <ink:statistics>"
            ),
            (
                document(
                    "<statistics>" + dest + "\n  <destination>proxy.node.b</destination>" + expr + "\n</statistics>"),
                "bad.xml:4:3: entry 1: second node-scope destination 'proxy.node.b' (the first is 'proxy.node.a' "
                    + "at 3:3); at most one node-scope and one cluster-scope destination per entry"
            ),
            (
                document(
                    "<statistics>" + dest + expr + "\n</statistics>\n<statistics>\n  <destination scope='cluster'>"
                        + "c</destination>\n  <destination scope='cluster'>d</destination>" + expr
                        + "\n</statistics>"),
                "bad.xml:8:3: entry 2: second cluster-scope destination 'd' (the first is 'c' at 7:3); at most one "
                    + "node-scope and one cluster-scope destination per entry"
            ),
            (
                document("<statistics minimum='0'>" + dest + "\n</statistics>"),
                "bad.xml:2:1: entry 1: no <expression>"
            ),
            (
                document("<statistics>" + expr + "\n</statistics>"),
                "bad.xml:2:1: entry 1: no <destination>"
            ),
            (
                document("<statistics>" + dest + expr + expr + "\n</statistics>"),
                "bad.xml:5:3: entry 1: second <expression> (the first is at 4:3)"
            ),
            (
                document("<statistics>" + dest + "\n  <expression>  </expression>\n</statistics>"),
                "bad.xml:4:3: entry 1: empty <expression>"
            ),
            (
                document("<statistics>\n  <destination scope='global'>x</destination>" + expr + "\n</statistics>"),
                "bad.xml:3:16: entry 1: scope 'global' must be 'node' or 'cluster'"
            ),
            (
                document("<statistics>\n  <destination operation='avg'>x</destination>" + expr + "\n</statistics>"),
                "bad.xml:3:16: entry 1: operation 'avg' must be 'sum' or 're-calculate'"
            ),
            (
                document("<statistics>\n  <destination>a b</destination>" + expr + "\n</statistics>"),
                "bad.xml:3:16: entry 1: destination name 'a b' contains whitespace"
            ),
            (
                document("<statistics maximun='1'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:13: entry 1: unknown attribute 'maximun' on <statistics> (expected minimum, maximum, "
                    + "interval, debug)"
            ),
            (
                document("<statistics minimum='zero'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:13: entry 1: minimum 'zero' is not a decimal number"
            ),
            (
                document("<statistics maximum='inf'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:13: entry 1: maximum 'inf' is not a decimal number"
            ),
            (
                document("<statistics interval='1.5'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:13: entry 1: interval '1.5' is not a whole number of seconds (0 to 999999999)"
            ),
            (
                document("<statistics debug='yes'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:13: entry 1: debug 'yes' must be 0 or 1"
            ),
            (
                document("<statistics minimum='5' maximum='1'>" + dest + expr + "\n</statistics>"),
                "bad.xml:2:1: entry 1: minimum 5.0 is greater than maximum 1.0"
            ),
            (
                document("<statistics minimum='0'>" + dest + expr + "\n  <min>1</min>\n</statistics>"),
                "bad.xml:5:3: entry 1: minimum given twice (attribute or element)"
            ),
            (
                document("<statistics>" + dest + expr + "\n  <src>x</src>\n</statistics>"),
                "bad.xml:5:3: entry 1: unknown element <src> in <statistics>: expected <destination>, "
                    + "<expression>, <min>, <max> or <default>"
            ),
            (
                document("<statistics>" + dest + "\n  <expression>a<b/></expression>\n</statistics>"),
                "bad.xml:4:16: entry 1: <expression> holds text only, found <b>"
            ),
            (
                document("<statistics>" + dest + expr + "\n  stray\n</statistics>"),
                "bad.xml:5:3: entry 1: unexpected text 'stray' in <statistics>: expected <destination>, "
                    + "<expression>, <min>, <max> or <default>"
            ),
            (
                document("<stat/>"),
                "bad.xml:2:1: unknown element <stat> in <ink:statistics>: expected <statistics>"
            ),
        ]
        for (text, expected) in cases {
            #expect(loadError(text) == expected)
        }
    }

    @Test("design-note elements, defaults, entities and CDATA in an accepted entry")
    func accepted() throws {
        let text = document(
            """
            <statistics interval="0" debug="1">
              <destination scope="cluster" operation="re-calculate">proxy.cluster.x</destination>
              <destination>proxy.node.x</destination>
              <expression><![CDATA[#a]]> * $HRTIME_SECOND / _DIFFTIME &gt; 0</expression>
              <min> -1.5 </min><max>2e3</max><default>0</default>
            </statistics>
            <!-- a comment between entries -->
            <statistics><destination>y</destination><expression>x</expression></statistics>
            """)
        let entries = try TrafficServerConfig.parse(Array(text.utf8), file: "ok.xml")
        #expect(entries.count == 2)
        let entry = entries[0]
        #expect(entry.clusterDestination?.operation == .reCalculate)
        #expect(entry.nodeDestination?.operation == .sum)
        #expect(entry.expression == "#a * $HRTIME_SECOND / _DIFFTIME > 0")
        #expect(entry.expressionLine == 5)
        #expect(entry.expressionColumn == 24)
        #expect(entry.minimum == -1.5)
        #expect(entry.maximum == 2000)
        #expect(entry.defaultValue == 0)
        #expect(entry.interval == 0)
        #expect(entry.debug)
        #expect(entries[1].index == 2)
        #expect(entries[1].minimum == nil)
        #expect(entries[1].debug == false)
    }

    @Test("attacker's inputs are over-limit or syntax errors, never a crash, a hang or an expansion")
    func attacks() {
        func failure(_ text: String) -> TrafficServerConfigError? {
            do {
                _ = try TrafficServerConfig.parse(Array(text.utf8), file: "evil.xml")
                return nil
            } catch {
                return error
            }
        }
        let huge = document("<statistics minimum='" + String(repeating: "9", count: 1_000_000) + "'/>")
        #expect(failure(huge)?.code == .overLimit)
        #expect(
            failure(huge)?.description == "evil.xml:2:21: value of attribute 'minimum' longer than 65536 characters")

        let deep = String(repeating: "<ink:statistics>", count: 10_000)
        #expect(failure(deep)?.code == .overLimit)

        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE ink:statistics [
              <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
              <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
            ]>
            <ink:statistics><statistics><destination>d</destination><expression>&b;</expression></statistics>
            </ink:statistics>
            """
        #expect(failure(laughs)?.code == .syntax)
        #expect(
            failure(laughs)?.description
                == "evil.xml:2:26: a DTD internal subset is not supported: entity and other declarations are never "
                + "read or expanded")

        let big = [UInt8](repeating: 0x20, count: TrafficServerConfig.maxFileSize + 1)
        do {
            _ = try TrafficServerConfig.parse(big, file: "big.xml")
            Issue.record("a file over the limit loaded")
        } catch {
            #expect(error.code == .overLimit)
            #expect(error.description == "big.xml:1:1: file too large: 4194305 bytes (limit 4194304)")
        }
    }

    @Test("an unreadable or missing file is an error naming it")
    func missingFile() {
        #expect(throws: TrafficServerConfigError.self) { try TrafficServerConfig.load(path: "/nonexistent/s.xml") }
        do {
            _ = try TrafficServerConfig.load(path: "/nonexistent/s.xml")
        } catch {
            #expect(error.code == .io)
            #expect(error.description == "/nonexistent/s.xml: cannot open: No such file or directory")
        }
    }
}
