import Processor
import Testing

/// The error lines of loading `text` as `m.json`, or `[]` when it loaded.
private func errors(_ text: String) -> [String] {
    errors(Array(text.utf8))
}

private func errors(_ bytes: [UInt8]) -> [String] {
    do {
        _ = try Manifest.parse(bytes, file: "m.json")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// A manifest whose entries are `lines`, one per line from line 2.
private func manifest(_ lines: String...) -> String {
    "{ \"entries\": [\n" + lines.joined(separator: "\n") + "\n] }"
}

@Suite("Manifest errors")
struct ManifestErrorTests {
    @Test("JSON syntax errors name the line and column")
    func syntax() {
        #expect(
            errors(#"{ "entries": [ { "destination": "a" "type": "integer" } ] }"#)
                == [#"m.json:1:37: expected ',' or '}', found '"'"#])
        #expect(
            errors("{ \"entries\": [],\n  \"entries\": [] }") == ["m.json:2:3: duplicate key 'entries' (first at 1:3)"])
        #expect(errors(#"{ "entries": [ /* open"#) == ["m.json:1:16: unterminated comment"])
        #expect(errors(#"{ "entries": [ "\q" ] }"#) == [#"m.json:1:17: unknown escape '\q'"#])
        #expect(errors(#"{ "entries": [ 01 ] }"#) == ["m.json:1:16: malformed number: leading zero"])
        #expect(errors(#"{ "entries": [ 1e999 ] }"#) == ["m.json:1:16: number out of range: 1e999"])
        #expect(errors(#"{ "entries": [ ] } x"#) == ["m.json:1:20: unexpected 'x' after the document"])
        #expect(errors(#"{ "entries": [ , ] }"#) == ["m.json:1:16: expected a value, found ','"])
        #expect(errors("") == ["m.json:1:1: empty document"])
        #expect(errors("  // only a comment\n") == ["m.json:2:1: empty document"])
        #expect(errors(#"{ "entries": [ "\uD800" ] }"#) == [#"m.json:1:17: unpaired surrogate in \u escape"#])
    }

    @Test("outputs.listen is checked by the parser `serve --listen` uses, the error naming file, field and column")
    func listen() throws {
        func listen(_ value: String) -> [String] {
            errors("{ \"outputs\": {\n  \"listen\": \"\(value)\" },\n  \"entries\": [] }")
        }
        #expect(
            listen("127.0.0.1:70000") == [
                "m.json:2:13: outputs.listen: the port '70000' is not a whole number from 0 to 65535"
            ])
        #expect(
            listen("127.0.0.1:") == ["m.json:2:13: outputs.listen: the port '' is not a whole number from 0 to 65535"])
        #expect(
            listen("web.example:9464") == [
                "m.json:2:13: outputs.listen: 'web.example' is not an IPv4 address, [IPv6] address or localhost "
                    + "(names are not resolved)"
            ])
        #expect(listen("1.2.3:80").count == 1)
        #expect(
            listen("") == [
                "m.json:2:13: outputs.listen: expected ADDRESS:PORT, such as 127.0.0.1:9464, not an empty string"
            ])
        #expect(listen("[::1:80") == ["m.json:2:13: outputs.listen: an IPv6 address needs its closing ']'"])
        for good in ["127.0.0.1:9464", "0.0.0.0:0", "[::1]:9464", "localhost:80"] {
            #expect(listen(good).isEmpty, "\(good)")
            let parsed = try Manifest.parse(
                Array("{ \"outputs\": { \"listen\": \"\(good)\" }, \"entries\": [] }".utf8), file: "m.json")
            #expect(parsed.outputs.listen == good)
        }
        #expect(ListenAddress.parse("localhost:80") == ListenAddress(host: "127.0.0.1", port: 80, isIPv6: false))
        #expect(ListenAddress.parse("[::1]:9464")?.url == "http://[::1]:9464")
    }

    @Test("unknown keys, wrong types and bad values name the entry and the field")
    func fields() {
        #expect(
            errors(manifest(#"  { "destination": "a", "type": "integer", "expression": "x", "colour": 1 }"#)) == [
                "m.json:2:63: entry 1 (a): colour: unknown key 'colour' (expected one of: debug, default, description, "
                    + "destination, destinations, expression, interval, maximum, minimum, operation, scope, type, unit)"
            ])
        #expect(
            errors(manifest(#"  { "destination": "a", "type": "int", "expression": "x", "minimum": "0" }"#)) == [
                "m.json:2:33: entry 1 (a): type: unknown value 'int' (expected one of: integer, counter, float)",
                "m.json:2:70: entry 1 (a): minimum: expected a number, found a string",
            ])
        #expect(
            errors(
                manifest(
                    #"  { "destination": "a", "type": "float", "expression": "x", "minimum": 5, "maximum": 1, "default": 9 }"#
                )) == [
                    "m.json:2:86: entry 1 (a): maximum: 1 is less than the minimum 5",
                    "m.json:2:100: entry 1 (a): default: 9 is outside the bounds",
                ])
        #expect(
            errors(#"{ "constants": { "HRTIME_SECOND": 1, "9x": 2, "K": "1" }, "entries": [] }"#) == [
                "m.json:1:18: constants.HRTIME_SECOND: '$HRTIME_SECOND' is built in and cannot be redefined",
                "m.json:1:38: constants.9x: a constant name is a letter or '_', then letters, digits or '_'",
                "m.json:1:52: constants.K: expected a number, found a string",
            ])
        #expect(
            errors(#"{ "interval": -1, "sources": { "roots": "/run", "hosts": [] } }"#) == [
                "m.json:1:1: entries: missing: a manifest needs a list of entries",
                "m.json:1:15: interval: -1.0 seconds: expected more than 0 and at most 86400",
                "m.json:1:41: sources.roots: expected a list of strings, found a string",
                "m.json:1:49: sources.hosts: unknown key 'hosts' (expected one of: applications, files, models, roots)",
            ])
    }

    @Test("a destination object: its own scope and operation, checked like the entry's")
    func destinationObjects() {
        #expect(
            errors(
                manifest(
                    #"  { "destinations": [ { "name": "a", "scope": "galaxy", "op": 1 }, { "scope": "host" } ], "type": "float", "expression": "x" }"#
                )) == [
                    "m.json:2:47: entry 1 (a): destinations.scope: unknown value 'galaxy' (expected one of: thread, process, host, cluster)",
                    "m.json:2:57: entry 1 (a): destinations.op: unknown key 'op' (expected one of: name, operation, scope)",
                    "m.json:2:68: entry 1 (a): destinations: missing 'name'",
                ])
    }

    @Test("every error of every entry is collected, in file order")
    func collectsAll() {
        #expect(
            errors(
                manifest(
                    #"  { "expression": 3 },"#,
                    #"  { "destination": "", "destinations": [], "type": "float", "expression": "y", "interval": 0, "debug": 1 }"#
                )) == [
                    "m.json:2:3: entry 1: destination: missing: an entry needs 'destination' or 'destinations'",
                    "m.json:2:3: entry 1: type: missing: expected one of integer, counter, float",
                    "m.json:2:19: entry 1: expression: expected a string, found a number",
                    "m.json:3:20: entry 2: destination: empty name",
                    "m.json:3:24: entry 2: destinations: give 'destination' or 'destinations', not both",
                    "m.json:3:92: entry 2: interval: 0.0 seconds: expected more than 0 and at most 86400",
                    "m.json:3:104: entry 2: debug: expected true or false, found a number",
                ])
    }

    @Test("expression errors point at the character inside the JSON string")
    func expressionPositions() {
        #expect(
            errors(manifest(#"  { "destination": "a", "type": "float","#, #"    "expression": "x + $FOO" }"#))
                == ["m.json:3:24: entry 1 (a): expression: unknown constant '$FOO'"])
        // Across an escaped line break: the '(' is column 63 of the file (the `\n` takes two).
        #expect(
            errors(manifest(#"  { "destination": "a", "type": "float", "expression": "x +\n (y" }"#))
                == ["m.json:2:63: entry 1 (a): expression: unmatched '('"])
        // A manifest constant is known; a misspelt one is not.
        #expect(
            errors(
                #"{ "constants": { "K": 2 }, "entries": [ { "destination": "a", "type": "float", "expression": "x * $K + $KK" } ] }"#
            ) == [#"m.json:1:104: entry 1 (a): expression: unknown constant '$KK'"#])
    }

    @Test("forward references, cycles and destinations written twice")
    func order() {
        let entryA = #"  { "destination": "a", "type": "float", "expression": "b + 1" },"#
        #expect(
            errors(manifest(entryA, #"  { "destination": "b", "type": "float", "expression": "x" }"#)) == [
                "m.json:2:57: entry 1 (a): expression: forward reference to 'b', written by later entry 2: "
                    + "manifest order is evaluation order, so move this entry after it"
            ])
        #expect(
            errors(manifest(entryA, ##"  { "destination": "b", "type": "float", "expression": "#a" }"##)) == [
                "m.json:2:57: entry 1 (a): expression: cycle: 'b' is written by entry 2, which depends on this entry"
            ])
        #expect(
            errors(manifest(#"  { "destination": "a", "type": "float", "expression": "a + 1" }"#))
                == ["m.json:2:57: entry 1 (a): expression: cycle: 'a' is this entry's own destination"])
        #expect(
            errors(
                manifest(
                    #"  { "destination": "a", "type": "float", "expression": "x" },"#,
                    #"  { "destinations": ["c", "a"], "type": "float", "expression": "y" }"#
                )) == ["m.json:3:27: entry 2 (c): destination: 'a' is already written by entry 1 (at 2:20)"])
    }

    @Test("globs: one matching a later destination, or its own, is rejected; an earlier one is fine")
    func globOrder() {
        let sum = #"  { "destination": "web.total", "type": "float", "expression": "sum(web.*)" },"#
        #expect(
            errors(manifest(sum, #"  { "destination": "web.rate", "type": "float", "expression": "x" }"#)) == [
                "m.json:2:69: entry 1 (web.total): expression: cycle: glob 'web.*' matches 'web.total', which is "
                    + "this entry's own destination"
            ])
        let total = #"  { "destination": "total", "type": "float", "expression": "sum(web.*)" },"#
        #expect(
            errors(manifest(total, #"  { "destination": "web.rate", "type": "float", "expression": "x" }"#)) == [
                "m.json:2:65: entry 1 (total): expression: forward reference: glob 'web.*' matches 'web.rate', which "
                    + "is written by later entry 2: manifest order is evaluation order, so move this entry after it "
                    + "or narrow the glob"
            ])
        #expect(
            errors(
                manifest(
                    #"  { "destination": "web.rate", "type": "float", "expression": "x" },"#,
                    #"  { "destination": "total", "type": "float", "expression": "sum(web.*) + count(\"w?b.*\")" }"#
                )) == [])
        // A cycle through a glob: b reads a, a's glob matches b.
        #expect(
            errors(
                manifest(
                    #"  { "destination": "a", "type": "float", "expression": "max(b*)" },"#,
                    ##"  { "destination": "b", "type": "float", "expression": "#a" }"##
                )) == [
                    "m.json:2:61: entry 1 (a): expression: cycle: glob 'b*' matches 'b', which is written by entry 2, "
                        + "which depends on this entry"
                ])
    }

    @Test("Traffic Server XML: expression and order errors point into the XML text")
    func trafficServerErrors() {
        #expect(
            errors(
                "<ink:statistics>\n<statistics>\n  <destination>a</destination>\n  <expression>\n   x + $NOPE</expression>\n"
                    + "</statistics>\n</ink:statistics>") == [
                    "m.json:5:8: entry 1 (a): expression: unknown constant '$NOPE'"
                ])
        #expect(
            errors(
                "<ink:statistics>\n<statistics><destination>a</destination><expression>b</expression></statistics>\n"
                    + "<statistics><destination>b</destination><expression>x</expression></statistics>\n</ink:statistics>"
            )
                == [
                    "m.json:2:53: entry 1 (a): expression: forward reference to 'b', written by later entry 2: "
                        + "manifest order is evaluation order, so move this entry after it"
                ])
        #expect(
            errors("<ink:statistics>\n<statistics>") == [
                "m.json:2:13: unexpected end of file: <statistics> opened at 2:1 is not closed (and 1 enclosing element(s))"
            ])
    }

    @Test("attacker's inputs: deep nesting, huge files, NUL, invalid UTF-8")
    func attackerInputs() {
        #expect(
            errors(String(repeating: "[", count: 100_000)) == ["m.json:1:65: nested too deeply: the limit is 64 levels"]
        )
        #expect(
            errors([UInt8](repeating: 0x20, count: Manifest.maxFileSize + 1))
                == ["m.json:1:1: document too large: 4194305 bytes, the limit is 4194304"])
        #expect(errors([0x7B, 0x00, 0x7D]) == ["m.json:1:2: NUL character"])
        #expect(errors(#"{ "entries": [ "é\u0000" ] }"#) == [#"m.json:1:18: NUL character (\u0000) in a string"#])
        #expect(errors([0x7B, 0x0A, 0x20, 0xC3, 0x28, 0x7D]) == ["m.json:2:2: invalid UTF-8"])
        #expect(errors([0xFF]) == ["m.json:1:1: invalid UTF-8"])
        let longName = String(repeating: "n", count: Manifest.maxNameLength + 1)
        #expect(
            errors(manifest(#"  { "destination": ""# + longName + #"", "type": "float", "expression": "x" }"#))
                == ["m.json:2:20: entry 1: destination: name longer than 1024 bytes"])
        // A deeply nested expression inside a valid manifest is the compiler's error, positioned.
        let deep = String(repeating: "(", count: 200) + "x"
        let result = errors(manifest(#"  { "destination": "a", "type": "float", "expression": ""# + deep + #"" }"#))
        #expect(
            result.count == 1 && result[0].hasPrefix("m.json:2:185: entry 1 (a): expression: nesting deeper than 128"))
        #expect(
            errors(loading: "/nonexistent/m.json") == ["/nonexistent/m.json: cannot open: No such file or directory"])
    }
}

/// The error lines of loading the file at `path`.
private func errors(loading path: String) -> [String] {
    do {
        _ = try Manifest.load(path: path)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}
