/// A 1-based position in a text: line, and column counted in Unicode scalars.
struct JSONPosition: Equatable, Sendable, CustomStringConvertible {
    var line: Int
    var column: Int

    var description: String { "\(line):\(column)" }
}

/// A decoded JSON string with the file position of each of its scalars, plus one past the end
/// (the closing quote), so an offset inside the string maps back into the file.
struct JSONString: Equatable, Sendable {
    var value: String
    var positions: [JSONPosition]

    /// The file position of the 1-based scalar `offset` of `value` (the closing quote past the end).
    func position(offset: Int) -> JSONPosition {
        guard let last = positions.last else { return JSONPosition(line: 1, column: 1) }
        let index = max(0, offset - 1)
        return index < positions.count ? positions[index] : last
    }
}

/// A JSON value with the position of its first character.
struct JSONNode: Equatable, Sendable {
    indirect enum Value: Equatable, Sendable {
        case null
        case bool(Bool)
        case number(Number)
        case string(JSONString)
        case array([JSONNode])
        case object([JSONMember])
    }

    var value: Value
    var position: JSONPosition

    /// The kind's name for error messages: `a string`, `a number`, ….
    var kindName: String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

/// One `"key": value` of an object, in file order.
struct JSONMember: Equatable, Sendable {
    var key: String
    var keyPosition: JSONPosition
    var node: JSONNode
}

/// A JSON syntax error: where and why.
struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    var position: JSONPosition
    var reason: String

    var description: String { "\(position): \(reason)" }
}

/// The limits of `JSONText.parse`.
struct JSONLimits: Sendable {
    /// The largest document, in bytes.
    var maxBytes = 4 << 20
    /// The deepest nesting of lists and objects.
    var maxDepth = 64
}

/// A lenient JSON reader that keeps positions: standard JSON plus `//` and `/* */` comments and
/// trailing commas. Duplicate keys, invalid UTF-8 and NUL characters are errors.
enum JSONText {
    /// Parses one document.
    static func parse(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONNode {
        if bytes.count > limits.maxBytes {
            throw JSONError(
                position: JSONPosition(line: 1, column: 1),
                reason: "document too large: \(bytes.count) bytes, the limit is \(limits.maxBytes)")
        }
        var parser = try JSONParser(bytes: bytes, maxDepth: limits.maxDepth)
        try parser.skipComments()
        guard !parser.atEnd else {
            throw JSONError(position: parser.position, reason: "empty document")
        }
        let root = try parser.parseValue(depth: 1)
        try parser.skipComments()
        if !parser.atEnd {
            throw JSONError(
                position: parser.position, reason: "unexpected \(parser.describeCurrent()) after the document")
        }
        return root
    }
}

private struct JSONParser {
    var scalars: [Unicode.Scalar] = []
    // Int32 keeps the three arrays at 12 bytes per character for the largest document.
    var lines: [Int32] = []
    var columns: [Int32] = []
    var index = 0
    let maxDepth: Int

    init(bytes: [UInt8], maxDepth: Int) throws(JSONError) {
        self.maxDepth = maxDepth
        scalars.reserveCapacity(bytes.count)
        var line: Int32 = 1
        var column: Int32 = 1
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar.value == 0 {
                    throw JSONError(
                        position: JSONPosition(line: Int(line), column: Int(column)), reason: "NUL character")
                }
                scalars.append(scalar)
                lines.append(line)
                columns.append(column)
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                break loop
            case .error:
                throw JSONError(position: JSONPosition(line: Int(line), column: Int(column)), reason: "invalid UTF-8")
            }
        }
        // A byte-order mark at the start is ignored.
        if scalars.first == "\u{FEFF}" { index = 1 }
        lines.append(line)
        columns.append(column)
    }

    var atEnd: Bool { index >= scalars.count }

    var position: JSONPosition { JSONPosition(line: Int(lines[index]), column: Int(columns[index])) }

    func describeCurrent() -> String {
        guard !atEnd else { return "end of input" }
        let scalar = scalars[index]
        if scalar.value < 0x20 || scalar.value == 0x7F {
            return "control character U+\(String(scalar.value, radix: 16, uppercase: true))"
        }
        return "'\(Character(scalar))'"
    }

    mutating func skipBlanks() {
        while !atEnd,
            scalars[index] == " " || scalars[index] == "\t" || scalars[index] == "\n" || scalars[index] == "\r"
        {
            index += 1
        }
    }

    /// Skips whitespace and comments; true if anything was skipped.
    @discardableResult
    mutating func skipComments() throws(JSONError) -> Bool {
        let start = index
        while true {
            skipBlanks()
            guard index + 1 < scalars.count, scalars[index] == "/" else { break }
            if scalars[index + 1] == "/" {
                while !atEnd, scalars[index] != "\n" { index += 1 }
            } else if scalars[index + 1] == "*" {
                let opening = position
                index += 2
                while true {
                    guard index + 1 < scalars.count else {
                        throw JSONError(position: opening, reason: "unterminated comment")
                    }
                    if scalars[index] == "*", scalars[index + 1] == "/" {
                        index += 2
                        break
                    }
                    index += 1
                }
            } else {
                break
            }
        }
        return index != start
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONNode {
        try skipComments()
        let start = position
        guard !atEnd else { throw JSONError(position: start, reason: "expected a value, found end of input") }
        switch scalars[index] {
        case "{":
            guard depth <= maxDepth else {
                throw JSONError(position: start, reason: "nested too deeply: the limit is \(maxDepth) levels")
            }
            return JSONNode(value: .object(try parseObject(depth: depth)), position: start)
        case "[":
            guard depth <= maxDepth else {
                throw JSONError(position: start, reason: "nested too deeply: the limit is \(maxDepth) levels")
            }
            return JSONNode(value: .array(try parseArray(depth: depth)), position: start)
        case "\"":
            return JSONNode(value: .string(try parseString()), position: start)
        case "-", "0"..."9":
            return JSONNode(value: .number(try parseNumber()), position: start)
        default:
            for (word, value) in [("true", JSONNode.Value.bool(true)), ("false", .bool(false)), ("null", .null)]
            where matches(word) {
                index += word.unicodeScalars.count
                return JSONNode(value: value, position: start)
            }
            throw JSONError(position: start, reason: "expected a value, found \(describeCurrent())")
        }
    }

    func matches(_ word: String) -> Bool {
        var i = index
        for scalar in word.unicodeScalars {
            guard i < scalars.count, scalars[i] == scalar else { return false }
            i += 1
        }
        // The word must end there: `nullx` is not `null`.
        if i < scalars.count, scalars[i].properties.isAlphabetic || ("0"..."9").contains(scalars[i]) {
            return false
        }
        return true
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> [JSONMember] {
        index += 1  // {
        var members: [JSONMember] = []
        var seen: [String: JSONPosition] = [:]
        while true {
            try skipComments()
            guard !atEnd else { throw JSONError(position: position, reason: "unterminated object: expected '}'") }
            if scalars[index] == "}" {
                index += 1
                return members
            }
            guard scalars[index] == "\"" else {
                throw JSONError(
                    position: position, reason: "expected a key in double quotes, found \(describeCurrent())")
            }
            let keyPosition = position
            let key = try parseString().value
            if let first = seen[key] {
                throw JSONError(position: keyPosition, reason: "duplicate key '\(key)' (first at \(first))")
            }
            seen[key] = keyPosition
            try skipComments()
            guard !atEnd, scalars[index] == ":" else {
                throw JSONError(
                    position: position, reason: "expected ':' after key '\(key)', found \(describeCurrent())")
            }
            index += 1
            let node = try parseValue(depth: depth + 1)
            members.append(JSONMember(key: key, keyPosition: keyPosition, node: node))
            try skipComments()
            guard !atEnd else { throw JSONError(position: position, reason: "unterminated object: expected '}'") }
            if scalars[index] == "," {
                index += 1
            } else if scalars[index] != "}" {
                throw JSONError(position: position, reason: "expected ',' or '}', found \(describeCurrent())")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> [JSONNode] {
        index += 1  // [
        var items: [JSONNode] = []
        while true {
            try skipComments()
            guard !atEnd else { throw JSONError(position: position, reason: "unterminated list: expected ']'") }
            if scalars[index] == "]" {
                index += 1
                return items
            }
            items.append(try parseValue(depth: depth + 1))
            try skipComments()
            guard !atEnd else { throw JSONError(position: position, reason: "unterminated list: expected ']'") }
            if scalars[index] == "," {
                index += 1
            } else if scalars[index] != "]" {
                throw JSONError(position: position, reason: "expected ',' or ']', found \(describeCurrent())")
            }
        }
    }

    mutating func parseString() throws(JSONError) -> JSONString {
        let opening = position
        index += 1  // "
        var value = String.UnicodeScalarView()
        var positions: [JSONPosition] = []
        while true {
            guard !atEnd else { throw JSONError(position: opening, reason: "unterminated string") }
            let here = position
            let scalar = scalars[index]
            if scalar == "\"" {
                positions.append(here)
                index += 1
                return JSONString(value: String(value), positions: positions)
            }
            if scalar.value < 0x20 {
                throw JSONError(position: here, reason: "\(describeCurrent()) in a string (use an escape)")
            }
            index += 1
            guard scalar == "\\" else {
                value.append(scalar)
                positions.append(here)
                continue
            }
            guard !atEnd else { throw JSONError(position: opening, reason: "unterminated string") }
            let escape = scalars[index]
            index += 1
            let decoded: Unicode.Scalar
            switch escape {
            case "\"": decoded = "\""
            case "\\": decoded = "\\"
            case "/": decoded = "/"
            case "b": decoded = "\u{08}"
            case "f": decoded = "\u{0C}"
            case "n": decoded = "\n"
            case "r": decoded = "\r"
            case "t": decoded = "\t"
            case "u":
                let high = try parseHex4(escapeAt: here)
                if (0xD800...0xDBFF).contains(high) {
                    guard index + 1 < scalars.count, scalars[index] == "\\", scalars[index + 1] == "u" else {
                        throw JSONError(position: here, reason: "unpaired surrogate in \\u escape")
                    }
                    index += 2
                    let low = try parseHex4(escapeAt: here)
                    guard (0xDC00...0xDFFF).contains(low),
                        let combined = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                    else {
                        throw JSONError(position: here, reason: "unpaired surrogate in \\u escape")
                    }
                    decoded = combined
                } else if let plain = Unicode.Scalar(high), high != 0 {
                    decoded = plain
                } else if high == 0 {
                    throw JSONError(position: here, reason: "NUL character (\\u0000) in a string")
                } else {
                    throw JSONError(position: here, reason: "unpaired surrogate in \\u escape")
                }
            default:
                throw JSONError(position: here, reason: "unknown escape '\\\(Character(escape))'")
            }
            value.append(decoded)
            positions.append(here)
        }
    }

    mutating func parseHex4(escapeAt: JSONPosition) throws(JSONError) -> UInt32 {
        var result: UInt32 = 0
        for _ in 0..<4 {
            guard !atEnd, let digit = hexValue(scalars[index]) else {
                throw JSONError(position: escapeAt, reason: "\\u needs four hexadecimal digits")
            }
            result = result << 4 | digit
            index += 1
        }
        return result
    }

    func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "0"..."9": scalar.value - 48
        case "a"..."f": scalar.value - 87
        case "A"..."F": scalar.value - 55
        default: nil
        }
    }

    mutating func parseNumber() throws(JSONError) -> Number {
        let start = position
        let first = index
        func digits(_ parser: inout JSONParser) -> Int {
            var count = 0
            while !parser.atEnd, ("0"..."9").contains(parser.scalars[parser.index]) {
                parser.index += 1
                count += 1
            }
            return count
        }
        var isInteger = true
        if scalars[index] == "-" { index += 1 }
        let intStart = index
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw JSONError(position: start, reason: "malformed number: no digits") }
        if intDigits > 1, scalars[intStart] == "0" {
            throw JSONError(position: start, reason: "malformed number: leading zero")
        }
        if !atEnd, scalars[index] == "." {
            isInteger = false
            index += 1
            guard digits(&self) > 0 else {
                throw JSONError(position: start, reason: "malformed number: no digits after '.'")
            }
        }
        if !atEnd, scalars[index] == "e" || scalars[index] == "E" {
            isInteger = false
            index += 1
            if !atEnd, scalars[index] == "+" || scalars[index] == "-" { index += 1 }
            guard digits(&self) > 0 else {
                throw JSONError(position: start, reason: "malformed number: no digits in the exponent")
            }
        }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars[first..<index])
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw JSONError(position: start, reason: "number out of range: \(text.prefix(40))")
        }
        return .double(value)
    }
}
