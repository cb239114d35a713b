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
        /// Two spaces per level (only containers indent).
        func pad(_ levels: Int) { for _ in 0..<levels { output += "  " } }
        switch self {
        case .null: output += "null"
        case .bool(let v): output += v ? "true" : "false"
        case .int(let v): output += String(v)
        case .uint(let v): output += String(v)
        case .double(let v):
            if !v.isFinite {
                // Never a bare `inf` or `nan`, which no JSON reader takes: the strings `JSON(_:)` uses.
                JSON(Value.double(v)).render(into: &output)
            } else {
                // Integral doubles keep a fractional part so that readers see a float.
                output += v == v.rounded() && abs(v) < 1e16 ? String(format1: v) : String(v)
            }
        case .string(let v): JSON.escape(v, into: &output)
        case .array(let items):
            if items.isEmpty {
                output += "[]"
                return
            }
            output += "[\n"
            for (i, item) in items.enumerated() {
                pad(indent + 1)
                item.render(indent: indent + 1, into: &output)
                output += i == items.count - 1 ? "\n" : ",\n"
            }
            pad(indent)
            output += "]"
        case .object(let members):
            if members.isEmpty {
                output += "{}"
                return
            }
            output += "{\n"
            for (i, (key, value)) in members.enumerated() {
                pad(indent + 1)
                JSON.escape(key, into: &output)
                output += ": "
                value.render(indent: indent + 1, into: &output)
                output += i == members.count - 1 ? "\n" : ",\n"
            }
            pad(indent)
            output += "}"
        }
    }

    /// Writes `text` as a JSON string the way Python's `json.dumps` does by default (docs/SLURP-JSON.md):
    /// `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other characters below U+0020 and every character
    /// from U+007F on as `\u` and four lowercase hex digits (a surrogate pair above U+FFFF), so
    /// the output is ASCII, safe in a terminal, and byte for byte the Python reader's.
    static func escape(_ text: String, into output: inout String) {
        // Printable ASCII without a quote or a backslash (nearly every name) is copied whole.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            output += "\""
            output += text
            output += "\""
            return
        }
        output += "\""
        func hex(_ unit: UInt16) {
            let digits = String(unit, radix: 16)
            output += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value >= 0x7F {
                    for unit in String(scalar).utf16 { hex(unit) }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}

extension String {
    /// `2.0` for 2 (and `-0.0` for negative zero), for an integral value below 1e16.
    init(format1 value: Double) {
        self = (value == 0 && value.sign == .minus ? "-" : "") + String(Int64(value)) + ".0"
    }
}
