/// The scanner and recursive-descent parser behind `ExpressionCompiler.compile`.
///
/// It reads Unicode scalars with a position table (1-based line and column per scalar), bounds
/// its recursion by `ExpressionCompiler.maximumNesting` and the tree by `maximumTreeHeight`,
/// and returns each node with its height.
struct ExpressionParser {
    private let scalars: [Unicode.Scalar]
    private var lines: [Int] = []
    private var columns: [Int] = []
    private var index = 0
    private let compiler: ExpressionCompiler
    private(set) var references: [ExpressionReference] = []

    init(source: String, compiler: ExpressionCompiler) throws(ExpressionError) {
        let length = source.utf8.count
        guard length <= ExpressionCompiler.maximumLength else {
            throw ExpressionError(
                line: 1, column: 1, text: "",
                reason: "expression is \(length) bytes long; the limit is \(ExpressionCompiler.maximumLength)")
        }
        self.compiler = compiler
        self.scalars = Array(source.unicodeScalars)
        lines.reserveCapacity(scalars.count + 1)
        columns.reserveCapacity(scalars.count + 1)
        var line = 1
        var column = 1
        for scalar in scalars {
            lines.append(line)
            columns.append(column)
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        lines.append(line)
        columns.append(column)
    }

    // MARK: - Entry

    mutating func parseAll() throws(ExpressionError) -> ExpressionNode {
        skipSpace()
        guard index < scalars.count else { throw error(at: 0, "", "empty expression") }
        let (node, _) = try parseSum(depth: 0, after: nil)
        skipSpace()
        if index < scalars.count {
            let c = scalars[index]
            if c == ")" { throw error(at: index, ")", "unmatched ')'") }
            throw error(at: index, String(c), "unexpected \(describe(c)) after a complete expression")
        }
        return node
    }

    // MARK: - Grammar

    /// sum := product (('+' | '-') product)*
    private mutating func parseSum(depth: Int, after: String?) throws(ExpressionError) -> (ExpressionNode, Int) {
        var (lhs, height) = try parseProduct(depth: depth, after: after)
        while true {
            skipSpace()
            guard index < scalars.count, scalars[index] == "+" || scalars[index] == "-" else { break }
            let at = index
            let op: BinaryOperator = scalars[index] == "+" ? .add : .subtract
            index += 1
            let (rhs, h) = try parseProduct(depth: depth, after: op.symbol)
            height = try grow(max(height, h), at: at, op.symbol)
            lhs = .binary(op, lhs, rhs)
        }
        return (lhs, height)
    }

    /// product := unary (('*' | '/') unary)*
    private mutating func parseProduct(depth: Int, after: String?) throws(ExpressionError) -> (ExpressionNode, Int) {
        var (lhs, height) = try parseUnary(depth: depth, after: after)
        while true {
            skipSpace()
            guard index < scalars.count, scalars[index] == "*" || scalars[index] == "/" else { break }
            let at = index
            let op: BinaryOperator = scalars[index] == "*" ? .multiply : .divide
            index += 1
            let (rhs, h) = try parseUnary(depth: depth, after: op.symbol)
            height = try grow(max(height, h), at: at, op.symbol)
            lhs = .binary(op, lhs, rhs)
        }
        return (lhs, height)
    }

    /// unary := '-' unary | primary
    private mutating func parseUnary(depth: Int, after: String?) throws(ExpressionError) -> (ExpressionNode, Int) {
        skipSpace()
        guard index < scalars.count, scalars[index] == "-" else { return try parsePrimary(depth: depth, after: after) }
        let at = index
        try checkNesting(depth + 1, at: at, "-")
        index += 1
        let (operand, h) = try parseUnary(depth: depth + 1, after: "-")
        let height = try grow(h, at: at, "-")
        if case .number(let n) = operand, let negated = Number.negate(n) { return (.number(negated), height) }
        return (.negate(operand), height)
    }

    /// primary := number | '(' sum ')' | '$' NAME | '#' name | '_' NAME | name | NAME '(' args ')'
    private mutating func parsePrimary(depth: Int, after: String?) throws(ExpressionError) -> (ExpressionNode, Int) {
        skipSpace()
        guard index < scalars.count else {
            throw error(at: index, "", after.map { "missing operand after '\($0)'" } ?? "missing operand")
        }
        let c = scalars[index]
        let start = index
        switch c {
        case "0"..."9":
            return (.number(try scanNumber()), 1)
        case "(":
            try checkNesting(depth + 1, at: start, "(")
            index += 1
            let (inner, h) = try parseSum(depth: depth + 1, after: "(")
            try expectClose(open: start)
            return (inner, h)
        case "$":
            index += 1
            let name = scanWhile { Self.isWordChar($0) }
            guard !name.isEmpty else { throw error(at: start, "$", "expected a constant name after '$'") }
            guard let value = compiler.constants[name] else {
                throw error(at: start, "$" + name, "unknown constant '$\(name)'")
            }
            return (.constant(name: name, value: value), 1)
        case "#":
            index += 1
            guard index < scalars.count, Self.isNameStart(scalars[index]) || scalars[index] == "\"" else {
                throw error(at: start, "#", "expected a metric name after '#'")
            }
            let name = try scanName()
            references.append(reference(.delta, name, at: start))
            return (.delta(name), 1)
        case "\"":
            let name = try scanName()
            references.append(reference(.metric, name, at: start))
            return (.metric(name), 1)
        case "_":
            let name = scanWhile { Self.isWordChar($0) }
            references.append(reference(.elapsed, name, at: start))
            return (.elapsed(name), 1)
        case "+", "*", "/", ")", ",":
            throw error(at: start, String(c), "missing operand before '\(c)'")
        default:
            guard Self.isNameStart(c) else {
                throw error(at: start, String(c), "unexpected \(describe(c))")
            }
            let name = try scanName()
            let afterName = index
            skipSpace()
            if index < scalars.count, scalars[index] == "(" {
                return try parseCall(name, nameAt: start, depth: depth)
            }
            index = afterName
            references.append(reference(.metric, name, at: start))
            return (.metric(name), 1)
        }
    }

    /// call := NAME '(' [argument (',' argument)*] ')'; the current scalar is '('.
    private mutating func parseCall(
        _ name: String, nameAt: Int, depth: Int
    ) throws(ExpressionError) -> (ExpressionNode, Int) {
        guard let function = compiler.functions[name] else {
            throw error(at: nameAt, name, "unknown function '\(name)'")
        }
        let open = index
        try checkNesting(depth + 1, at: open, "(")
        index += 1
        var arguments: [ExpressionArgument] = []
        var height = 1
        skipSpace()
        if index < scalars.count, scalars[index] == ")" {
            index += 1
        } else {
            while true {
                let position = arguments.count
                let kind = position < function.parameters.count ? function.parameters[position] : .value
                skipSpace()
                let argumentAt = index
                switch kind {
                case .value:
                    let (node, h) = try parseSum(depth: depth + 1, after: nil)
                    height = max(height, h + 1)
                    arguments.append(.value(node))
                case .metric:
                    guard index < scalars.count, Self.isNameStart(scalars[index]) || scalars[index] == "\"" else {
                        throw error(
                            at: argumentAt, current, "argument \(position + 1) of '\(name)' must be a metric name")
                    }
                    let metric = try scanName()
                    references.append(reference(.metric, metric, at: argumentAt))
                    arguments.append(.metric(metric))
                case .glob:
                    let glob: String
                    if index < scalars.count, scalars[index] == "\"" {
                        glob = try scanQuoted()
                    } else {
                        glob = scanWhile { Self.isWordChar($0) || $0 == "." || $0 == "*" || $0 == "?" }
                    }
                    guard !glob.isEmpty else {
                        throw error(
                            at: argumentAt, current, "argument \(position + 1) of '\(name)' must be a name glob")
                    }
                    references.append(reference(.glob, glob, at: argumentAt))
                    arguments.append(.glob(glob))
                }
                skipSpace()
                guard index < scalars.count else { throw error(at: open, "(", "unmatched '('") }
                if scalars[index] == "," {
                    index += 1
                    continue
                }
                if scalars[index] == ")" {
                    index += 1
                    break
                }
                throw error(
                    at: index, current,
                    "unexpected \(describe(scalars[index])) in the arguments of '\(name)'; expected ',' or ')'")
            }
        }
        let expected = function.parameters.count
        guard arguments.count == expected else {
            throw error(
                at: nameAt, name,
                "'\(name)' takes \(expected) argument\(expected == 1 ? "" : "s"), got \(arguments.count)")
        }
        return (.call(name, arguments), try grow(height, at: nameAt, name))
    }

    // MARK: - Scanning

    private mutating func expectClose(open: Int) throws(ExpressionError) {
        skipSpace()
        guard index < scalars.count else { throw error(at: open, "(", "unmatched '('") }
        guard scalars[index] == ")" else {
            throw error(at: index, current, "unexpected \(describe(scalars[index])); expected ')'")
        }
        index += 1
    }

    /// A bare name (letters, digits, `_`, `.`; no empty segment) or a quoted one.
    private mutating func scanName() throws(ExpressionError) -> String {
        if index < scalars.count, scalars[index] == "\"" { return try scanQuoted() }
        let start = index
        let name = scanWhile { Self.isWordChar($0) || $0 == "." }
        if name.hasSuffix(".") || name.contains("..") {
            throw error(at: start, name, "malformed name '\(name)': empty segment between dots")
        }
        return name
    }

    /// `"…"` with escapes `\"`, `\\`, `\n`, `\t`, `\u{HEX}`; no raw control characters, no NUL.
    private mutating func scanQuoted() throws(ExpressionError) -> String {
        let open = index
        index += 1
        var text = String.UnicodeScalarView()
        while true {
            guard index < scalars.count else { throw error(at: open, "\"", "unterminated quoted name") }
            let c = scalars[index]
            if c == "\"" {
                index += 1
                break
            }
            if c.value < 0x20 || c.value == 0x7F {
                throw error(at: index, String(c), "\(describe(c)) in a quoted name; write it as an escape")
            }
            if c != "\\" {
                text.append(c)
                index += 1
                continue
            }
            let escapeAt = index
            index += 1
            guard index < scalars.count else { throw error(at: open, "\"", "unterminated quoted name") }
            let e = scalars[index]
            index += 1
            switch e {
            case "\"": text.append("\"")
            case "\\": text.append("\\")
            case "n": text.append("\n")
            case "t": text.append("\t")
            case "u":
                guard index < scalars.count, scalars[index] == "{" else {
                    throw error(at: escapeAt, "\\u", "malformed escape '\\u': expected '\\u{HEX}'")
                }
                index += 1
                let hex = scanWhile { $0.properties.isASCIIHexDigit }
                guard index < scalars.count, scalars[index] == "}", hex.count >= 1, hex.count <= 6,
                    let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code), code != 0
                else {
                    throw error(
                        at: escapeAt, "\\u{" + hex,
                        "malformed escape '\\u{\(hex)': expected 1 to 6 hex digits of a non-NUL scalar and '}'")
                }
                index += 1
                text.append(scalar)
            default:
                throw error(at: escapeAt, "\\" + String(e), "unknown escape '\\\(e)' in a quoted name")
            }
        }
        guard !text.isEmpty else { throw error(at: open, "\"\"", "empty quoted name") }
        return String(text)
    }

    /// digits ['.' digits] [('e'|'E') ['+'|'-'] digits]; an integer literal that does not fit
    /// Int64 becomes a double.
    private mutating func scanNumber() throws(ExpressionError) -> Number {
        let start = index
        var isInteger = true
        _ = scanWhile { Self.isDigit($0) }
        if index + 1 < scalars.count, scalars[index] == ".", Self.isDigit(scalars[index + 1]) {
            isInteger = false
            index += 1
            _ = scanWhile { Self.isDigit($0) }
        }
        if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
            var look = index + 1
            if look < scalars.count, scalars[look] == "+" || scalars[look] == "-" { look += 1 }
            if look < scalars.count, Self.isDigit(scalars[look]) {
                isInteger = false
                index = look
                _ = scanWhile { Self.isDigit($0) }
            }
        }
        if index < scalars.count, Self.isWordChar(scalars[index]) || scalars[index] == "." {
            _ = scanWhile { Self.isWordChar($0) || $0 == "." }
            let text = slice(start, index)
            throw error(at: start, text, "malformed number '\(text)'")
        }
        let text = slice(start, index)
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw error(at: start, text, "number '\(text)' is out of range")
        }
        return .double(value)
    }

    private mutating func scanWhile(_ accept: (Unicode.Scalar) -> Bool) -> String {
        let start = index
        while index < scalars.count, accept(scalars[index]) { index += 1 }
        return slice(start, index)
    }

    private mutating func skipSpace() {
        while index < scalars.count, scalars[index].properties.isWhitespace { index += 1 }
    }

    // MARK: - Helpers

    private static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
    private static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }
    private static func isWordChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || isDigit(c) }

    private var current: String { index < scalars.count ? String(scalars[index]) : "" }

    private func slice(_ from: Int, _ to: Int) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[from..<to])
        return String(view)
    }

    private func describe(_ c: Unicode.Scalar) -> String {
        if c.value < 0x20 || c.value == 0x7F || c == "\u{FFFD}" || !c.properties.isAlphabetic && c.value > 0x7F {
            let hex = String(c.value, radix: 16, uppercase: true)
            return "character U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
        return "'\(c)'"
    }

    private func reference(_ kind: ExpressionReference.Kind, _ name: String, at i: Int) -> ExpressionReference {
        ExpressionReference(kind: kind, name: name, line: lines[i], column: columns[i])
    }

    private func error(at i: Int, _ text: String, _ reason: String) -> ExpressionError {
        let at = min(i, scalars.count)
        return ExpressionError(line: lines[at], column: columns[at], text: text, reason: reason)
    }

    private func checkNesting(_ depth: Int, at i: Int, _ text: String) throws(ExpressionError) {
        guard depth <= ExpressionCompiler.maximumNesting else {
            throw error(at: i, text, "nesting deeper than \(ExpressionCompiler.maximumNesting) levels")
        }
    }

    private func grow(_ height: Int, at i: Int, _ text: String) throws(ExpressionError) -> Int {
        guard height + 1 <= ExpressionCompiler.maximumTreeHeight else {
            throw error(
                at: i, text,
                "expression deeper than \(ExpressionCompiler.maximumTreeHeight) levels (too many operators)"
            )
        }
        return height + 1
    }
}
