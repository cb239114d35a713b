import Foundation
import Processor
import Testing

/// Compiles with the standard table, failing the test with the error's text.
func compile(_ text: String, constants: [String: Number] = [:]) throws -> CompiledExpression {
    try ExpressionCompiler(constants: constants).compile(text)
}

/// The error a compile throws, or nil when it compiles.
func compileError(_ text: String, constants: [String: Number] = [:]) -> ExpressionError? {
    do {
        _ = try ExpressionCompiler(constants: constants).compile(text)
        return nil
    } catch {
        return error
    }
}

@Suite("Expression parser")
struct ExpressionParserTests {
    @Test("precedence and left associativity build the expected tree")
    func trees() throws {
        #expect(
            try compile("a + b * c").root
                == .binary(.add, .metric("a"), .binary(.multiply, .metric("b"), .metric("c"))))
        #expect(
            try compile("a - b - c").root
                == .binary(.subtract, .binary(.subtract, .metric("a"), .metric("b")), .metric("c")))
        #expect(
            try compile("a / b / c").root
                == .binary(.divide, .binary(.divide, .metric("a"), .metric("b")), .metric("c")))
        #expect(
            try compile("(a + b) * c").root
                == .binary(.multiply, .binary(.add, .metric("a"), .metric("b")), .metric("c")))
        #expect(try compile("-a").root == .negate(.metric("a")))
        #expect(try compile("--a").root == .negate(.negate(.metric("a"))))
        #expect(try compile("-5").root == .number(.int(-5)))
        #expect(try compile("a*-b").root == .binary(.multiply, .metric("a"), .negate(.metric("b"))))
    }

    @Test("whitespace never matters")
    func whitespace() throws {
        let expected = try compile("a+b*(c-#d)/$HRTIME_SECOND").root
        for text in [
            "a + b * ( c - #d ) / $HRTIME_SECOND", "a\n+\tb*(c -#d)/ $HRTIME_SECOND",
            "  \n\t a+b*(c-#d)/$HRTIME_SECOND \r\n",
        ] {
            #expect(try compile(text).root == expected, "\(text)")
        }
    }

    @Test("literals: integers, decimals, exponents; integers too big for Int64 become doubles")
    func literals() throws {
        #expect(try compile("42").root == .number(.int(42)))
        #expect(try compile("2.5").root == .number(.double(2.5)))
        #expect(try compile("1e3").root == .number(.double(1000)))
        #expect(try compile("1.5E-2").root == .number(.double(0.015)))
        #expect(try compile("2e+2").root == .number(.double(200)))
        #expect(try compile("9223372036854775807").root == .number(.int(Int64.max)))
        #expect(try compile("9223372036854775808").root == .number(.double(9_223_372_036_854_775_808)))
    }

    @Test("names: dotted, quoted with escapes, #deltas, _elapsed, constants")
    func names() throws {
        #expect(try compile("web.response_time.p99").root == .metric("web.response_time.p99"))
        #expect(try compile(#""name with + and spaces""#).root == .metric("name with + and spaces"))
        #expect(try compile(#""a\"b\\c\n\t\u{e9}""#).root == .metric("a\"b\\c\n\té"))
        #expect(try compile("#proxy.process.x").root == .delta("proxy.process.x"))
        #expect(try compile(#"#"odd-name""#).root == .delta("odd-name"))
        #expect(try compile("_DIFFTIME").root == .elapsed("_DIFFTIME"))
        #expect(try compile("$PCT_TO_INTPCT_SCALE").root == .constant(name: "PCT_TO_INTPCT_SCALE", value: .int(100)))
        #expect(
            try compile("$PAGE", constants: ["PAGE": .int(4096)]).root == .constant(name: "PAGE", value: .int(4096)))
        // A user constant cannot redefine a built-in one.
        #expect(
            try compile("$HRTIME_SECOND", constants: ["HRTIME_SECOND": .int(1)]).root
                == .constant(name: "HRTIME_SECOND", value: .int(1_000_000_000)))
        let refs = try compile("a +\n #b * _DIFFTIME + sum(web.*.requests)").references
        #expect(
            refs == [
                ExpressionReference(kind: .metric, name: "a", line: 1, column: 1),
                ExpressionReference(kind: .delta, name: "b", line: 2, column: 2),
                ExpressionReference(kind: .elapsed, name: "_DIFFTIME", line: 2, column: 7),
                ExpressionReference(kind: .glob, name: "web.*.requests", line: 2, column: 23),
            ])
    }

    @Test("function calls: metric, glob and value arguments")
    func calls() throws {
        #expect(try compile("rate(web.requests)").root == .call("rate", [.metric("web.requests")]))
        #expect(try compile("delta ( \"a b\" )").root == .call("delta", [.metric("a b")]))
        #expect(try compile("sum(web.*.req?)").root == .call("sum", [.glob("web.*.req?")]))
        #expect(try compile("count(\"a*(b)\")").root == .call("count", [.glob("a*(b)")]))
        for name in ["min", "max", "avg"] {
            #expect(try compile("\(name)(x.*)").root == .call(name, [.glob("x.*")]))
        }
        #expect(
            try compile("percentile(web.latency, 0.99)").root
                == .call("percentile", [.metric("web.latency"), .value(.number(.double(0.99)))]))
        #expect(
            try compile("clamp(a - 1, 0, 100) + abs(-b)").root
                == .binary(
                    .add,
                    .call(
                        "clamp",
                        [
                            .value(.binary(.subtract, .metric("a"), .number(.int(1)))), .value(.number(.int(0))),
                            .value(.number(.int(100))),
                        ]), .call("abs", [.value(.negate(.metric("b")))])))
        let ratio = ExpressionFunction(name: "ratio", parameters: [.value, .value])
        let compiler = ExpressionCompiler(functions: ExpressionFunction.standard + [ratio])
        #expect(
            try compiler.compile("ratio(a, b)").root == .call("ratio", [.value(.metric("a")), .value(.metric("b"))]))
    }

    @Test("every expression of Traffic Server's stats.config.xml.default compiles with the standard constants")
    func trafficServerFile() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../shared/fixtures/ats/stats.config.xml.default"
        ).standardizedFileURL.path
        let xml = try String(contentsOfFile: path, encoding: .utf8)
        let regex = try NSRegularExpression(
            pattern: "<expression>(.*?)</expression>", options: [.dotMatchesLineSeparators])
        let ns = xml as NSString
        let texts = regex.matches(in: xml, range: NSRange(location: 0, length: ns.length)).map {
            ns.substring(with: $0.range(at: 1))
        }
        #expect(texts.count == 142)
        var deltas = 0
        var elapsed = 0
        for (i, text) in texts.enumerated() {
            do {
                let e = try ExpressionCompiler().compile(text)
                deltas += e.references.filter { $0.kind == .delta }.count
                elapsed += e.references.filter { $0.kind == .elapsed }.count
            } catch {
                Issue.record("stats.config.xml.default expression \(i + 1): \(error)")
            }
        }
        #expect(deltas > 0)
        #expect(elapsed > 0)
    }
}
