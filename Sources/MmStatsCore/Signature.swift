/// The type of one component of a record: a Python `struct` letter (docs/FORMAT.md §4.1).
public enum ComponentType: Equatable, Hashable, Sendable {
    case uint64, int64, uint32, int32, uint16, int16, uint8, int8, bool, float64, float32
    /// A UTF-8 string of at most `capacity` bytes.
    case string(capacity: Int)

    /// The `struct` letter(s) of the type.
    public var code: String {
        switch self {
        case .uint64: "Q"
        case .int64: "q"
        case .uint32: "I"
        case .int32: "i"
        case .uint16: "H"
        case .int16: "h"
        case .uint8: "B"
        case .int8: "b"
        case .bool: "?"
        case .float64: "d"
        case .float32: "f"
        case .string(let capacity): "\(capacity)s"
        }
    }

    /// Words the component's slot occupies.
    public var slotWords: Int {
        if case .string(let capacity) = self { return (capacity + 7) / 8 }
        return 1
    }

    init?(letter: UInt8) {
        switch letter {
        case UInt8(ascii: "Q"): self = .uint64
        case UInt8(ascii: "q"): self = .int64
        case UInt8(ascii: "I"): self = .uint32
        case UInt8(ascii: "i"): self = .int32
        case UInt8(ascii: "H"): self = .uint16
        case UInt8(ascii: "h"): self = .int16
        case UInt8(ascii: "B"): self = .uint8
        case UInt8(ascii: "b"): self = .int8
        case UInt8(ascii: "?"): self = .bool
        case UInt8(ascii: "d"): self = .float64
        case UInt8(ascii: "f"): self = .float32
        default: return nil
        }
    }
}

/// The components of a record, parsed from a signature such as `"QQdd"`, `"2Q2d"` or `"16s"`.
///
/// ```swift
/// let signature = try Signature("Q2d")
/// signature.components   // [.uint64, .float64, .float64]
/// signature.words        // 3
/// ```
public struct Signature: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The components in order.
    public let components: [ComponentType]
    /// The first word of each component's slot.
    public let slotOffsets: [Int]
    /// Words in one copy of the record.
    public let words: Int
    /// The canonical text, one letter (or `Ns`) per component.
    public var description: String { components.map(\.code).joined() }

    /// Creates a signature from components.
    public init(_ components: [ComponentType]) {
        self.components = components
        var offsets: [Int] = []
        var total = 0
        for component in components {
            offsets.append(total)
            total += component.slotWords
        }
        self.slotOffsets = offsets
        self.words = total
    }

    /// Parses a signature; throws a message naming the column of the first bad character.
    public init(_ text: String) throws(SignatureError) {
        var components: [ComponentType] = []
        let bytes = Array(text.utf8)
        var index = 0
        if bytes.isEmpty { throw SignatureError(column: 1, reason: "empty signature") }
        while index < bytes.count {
            let start = index
            var count: Int? = nil
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let digit = Int(bytes[index] - UInt8(ascii: "0"))
                let next = (count ?? 0) * 10 + digit
                if next > 65_535 { throw SignatureError(column: start + 1, reason: "count too large") }
                count = next
                index += 1
            }
            guard index < bytes.count else {
                throw SignatureError(column: index + 1, reason: "count without a type letter")
            }
            let letter = bytes[index]
            if letter == UInt8(ascii: "s") {
                guard let capacity = count, capacity >= 1 else {
                    throw SignatureError(column: index + 1, reason: "a string needs its byte length before 's'")
                }
                components.append(.string(capacity: capacity))
            } else if letter <= 0x20 || letter >= 0x7F {
                throw SignatureError(column: index + 1, reason: "whitespace or a non-printable byte is not allowed")
            } else if let type = ComponentType(letter: letter) {
                let repeats = count ?? 1
                if repeats == 0 { throw SignatureError(column: start + 1, reason: "repeat count 0") }
                components.append(contentsOf: repeatElement(type, count: repeats))
            } else {
                throw SignatureError(
                    column: index + 1, reason: "unknown type letter '\(Character(Unicode.Scalar(letter)))'")
            }
            if components.count > 65_535 { throw SignatureError(column: index + 1, reason: "too many components") }
            index += 1
        }
        self.init(components)
    }
}

/// A signature that does not parse.
public struct SignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-based column of the problem.
    public let column: Int
    /// What is wrong.
    public let reason: String
    /// `column N: reason`.
    public var description: String { "column \(column): \(reason)" }

    /// Creates an error.
    public init(column: Int, reason: String) {
        self.column = column
        self.reason = reason
    }
}
