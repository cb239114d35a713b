/// A compile error in an expression: where (1-based line and column), what text, and why.
///
/// Columns count Unicode scalars from 1; a tab or a newline counts as one. The manifest loader
/// prefixes the file, the entry and the field.
///
/// ```swift
/// do { _ = try ExpressionCompiler().compile("1 + $FOO") } catch {
///     print(error)  // column 5: unknown constant '$FOO'
/// }
/// ```
public struct ExpressionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The 1-based line (1 unless the expression spans lines).
    public var line: Int
    /// The 1-based column within `line`.
    public var column: Int
    /// The offending text (empty at the end of the input).
    public var text: String
    /// Why it is an error, naming the text, e.g. `unknown constant '$FOO'`.
    public var reason: String

    /// Creates an error.
    ///
    /// ```swift
    /// ExpressionError(line: 1, column: 3, text: ")", reason: "unmatched ')'")
    /// ```
    public init(line: Int, column: Int, text: String, reason: String) {
        self.line = line
        self.column = column
        self.text = text
        self.reason = reason
    }

    /// `column C: reason`, or `line L, column C: reason` past the first line.
    ///
    /// ```swift
    /// ExpressionError(line: 2, column: 1, text: "", reason: "missing operand").description
    /// // "line 2, column 1: missing operand"
    /// ```
    public var description: String {
        line == 1 ? "column \(column): \(reason)" : "line \(line), column \(column): \(reason)"
    }
}
