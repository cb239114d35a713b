/// A typed value of one record component, as a reader returns it.
public enum Value: Equatable, Hashable, Sendable, CustomStringConvertible {
    case uint(UInt64)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case string(String)

    /// The value as a Double when it is numeric (booleans are 0 or 1), else nil.
    public var doubleValue: Double? {
        switch self {
        case .uint(let v): Double(v)
        case .int(let v): Double(v)
        case .double(let v): v
        case .bool(let v): v ? 1 : 0
        case .string: nil
        }
    }

    /// The value as an Int64 when it is an integer that fits.
    public var intValue: Int64? {
        switch self {
        case .uint(let v): Int64(exactly: v)
        case .int(let v): v
        case .bool(let v): v ? 1 : 0
        case .double, .string: nil
        }
    }

    /// The value as text: integers in decimal, doubles shortest round-trip, strings as they are.
    public var description: String {
        switch self {
        case .uint(let v): String(v)
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .bool(let v): String(v)
        case .string(let v): v
        }
    }

    /// Decodes a component from its slot words (in native byte order).
    public static func decode(_ type: ComponentType, words: UnsafeBufferPointer<UInt64>) -> Value {
        let w = words.first ?? 0
        switch type {
        case .uint64: return .uint(w)
        case .uint32: return .uint(UInt64(UInt32(truncatingIfNeeded: w)))
        case .uint16: return .uint(UInt64(UInt16(truncatingIfNeeded: w)))
        case .uint8: return .uint(UInt64(UInt8(truncatingIfNeeded: w)))
        case .int64: return .int(Int64(bitPattern: w))
        case .int32: return .int(Int64(Int32(truncatingIfNeeded: w)))
        case .int16: return .int(Int64(Int16(truncatingIfNeeded: w)))
        case .int8: return .int(Int64(Int8(truncatingIfNeeded: w)))
        case .bool: return .bool(w != 0)
        case .float64: return .double(Double(bitPattern: w))
        case .float32: return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: w))))
        case .string(let capacity):
            let raw = UnsafeRawBufferPointer(words)
            let bytes = raw.prefix(capacity)
            let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
            return .string(String(decoding: bytes[..<end], as: UTF8.self))
        }
    }

    /// Encodes a value into a component's slot words (native byte order); converts between
    /// numeric types and truncates strings at the slot's capacity (on a character boundary).
    public func encode(_ type: ComponentType, into words: UnsafeMutableBufferPointer<UInt64>) {
        switch type {
        case .uint64, .uint32, .uint16, .uint8, .int64, .int32, .int16, .int8:
            let bits = type.integerBits
            let signed = type.isSigned
            var raw: UInt64
            switch self {
            case .uint(let v): raw = v
            case .int(let v): raw = UInt64(bitPattern: v)
            case .double(let v): raw = UInt64(bitPattern: Self.clampedInt(v))
            case .bool(let v): raw = v ? 1 : 0
            case .string: raw = 0
            }
            if bits < 64 {
                let mask: UInt64 = (1 << UInt64(bits)) - 1
                raw &= mask
                if signed, raw & (1 << UInt64(bits - 1)) != 0 { raw |= ~mask }
            }
            words[0] = raw
        case .bool:
            words[0] = (self.doubleValue ?? 0) != 0 ? 1 : 0
        case .float64:
            words[0] = (self.doubleValue ?? 0).bitPattern
        case .float32:
            words[0] = UInt64(Float(self.doubleValue ?? 0).bitPattern)
        case .string(let capacity):
            let text = self.description
            var utf8 = Array(text.utf8)
            if utf8.count > capacity {
                var cut = capacity
                while cut > 0, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }  // keep whole characters
                utf8.removeSubrange(cut...)
            }
            let raw = UnsafeMutableRawBufferPointer(words)
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: utf8)
        }
    }
}

extension Value {
    static func clampedInt(_ v: Double) -> Int64 {
        if v.isNaN { return 0 }
        if v >= 9_223_372_036_854_775_808.0 { return .max }
        if v <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(v)
    }
}

extension ComponentType {
    var integerBits: Int {
        switch self {
        case .uint8, .int8: 8
        case .uint16, .int16: 16
        case .uint32, .int32: 32
        default: 64
        }
    }

    /// Whether the component is an integer (signed or unsigned, not `?`).
    var isInteger: Bool {
        switch self {
        case .uint64, .int64, .uint32, .int32, .uint16, .int16, .uint8, .int8: true
        default: false
        }
    }

    var isSigned: Bool {
        switch self {
        case .int64, .int32, .int16, .int8: true
        default: false
        }
    }
}
