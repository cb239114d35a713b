import Processor
import Testing

@Suite("Expression errors")
struct ExpressionErrorTests {
    /// (source, line, column, text, reason)
    static let cases: [(String, Int, Int, String, String)] = [
        ("", 1, 1, "", "empty expression"),
        (" \n\t ", 1, 1, "", "empty expression"),
        (
            "\"\\u{110000}\"", 1, 2, "\\u{110000",
            "malformed escape '\\u{110000': expected 1 to 6 hex digits of a non-NUL scalar and '}'"
        ),
        ("1 + $FOO", 1, 5, "$FOO", "unknown constant '$FOO'"),
        ("$", 1, 1, "$", "expected a constant name after '$'"),
        ("(a + b", 1, 1, "(", "unmatched '('"),
        ("((a) + b", 1, 1, "(", "unmatched '('"),
        ("a + b)", 1, 6, ")", "unmatched ')'"),
        (")", 1, 1, ")", "missing operand before ')'"),
        ("a +", 1, 4, "", "missing operand after '+'"),
        ("a * (", 1, 6, "", "missing operand after '('"),
        ("a + * b", 1, 5, "*", "missing operand before '*'"),
        ("* a", 1, 1, "*", "missing operand before '*'"),
        ("+a", 1, 1, "+", "missing operand before '+'"),
        ("()", 1, 2, ")", "missing operand before ')'"),
        ("a b", 1, 3, "b", "unexpected 'b' after a complete expression"),
        ("(a b)", 1, 4, "b", "unexpected 'b'; expected ')'"),
        ("2 3", 1, 3, "3", "unexpected '3' after a complete expression"),
        ("@", 1, 1, "@", "unexpected '@'"),
        ("a @ b", 1, 3, "@", "unexpected '@' after a complete expression"),
        ("foo(a)", 1, 1, "foo", "unknown function 'foo'"),
        ("rate(a, b)", 1, 1, "rate", "'rate' takes 1 argument, got 2"),
        ("clamp(a)", 1, 1, "clamp", "'clamp' takes 3 arguments, got 1"),
        ("sum()", 1, 1, "sum", "'sum' takes 1 argument, got 0"),
        ("rate(1)", 1, 6, "1", "argument 1 of 'rate' must be a metric name"),
        ("percentile(#h, 0.5)", 1, 12, "#", "argument 1 of 'percentile' must be a metric name"),
        ("sum(+)", 1, 5, "+", "argument 1 of 'sum' must be a name glob"),
        ("abs(a b)", 1, 7, "b", "unexpected 'b' in the arguments of 'abs'; expected ',' or ')'"),
        ("abs(a", 1, 4, "(", "unmatched '('"),
        ("abs(a,)", 1, 7, ")", "missing operand before ')'"),
        ("a\n+ $X", 2, 3, "$X", "unknown constant '$X'"),
        ("#1", 1, 1, "#", "expected a metric name after '#'"),
        ("12abc", 1, 1, "12abc", "malformed number '12abc'"),
        ("1.5.3", 1, 1, "1.5.3", "malformed number '1.5.3'"),
        ("1e999", 1, 1, "1e999", "number '1e999' is out of range"),
        ("a..b", 1, 1, "a..b", "malformed name 'a..b': empty segment between dots"),
        ("a.", 1, 1, "a.", "malformed name 'a.': empty segment between dots"),
        ("\"abc", 1, 1, "\"", "unterminated quoted name"),
        ("\"\"", 1, 1, "\"\"", "empty quoted name"),
        ("\"a\\qb\"", 1, 3, "\\q", "unknown escape '\\q' in a quoted name"),
        (
            "\"a\\u{0}\"", 1, 3, "\\u{0",
            "malformed escape '\\u{0': expected 1 to 6 hex digits of a non-NUL scalar and '}'"
        ),
        ("\"a\u{0}\"", 1, 3, "\u{0}", "character U+0000 in a quoted name; write it as an escape"),
        ("a\u{0}b", 1, 2, "\u{0}", "unexpected character U+0000 after a complete expression"),
        ("\u{0}", 1, 1, "\u{0}", "unexpected character U+0000"),
    ]

    @Test("every error names its line, column, text and reason", arguments: 0..<cases.count)
    func error(_ i: Int) throws {
        let (source, line, column, text, reason) = Self.cases[i]
        let error = try #require(compileError(source), "\(source.debugDescription) compiled")
        #expect(error == ExpressionError(line: line, column: column, text: text, reason: reason))
    }

    @Test("the description reads column C, or line L, column C past the first line")
    func description() throws {
        #expect(compileError("1 + $FOO")?.description == "column 5: unknown constant '$FOO'")
        #expect(compileError("a\n+ $X")?.description == "line 2, column 3: unknown constant '$X'")
    }

    @Test("invalid UTF-8 (decoded as U+FFFD) is an error, not a crash")
    func invalidUTF8() throws {
        let source = String(decoding: [0x61, 0xFF, 0x62] as [UInt8], as: UTF8.self)
        #expect(
            compileError(source)
                == ExpressionError(
                    line: 1, column: 2, text: "\u{FFFD}",
                    reason: "unexpected character U+FFFD after a complete expression"))
        #expect(try compile("\"a\u{FFFD}b\"").root == .metric("a\u{FFFD}b"))
    }

    @Test("deep nesting, long chains and long input are bounded with an error")
    func limits() throws {
        let parens = String(repeating: "(", count: 200) + "a" + String(repeating: ")", count: 200)
        #expect(
            compileError(parens)
                == ExpressionError(line: 1, column: 129, text: "(", reason: "nesting deeper than 128 levels"))
        #expect(
            try compile(String(repeating: "(", count: 128) + "a" + String(repeating: ")", count: 128)).root
                == .metric("a"))
        let minuses = String(repeating: "-", count: 200) + "a"
        #expect(compileError(minuses)?.column == 129)
        let calls = String(repeating: "abs(", count: 200) + "1" + String(repeating: ")", count: 200)
        #expect(compileError(calls)?.reason == "nesting deeper than 128 levels")
        let chain = Array(repeating: "a", count: 600).joined(separator: "+")
        #expect(
            compileError(chain)
                == ExpressionError(
                    line: 1, column: 1024, text: "+",
                    reason: "expression deeper than 512 levels (too many operators)"))
        #expect(throws: Never.self) { try compile(Array(repeating: "a", count: 500).joined(separator: "*")) }
        let long = String(repeating: "a", count: 70_000)
        #expect(
            compileError(long)
                == ExpressionError(
                    line: 1, column: 1, text: "", reason: "expression is 70000 bytes long; the limit is 65536"))
        for filler in ["(", "-", "#", "\"", "$", "1", "a+", "\u{0}", ")"] {
            let source = String(repeating: filler, count: 65_536 / filler.utf8.count)
            _ = compileError(source)  // any outcome but a crash
        }
        #expect(compileError(String(repeating: "(", count: 65_536))?.reason == "nesting deeper than 128 levels")
    }

    @Test("expressions at the limits compile and evaluate without exhausting the stack")
    func atTheLimits() throws {
        let chain = try compile(Array(repeating: "a", count: 512).joined(separator: "+"))
        #expect(chain.evaluate(with: ExpressionInputs(values: ["a": .int(2)])) == .int(1024))
        let nested = try compile(
            String(repeating: "-(", count: 64) + "a" + String(repeating: ")", count: 64))
        #expect(nested.evaluate(with: ExpressionInputs(values: ["a": .int(3)])) == .int(3))
        let calls = try compile(String(repeating: "abs(", count: 127) + "-a" + String(repeating: ")", count: 127))
        #expect(calls.evaluate(with: ExpressionInputs(values: ["a": .double(1.5)])) == .double(1.5))
        #expect(chain.root == chain.root)
    }

    @Test("random input compiles or throws, never crashes")
    func random() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let pool = Array("ab_.#$\"\\()+-*/,0123456789eE \n\t\u{0}\u{FFFD}é{}u")
        for _ in 0..<3000 {
            var text = ""
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 58)
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text.append(pool[Int(state >> 33) % pool.count])
            }
            if let e = compileError(text) {
                #expect(e.line >= 1 && e.column >= 1 && !e.reason.isEmpty)
            } else if let compiled = try? compile(text) {
                _ = compiled.evaluate(with: ExpressionInputs())
            }
        }
    }
}
