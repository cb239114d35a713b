import MmStatsCore

/// A minimal JSON value with ordered objects, rendered the way `slurp --json` prints it.
indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    init(_ value: Value) {
        switch value {
        case .uint(let v): self = .uint(v)
        case .int(let v): self = .int(v)
        case .bool(let v): self = .bool(v)
        case .string(let v): self = .string(v)
        case .double(let v):
            if v.isNaN {
                self = .string("nan")
            } else if v.isInfinite {
                self = .string(v > 0 ? "inf" : "-inf")
            } else {
                self = .double(v)
            }
        }
    }

    func render(indent: Int = 0, into output: inout String) {
        var bytes: [UInt8] = []
        render(indent: indent, into: &bytes)
        output += String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the value's UTF-8 text (the same characters as the `String` rendering) to
    /// `output`: bytes appended to one growing buffer, without a `String` per piece.
    func render(indent: Int = 0, into output: inout [UInt8]) {
        /// Two spaces per level (only containers indent).
        func pad(_ levels: Int) { output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * levels)) }
        func add(_ text: StaticString) {
            text.withUTF8Buffer { output.append(contentsOf: $0) }
        }
        switch self {
        case .null: add("null")
        case .bool(let v): add(v ? "true" : "false")
        case .int(let v): output.append(contentsOf: String(v).utf8)
        case .uint(let v): output.append(contentsOf: String(v).utf8)
        case .double(let v):
            if !v.isFinite {
                // Never a bare `inf` or `nan`, which no JSON reader takes: the strings `JSON(_:)` uses.
                JSON(Value.double(v)).render(into: &output)
            } else {
                // Integral doubles keep a fractional part so that readers see a float.
                output.append(contentsOf: (v == v.rounded() && abs(v) < 1e16 ? String(format1: v) : String(v)).utf8)
            }
        case .string(let v): JSON.escape(v, into: &output)
        case .array(let items):
            if items.isEmpty {
                add("[]")
                return
            }
            add("[\n")
            for (i, item) in items.enumerated() {
                pad(indent + 1)
                item.render(indent: indent + 1, into: &output)
                add(i == items.count - 1 ? "\n" : ",\n")
            }
            pad(indent)
            add("]")
        case .object(let members):
            if members.isEmpty {
                add("{}")
                return
            }
            add("{\n")
            for (i, (key, value)) in members.enumerated() {
                pad(indent + 1)
                JSON.escape(key, into: &output)
                add(": ")
                value.render(indent: indent + 1, into: &output)
                add(i == members.count - 1 ? "\n" : ",\n")
            }
            pad(indent)
            add("}")
        }
    }

    /// Writes `text` as a JSON string the way Python's `json.dumps` does by default (docs/SLURP-JSON.md):
    /// `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other characters below U+0020 and every character
    /// from U+007F on as `\u` and four lowercase hex digits (a surrogate pair above U+FFFF), so
    /// the output is ASCII, safe in a terminal, and byte for byte the Python reader's.
    static func escape(_ text: String, into output: inout [UInt8]) {
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        // Printable ASCII without a quote or a backslash (nearly every name) is copied whole.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != quote && $0 != backslash }) {
            output.append(quote)
            output.append(contentsOf: text.utf8)
            output.append(quote)
            return
        }
        output.append(quote)
        func hex(_ unit: UInt16) {
            let digits = String(unit, radix: 16)
            output.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - digits.count) + digits).utf8)
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output.append(contentsOf: "\\\"".utf8)
            case "\\": output.append(contentsOf: "\\\\".utf8)
            case "\n": output.append(contentsOf: "\\n".utf8)
            case "\r": output.append(contentsOf: "\\r".utf8)
            case "\t": output.append(contentsOf: "\\t".utf8)
            case "\u{08}": output.append(contentsOf: "\\b".utf8)
            case "\u{0C}": output.append(contentsOf: "\\f".utf8)
            default:
                if scalar.value < 0x20 || scalar.value >= 0x7F {
                    for unit in String(scalar).utf16 { hex(unit) }
                } else {
                    output.append(UInt8(truncatingIfNeeded: scalar.value))
                }
            }
        }
        output.append(quote)
    }
}

extension String {
    /// `2.0` for 2 (and `-0.0` for negative zero), for an integral value below 1e16.
    init(format1 value: Double) {
        self = (value == 0 && value.sign == .minus ? "-" : "") + String(Int64(value)) + ".0"
    }
}
