import MmStatsCore

/// A value of the expression language: a 64-bit signed integer or a finite double.
///
/// "No value" (a missing input, a division by zero, a non-finite result) is not a case: it is
/// `nil` wherever a `Number?` appears. The arithmetic below never produces NaN or infinity and
/// never wraps; see `docs/EXPRESSIONS.md` for the rules.
///
/// ```swift
/// Number.multiply(.double(0.5), .int(100))  // .double(50.0)
/// Number.divide(.int(7), .int(2))           // .double(3.5)
/// Number.divide(.int(7), .int(0))           // nil: no value
/// ```
public enum Number: Sendable, Hashable, CustomStringConvertible {
    /// A 64-bit signed integer.
    case int(Int64)
    /// A finite double (never NaN, never infinite when produced by this module).
    case double(Double)

    /// The value as a double (an integer converts to the nearest double).
    ///
    /// ```swift
    /// Number.int(3).doubleValue  // 3.0
    /// ```
    public var doubleValue: Double {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        }
    }

    /// The value as text: integers plainly, doubles as Swift prints them.
    ///
    /// ```swift
    /// Number.double(0.5).description  // "0.5"
    /// ```
    public var description: String {
        switch self {
        case .int(let v): String(v)
        case .double(let v): String(v)
        }
    }

    /// A double as a number, or nil (no value) when it is NaN or infinite.
    ///
    /// ```swift
    /// Number.finite(.infinity)  // nil
    /// Number.finite(1.5)        // .double(1.5)
    /// ```
    public static func finite(_ value: Double) -> Number? {
        value.isFinite ? .double(value) : nil
    }

    /// The sum; integers that overflow promote to a double; a non-finite double is no value.
    ///
    /// ```swift
    /// Number.add(.int(Int64.max), .int(1))  // .double(9.223372036854775808e18)
    /// ```
    public static func add(_ a: Number, _ b: Number) -> Number? {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, overflow) = x.addingReportingOverflow(y)
            return overflow ? finite(Double(x) + Double(y)) : .int(r)
        }
        return finite(a.doubleValue + b.doubleValue)
    }

    /// The difference; integers that overflow promote to a double; a non-finite double is no value.
    ///
    /// ```swift
    /// Number.subtract(.int(2), .int(5))  // .int(-3)
    /// ```
    public static func subtract(_ a: Number, _ b: Number) -> Number? {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, overflow) = x.subtractingReportingOverflow(y)
            return overflow ? finite(Double(x) - Double(y)) : .int(r)
        }
        return finite(a.doubleValue - b.doubleValue)
    }

    /// The product; integers that overflow promote to a double; a non-finite double is no value.
    ///
    /// ```swift
    /// Number.multiply(.int(6), .int(7))  // .int(42)
    /// ```
    public static func multiply(_ a: Number, _ b: Number) -> Number? {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, overflow) = x.multipliedReportingOverflow(by: y)
            return overflow ? finite(Double(x) * Double(y)) : .int(r)
        }
        return finite(a.doubleValue * b.doubleValue)
    }

    /// The quotient, always a double; a zero divisor (of either type) is no value.
    ///
    /// ```swift
    /// Number.divide(.int(1), .int(4))  // .double(0.25)
    /// Number.divide(.int(1), .double(0))  // nil
    /// ```
    public static func divide(_ a: Number, _ b: Number) -> Number? {
        let divisor = b.doubleValue
        guard divisor != 0 else { return nil }
        return finite(a.doubleValue / divisor)
    }

    /// The negation; `-Int64.min` promotes to a double.
    ///
    /// ```swift
    /// Number.negate(.int(5))  // .int(-5)
    /// ```
    public static func negate(_ a: Number) -> Number? {
        switch a {
        case .int(let x):
            let (r, overflow) = Int64(0).subtractingReportingOverflow(x)
            return overflow ? finite(-Double(x)) : .int(r)
        case .double(let x):
            return finite(-x)
        }
    }

    /// Orders two numbers by value (exactly for two integers, as doubles otherwise).
    ///
    /// ```swift
    /// Number.isLess(.int(1), .double(1.5))  // true
    /// ```
    public static func isLess(_ a: Number, _ b: Number) -> Bool {
        if case .int(let x) = a, case .int(let y) = b { return x < y }
        return a.doubleValue < b.doubleValue
    }

    /// A stored value as a number: unsigned integers above `Int64.max` become doubles,
    /// booleans 0 or 1; strings and non-finite doubles are no value.
    ///
    /// ```swift
    /// Number(Value.uint(7))  // .int(7)
    /// ```
    public init?(_ value: Value) {
        switch value {
        case .uint(let v):
            if let exact = Int64(exactly: v) { self = .int(exact) } else { self = .double(Double(v)) }
        case .int(let v): self = .int(v)
        case .double(let v):
            guard v.isFinite else { return nil }
            self = .double(v)
        case .bool(let v): self = .int(v ? 1 : 0)
        case .string: return nil
        }
    }

    /// The number as a stored value (`.int` or `.double`).
    ///
    /// ```swift
    /// Number.int(7).value  // Value.int(7)
    /// ```
    public var value: Value {
        switch self {
        case .int(let v): .int(v)
        case .double(let v): .double(v)
        }
    }
}
