import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// Files a writer did not write the way docs/FORMAT.md says: every check of §6 "Validation",
// files shrunk or rewritten under a live reader, and a seeded fuzz loop. A reader must answer
// each with an `MmStatsError` that names the file, never with a crash or a wrong value.

// MARK: - Fixture kinds

/// Three components: a count, a sum and a signed maximum.
private struct HostileTimingKind: MetricKind {
    var name: String { "timing" }
    var signature: Signature { Signature([.uint64, .float64, .int64]) }
    var fieldNames: [String] { ["count", "sum", "max"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// Two components: a flag and a short string.
private struct HostileStatusKind: MetricKind {
    var name: String { "status" }
    var signature: Signature { Signature([.bool, .string(capacity: 12)]) }
    var fieldNames: [String] { ["ok", "label"] }
    var defaultLayout: LayoutID { .word }
}

// MARK: - A file image to damage

/// The bytes of a stats file, with accessors for the fields of docs/FORMAT.md (little-endian).
struct HostileImage: Sendable {
    var bytes: [UInt8]
    /// Display name and component values of every metric, in file order.
    let expected: [(name: String, values: [Value])]

    var size: Int { bytes.count }

    func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    func u32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) } }
    func u64(_ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) } }

    mutating func set16(_ offset: Int, _ value: UInt16) { setBytes(offset, UInt64(value), 2) }
    mutating func set32(_ offset: Int, _ value: UInt32) { setBytes(offset, UInt64(value), 4) }
    mutating func set64(_ offset: Int, _ value: UInt64) { setBytes(offset, value, 8) }
    mutating func set64(_ offset: Int, _ value: Int) { setBytes(offset, UInt64(bitPattern: Int64(value)), 8) }
    mutating func setText(_ offset: Int, _ text: String) {
        bytes.replaceSubrange(offset..<offset + text.utf8.count, with: text.utf8)
    }

    private mutating func setBytes(_ offset: Int, _ value: UInt64, _ count: Int) {
        for i in 0..<count { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Offset of the first metadata segment.
    var firstSegment: Int { Int(u64(40)) }
    /// `used` of the first segment.
    var used: Int { Int(u64(firstSegment + 16)) }

    /// Offsets of the descriptors of the first segment (the fixtures have one segment).
    var entries: [Int] {
        var result: [Int] = []
        var cursor = firstSegment + 32
        let end = cursor + used
        while cursor < end {
            result.append(cursor)
            cursor += Int(u32(cursor))
        }
        return result
    }

    /// Offset and length of string `index` (0 kind, 1 name, 2 signature, 3 fields, 4 unit,
    /// 5 description, 6 dimensions) of the descriptor at `entry`.
    func string(_ index: Int, of entry: Int) -> (offset: Int, length: Int) {
        var offset = entry + 48
        for i in 0..<index { offset += Int(u16(entry + 32 + 2 * i)) }
        let length = index == 6 ? Int(u32(entry + 44)) : Int(u16(entry + 32 + 2 * index))
        return (offset, length)
    }
}

/// Valid files written by `StatsWriter`, copied byte for byte.
enum HostileFixture {
    /// A word-layout file: scalars, a double-buffer record and word records of custom kinds.
    static func word(_ directory: TemporaryDirectory) throws -> HostileImage {
        let writer = try StatsWriter(directory.options(model: "Word"))
        let requests = try writer.counter(
            "requests", dimensions: ["code": "200", "verb": "GET"], unit: "req", help: "total requests")
        let depth = try writer.gauge("depth")
        let load = try writer.doubleGauge("load")
        let timing = try writer.record("timing", kind: HostileTimingKind(), layout: .doubleBuffer)
        _ = try writer.record("status", kind: HostileStatusKind(), initial: [.bool(true), .string("green")])
        _ = try writer.record(
            "window", kind: HostileTimingKind(), layout: .word, initial: [.uint(1), .double(2.5), .int(4)])
        requests.increment(by: 42)
        depth.set(-7)
        load.set(0.5)
        timing.set([.uint(3), .double(1.5), .int(-9)])
        let bytes = try #require(FileManager.default.contents(atPath: writer.path))
        writer.close()
        return HostileImage(
            bytes: Array(bytes),
            expected: [
                ("requests{code=200,verb=GET}", [.uint(42)]), ("depth", [.int(-7)]), ("load", [.double(0.5)]),
                ("timing", [.uint(3), .double(1.5), .int(-9)]), ("status", [.bool(true), .string("green")]),
                ("window", [.uint(1), .double(2.5), .int(4)]),
            ])
    }

    /// A page-flip file: every record on two pages, published.
    static func pageFlip(_ directory: TemporaryDirectory) throws -> HostileImage {
        var options = directory.options(model: "Flip")
        options.layout = .pageFlip
        let writer = try StatsWriter(options)
        let flips = try writer.counter("flips")
        let timing = try writer.record("timing", kind: HostileTimingKind())
        let temperature = try writer.doubleGauge("temp")
        _ = try writer.record("status", kind: HostileStatusKind(), initial: [.bool(false), .string("flip")])
        flips.increment(by: 10)
        writer.publish()
        flips.increment()
        timing.set([.uint(5), .double(2.5), .int(-1)])
        temperature.set(21.5)
        writer.publish()
        let bytes = try #require(FileManager.default.contents(atPath: writer.path))
        writer.close()
        return HostileImage(
            bytes: Array(bytes),
            expected: [
                ("flips", [.uint(11)]), ("timing", [.uint(5), .double(2.5), .int(-1)]), ("temp", [.double(21.5)]),
                ("status", [.bool(false), .string("flip")]),
            ])
    }

    /// Another word file with as many metrics as `word` (so the same generation), all different.
    static func other(_ directory: TemporaryDirectory) throws -> HostileImage {
        let writer = try StatsWriter(directory.options(model: "Other"))
        var expected: [(name: String, values: [Value])] = []
        for i in 0..<6 {
            let counter = try writer.counter("other.metric.\(i)")
            counter.increment(by: UInt64(100 + i))
            expected.append(("other.metric.\(i)", [.uint(UInt64(100 + i))]))
        }
        let bytes = try #require(FileManager.default.contents(atPath: writer.path))
        writer.close()
        return HostileImage(bytes: Array(bytes), expected: expected)
    }

    static func make(pageFlip: Bool, _ directory: TemporaryDirectory) throws -> HostileImage {
        try pageFlip ? HostileFixture.pageFlip(directory) : HostileFixture.word(directory)
    }
}

// MARK: - Helpers

private struct HostileIOError: Error, CustomStringConvertible {
    let description: String
}

/// Writes `bytes` into the file at `path` in place (same inode), creating it if needed, and
/// sets its size to exactly `bytes.count`.
private func writeInPlace(_ bytes: [UInt8], to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw HostileIOError(description: "open \(path): errno \(errno)") }
    defer { close(fd) }
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { raw in
            pwrite(fd, raw.baseAddress.map { $0 + written }, raw.count - written, off_t(written))
        }
        guard count > 0 else { throw HostileIOError(description: "pwrite \(path): errno \(errno)") }
        written += count
    }
    guard ftruncate(fd, off_t(bytes.count)) == 0 else {
        throw HostileIOError(description: "ftruncate \(path): errno \(errno)")
    }
}

/// Every metric's display name and values (nil for a metric the reader reported unreadable).
private func readValues(_ snapshot: Snapshot) -> [(name: String, values: [Value]?)] {
    snapshot.metrics.map { ($0.descriptor.displayName, $0.error == nil ? $0.fields.map(\.value) : nil) }
}

/// Checks that `snapshot` holds exactly the metrics and values `image` was written with.
private func expectValues(
    _ snapshot: Snapshot, _ image: HostileImage, _ context: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let actual = readValues(snapshot)
    let same =
        actual.count == image.expected.count
        && zip(actual, image.expected).allSatisfy { $0.name == $1.name && $0.values == $1.values }
    #expect(same, "\(context) expected \(image.expected), read \(actual)", sourceLocation: sourceLocation)
}

/// Writes `bytes` to `path` and checks that opening and snapshotting it throws an
/// `MmStatsError` that names the file, has one of `codes`, and mentions every text of `mentions`.
private func expectRejected(
    _ bytes: [UInt8], at path: String, codes: Set<MmStatsError.Code>, mentions: [String], _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    try writeInPlace(bytes, to: path)
    do throws(MmStatsError) {
        let snapshot = try StatsReader(path: path).snapshot()
        Issue.record("\(label): expected an error, but read \(snapshot.count) metrics", sourceLocation: sourceLocation)
    } catch {
        #expect(error.path == path, "\(label): \(error)", sourceLocation: sourceLocation)
        #expect(codes.contains(error.code), "\(label): code \(error.code) in \(error)", sourceLocation: sourceLocation)
        for text in mentions {
            #expect(
                error.description.lowercased().contains(text.lowercased()),
                "\(label): '\(error)' should mention '\(text)'", sourceLocation: sourceLocation)
        }
    }
}

// MARK: - Damage catalogue

/// One way to damage a valid file, and what the reader must say about it.
struct HostileDamage: Sendable, CustomTestStringConvertible {
    let name: String
    let pageFlip: Bool
    let codes: Set<MmStatsError.Code>
    let mentions: [String]
    let apply: @Sendable (inout HostileImage) -> Void

    init(
        _ name: String, pageFlip: Bool = false, codes: Set<MmStatsError.Code> = [.corrupt], mentions: [String],
        _ apply: @escaping @Sendable (inout HostileImage) -> Void
    ) {
        self.name = name
        self.pageFlip = pageFlip
        self.codes = codes
        self.mentions = mentions
        self.apply = apply
    }

    var testDescription: String { name }

    static func truncated(to length: Int, mentions: [String]) -> HostileDamage {
        HostileDamage("truncated to \(length) bytes", mentions: mentions) { $0.bytes = Array($0.bytes.prefix(length)) }
    }

    static let header: [HostileDamage] = [
        truncated(to: 0, mentions: ["0 bytes", "too small"]),
        truncated(to: 7, mentions: ["7 bytes", "too small"]),
        truncated(to: 100, mentions: ["100 bytes", "256-byte header"]),
        truncated(to: 255, mentions: ["255 bytes", "256-byte header"]),
        truncated(to: 4096, mentions: ["capacity", "past the end"]),
        HostileDamage("version byte 3", codes: [.unsupportedVersion], mentions: ["version byte 3"]) { $0.bytes[0] = 3 },
        HostileDamage("version byte 0", codes: [.unsupportedVersion], mentions: ["version byte 0"]) { $0.bytes[0] = 0 },
        HostileDamage("version byte 0xFF", codes: [.unsupportedVersion], mentions: ["version byte 255"]) {
            $0.bytes[0] = 0xFF
        },
        HostileDamage("wrong magic", mentions: ["magic"]) { $0.setText(1, "MMSTATZ") },
        HostileDamage("zeroed magic", mentions: ["magic"]) {
            $0.bytes.replaceSubrange(1..<8, with: repeatElement(0, count: 7))
        },
        HostileDamage("garbage byte order mark", mentions: ["byte order mark", "4030201"]) { $0.set32(8, 0x0403_0201) },
        HostileDamage("zero byte order mark", mentions: ["byte order mark"]) { $0.set32(8, 0) },
        // The big-endian mark on a little-endian file: every field reads swapped, header size becomes 1.
        HostileDamage("byte order mark of the other byte order", mentions: ["header size 1 "]) {
            $0.set32(8, 0x0D0C_0B0A)
        },
        HostileDamage("header size 0", mentions: ["header size 0"]) { $0.set16(12, 0) },
        HostileDamage("header size 255", mentions: ["header size 255"]) { $0.set16(12, 255) },
        HostileDamage("header size past the file size", mentions: ["header size 65535"]) { $0.set16(12, 65_535) },
        // A legal header size that swallows the first segment.
        HostileDamage("header size 4096 covers the first segment", mentions: ["segment 0", "offset 256"]) {
            $0.set16(12, 4096)
        },
    ]

    static let segment: [HostileDamage] = [
        HostileDamage("first segment at the end of the file", mentions: ["segment 0", "outside"]) {
            $0.set64(40, $0.size)
        },
        HostileDamage("first segment far past the end", mentions: ["segment 0", "outside"]) {
            $0.set64(40, UInt64.max)
        },
        HostileDamage("first segment header straddles the end", mentions: ["segment 0", "outside"]) {
            $0.set64(40, $0.size - 16)
        },
        HostileDamage("first segment misaligned", mentions: ["segment 0", "misaligned"]) { $0.set64(40, 260) },
        HostileDamage("first segment inside the header", mentions: ["segment 0", "offset 8:"]) { $0.set64(40, 8) },
        HostileDamage("first segment at offset 128", mentions: ["segment 0", "offset 128"]) { $0.set64(40, 128) },
        HostileDamage("first segment 0 (no metadata at all)", mentions: ["first segment"]) { $0.set64(40, 0) },
        HostileDamage("segment magic wrong", mentions: ["segment magic"]) { $0.setText($0.firstSegment, "MSEX") },
        HostileDamage("capacity past the end", mentions: ["capacity", "past the end"]) {
            $0.set64($0.firstSegment + 8, $0.size)
        },
        HostileDamage("capacity 2^64-1", mentions: ["capacity 18446744073709551615"]) {
            $0.set64($0.firstSegment + 8, UInt64.max)
        },
        HostileDamage("used greater than capacity", mentions: ["used bytes"]) {
            let capacity = $0.u64($0.firstSegment + 8)
            $0.set64($0.firstSegment + 16, capacity + 8)
        },
        HostileDamage("used not a multiple of 8", mentions: ["used bytes"]) {
            $0.set64($0.firstSegment + 16, $0.used + 4)
        },
        HostileDamage("used 2^64-1", mentions: ["used bytes"]) { $0.set64($0.firstSegment + 16, UInt64.max) },
        HostileDamage("next points to the segment itself", mentions: ["loop"]) {
            $0.set64($0.firstSegment + 24, $0.firstSegment)
        },
        HostileDamage("next points backwards into the header", mentions: ["loop"]) {
            $0.set64($0.firstSegment + 24, 8)
        },
        HostileDamage("next points to bytes that are not a segment", mentions: ["segment 1", "segment magic"]) {
            $0.set64($0.firstSegment + 24, 12_288)
        },
        HostileDamage("next points past the end", mentions: ["segment 1", "outside"]) {
            $0.set64($0.firstSegment + 24, $0.size + 4096)
        },
        HostileDamage("next is misaligned", mentions: ["segment 1", "misaligned"]) {
            $0.set64($0.firstSegment + 24, 12_292)
        },
        // Segment 0 → a forged segment 1 → back to segment 0: the chain must still end.
        HostileDamage("two segments that point at each other", mentions: ["segment 1", "loop"]) {
            let forged = $0.size - 64
            $0.setText(forged, "MSEG")
            $0.set64(forged + 8, 0)
            $0.set64(forged + 16, 0)
            $0.set64(forged + 24, $0.firstSegment)
            $0.set64($0.firstSegment + 24, forged)
        },
        HostileDamage("a second segment whose used exceeds its capacity", mentions: ["segment 1", "used bytes 16"]) {
            let forged = $0.size - 128
            $0.setText(forged, "MSEG")
            $0.set64(forged + 8, 8)
            $0.set64(forged + 16, 16)
            $0.set64($0.firstSegment + 24, forged)
        },
    ]

    static let descriptor: [HostileDamage] = [
        HostileDamage("entry size 0", mentions: ["metadata entry 0", "entry size 0"]) { $0.set32($0.entries[0], 0) },
        HostileDamage("entry size not a multiple of 8", mentions: ["metadata entry 1", "entry size 52"]) {
            $0.set32($0.entries[1], 52)
        },
        HostileDamage("entry size below 48", mentions: ["metadata entry 2", "entry size 40"]) {
            $0.set32($0.entries[2], 40)
        },
        HostileDamage("last entry larger than used", mentions: ["metadata entry 5", "runs past"]) {
            let last = $0.entries[5]
            $0.set32(last, $0.u32(last) + 8)
        },
        HostileDamage("entry size 2^32-8", mentions: ["metadata entry 0", "runs past"]) {
            $0.set32($0.entries[0], 0xFFFF_FFF8)
        },
        HostileDamage("name length past the entry", mentions: ["metadata entry 1", "past its entry size"]) {
            $0.set16($0.entries[1] + 34, 0xFFFF)
        },
        HostileDamage("kind length past the entry", mentions: ["metadata entry 0", "past its entry size"]) {
            $0.set16($0.entries[0] + 32, UInt16($0.u32($0.entries[0])))
        },
        HostileDamage("dimensions length 2^32-1", mentions: ["metadata entry 0", "past its entry size"]) {
            $0.set32($0.entries[0] + 44, 0xFFFF_FFFF)
        },
        HostileDamage("name is not UTF-8", mentions: ["metadata entry 2", "name is not valid UTF-8"]) {
            $0.bytes[$0.string(1, of: $0.entries[2]).offset] = 0xFF
        },
        HostileDamage("kind is not UTF-8", mentions: ["metadata entry 3", "kind is not valid UTF-8"]) {
            $0.bytes[$0.string(0, of: $0.entries[3]).offset] = 0xC0
        },
        HostileDamage("unit is not UTF-8", mentions: ["metadata entry 0", "unit is not valid UTF-8"]) {
            $0.bytes[$0.string(4, of: $0.entries[0]).offset + 1] = 0x80
        },
        HostileDamage("description is not UTF-8", mentions: ["metadata entry 0", "description is not valid UTF-8"]) {
            let (offset, length) = $0.string(5, of: $0.entries[0])
            $0.bytes[offset + length - 1] = 0xE2  // the lead byte of a three-byte sequence, cut short
        },
        HostileDamage("fields are not UTF-8", mentions: ["metadata entry 4", "fields is not valid UTF-8"]) {
            $0.bytes[$0.string(3, of: $0.entries[4]).offset] = 0xFE
        },
        HostileDamage("record words one too many", mentions: ["metadata entry 3", "record words 4"]) {
            $0.set32($0.entries[3] + 24, 4)
        },
        HostileDamage("record words 0", mentions: ["metadata entry 0", "record words 0"]) {
            $0.set32($0.entries[0] + 24, 0)
        },
        HostileDamage("fewer field names than components", mentions: ["metadata entry 3", "2 field names"]) {
            // "count,sum,max" → "count;sum,max"
            $0.bytes[$0.string(3, of: $0.entries[3]).offset + 5] = UInt8(ascii: ";")
        },
        HostileDamage("more field names than components", mentions: ["metadata entry 1", "2 field names"]) {
            // "value" → "va,ue"
            $0.bytes[$0.string(3, of: $0.entries[1]).offset + 2] = UInt8(ascii: ",")
        },
        // An unknown letter makes only its metric unreadable, but its record must still lie in the file.
        HostileDamage("unknown signature letter with its record outside the file", mentions: ["metric 1", "outside"]) {
            $0.bytes[$0.string(2, of: $0.entries[1]).offset] = UInt8(ascii: "Z")
            $0.set64($0.entries[1] + 8, $0.size)
        },
        HostileDamage("unknown signature letter with record words 2^32-1", mentions: ["metric 1", "outside"]) {
            $0.bytes[$0.string(2, of: $0.entries[1]).offset] = UInt8(ascii: "Z")
            $0.set32($0.entries[1] + 24, 0xFFFF_FFFF)
        },
        HostileDamage("signature count without a letter", mentions: ["metadata entry 1", "signature '9'"]) {
            $0.bytes[$0.string(2, of: $0.entries[1]).offset] = UInt8(ascii: "9")
        },
        HostileDamage("signature repeat count 0", mentions: ["metadata entry 3", "repeat count 0"]) {
            // "Qdq" → "Q0q"
            $0.bytes[$0.string(2, of: $0.entries[3]).offset + 1] = UInt8(ascii: "0")
        },
        HostileDamage("signature with whitespace", mentions: ["metadata entry 3", "signature 'Qd '"]) {
            $0.bytes[$0.string(2, of: $0.entries[3]).offset + 2] = UInt8(ascii: " ")
        },
        HostileDamage("string of length 0 in the signature", mentions: ["metadata entry 4", "byte length"]) {
            // "?12s" → "?00s"
            let offset = $0.string(2, of: $0.entries[4]).offset
            $0.bytes[offset + 1] = UInt8(ascii: "0")
            $0.bytes[offset + 2] = UInt8(ascii: "0")
        },
        HostileDamage("empty signature", mentions: ["metadata entry 1", "empty signature"]) {
            // "depth" has no unit, description or dimensions: only the fields shift left.
            $0.set16($0.entries[1] + 36, 0)
        },
        HostileDamage("dimension value runs past the dimensions", mentions: ["metadata entry 0", "dimension value"]) {
            $0.set32($0.entries[0] + 44, $0.u32($0.entries[0] + 44) - 1)
        },
        HostileDamage("dimensions of one byte", mentions: ["metadata entry 0", "dimension key length"]) {
            $0.set32($0.entries[0] + 44, 1)
        },
        HostileDamage("dimension key length past the dimensions", mentions: ["metadata entry 0", "65535 bytes"]) {
            $0.set16($0.string(6, of: $0.entries[0]).offset, 0xFFFF)
        },
        HostileDamage("dimension value is not UTF-8", mentions: ["metadata entry 0", "dimension value is not valid"]) {
            let (offset, length) = $0.string(6, of: $0.entries[0])
            $0.bytes[offset + length - 1] = 0xFF
        },
        HostileDamage("dimensions with a dangling empty key", mentions: ["metadata entry 0", "value length"]) {
            // Two more (zero padding) bytes: a key of length 0 with no value after it.
            $0.set32($0.entries[0] + 44, $0.u32($0.entries[0] + 44) + 2)
        },
    ]

    static let value: [HostileDamage] = [
        HostileDamage("value offset at the end of the file", mentions: ["metric 0", "outside the file"]) {
            $0.set64($0.entries[0] + 8, $0.size)
        },
        HostileDamage("value offset 2^64-8", mentions: ["metadata entry 0", "impossible"]) {
            $0.set64($0.entries[0] + 8, UInt64.max - 7)
        },
        HostileDamage("value offset 2^63-8", mentions: ["metric 0", "outside the file"]) {
            $0.set64($0.entries[0] + 8, UInt64(Int.max - 7))
        },
        HostileDamage("value record straddles the end", mentions: ["metric 4", "outside the file"]) {
            $0.set64($0.entries[4] + 8, $0.size - 8)  // two words, one inside
        },
        HostileDamage("value offset misaligned", mentions: ["metric 1", "not 8-byte aligned"]) {
            $0.set64($0.entries[1] + 8, $0.u64($0.entries[1] + 8) + 4)
        },
        HostileDamage("value offset inside the header", mentions: ["metric 2", "offset 8 "]) {
            $0.set64($0.entries[2] + 8, 8)
        },
        HostileDamage("value offset 0", mentions: ["metric 5", "offset 0 "]) { $0.set64($0.entries[5] + 8, 0) },
        HostileDamage("double buffer: only the seq word and copy 0 fit", mentions: ["metric 3", "double-buffer"]) {
            $0.set64($0.entries[3] + 8, $0.size - 32)
        },
        HostileDamage("double buffer: seq word inside the header", mentions: ["metric 3", "double-buffer"]) {
            $0.set64($0.entries[3] + 8, 248)
        },
        HostileDamage("page flip: alt offset past the end", pageFlip: true, mentions: ["metric 1", "page 1"]) {
            $0.set64($0.entries[1] + 16, $0.size)
        },
        HostileDamage("page flip: alt copy straddles the end", pageFlip: true, mentions: ["metric 1", "page 1"]) {
            $0.set64($0.entries[1] + 16, $0.size - 16)
        },
        HostileDamage("page flip: alt offset misaligned", pageFlip: true, mentions: ["metric 0", "page 1", "aligned"]) {
            $0.set64($0.entries[0] + 16, $0.u64($0.entries[0] + 16) + 1)
        },
        HostileDamage("page flip: alt offset 0", pageFlip: true, mentions: ["metric 2", "page 1"]) {
            $0.set64($0.entries[2] + 16, 0)
        },
        HostileDamage("page flip: page 0 past the end", pageFlip: true, mentions: ["metric 3", "page 0"]) {
            $0.set64($0.entries[3] + 8, $0.size + 4096)
        },
    ]
}

/// Damage that makes one metric unreadable but leaves the file readable (docs/FORMAT.md §6, §9).
struct HostileUnreadable: Sendable, CustomTestStringConvertible {
    let name: String
    let index: Int
    let reason: String
    let apply: @Sendable (inout HostileImage) -> Void
    var testDescription: String { name }

    static let all: [HostileUnreadable] = [
        HostileUnreadable(
            name: "a signature letter of a later minor version", index: 1, reason: "unknown type letter 'Z'"
        ) {
            $0.bytes[$0.string(2, of: $0.entries[1]).offset] = UInt8(ascii: "Z")  // "q" → "Z"
        },
        HostileUnreadable(name: "repeated field names", index: 3, reason: "field names repeat") {
            // "count,sum,max" → "count,sum,sum"
            let (offset, length) = $0.string(3, of: $0.entries[3])
            $0.setText(offset + length - 3, "sum")
        },
        HostileUnreadable(name: "repeated dimension keys", index: 0, reason: "dimension keys repeat") {
            // code=200, verb=GET → code=200, code=GET
            $0.setText($0.string(6, of: $0.entries[0]).offset + 13, "code")
        },
    ]
}

// MARK: - v1 files

/// A v1 field: u16 label length, label, u16 type length, type, buffer byte, value(s).
private func v1Field(_ label: [UInt8], _ type: [UInt8], buffer: UInt8 = 0xFF, value: [UInt8]) -> [UInt8] {
    [UInt8(label.count & 0xFF), UInt8(label.count >> 8)] + label + [UInt8(type.count & 0xFF), UInt8(type.count >> 8)]
        + type + [buffer] + value
}

/// Version byte 1, the fields, zeros up to `size` (a zero label length ends the list).
private func v1File(_ fields: [UInt8], size: Int = 4096) -> [UInt8] {
    var bytes = [1] + fields
    if bytes.count < size { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
    return bytes
}

/// A v1 case: the file's bytes and what the error must mention.
struct HostileV1Case: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let mentions: [String]
    var testDescription: String { name }

    static let valid: [UInt8] =
        v1Field(Array("queue.count".utf8), Array("Q".utf8), value: [5, 0, 0, 0, 0, 0, 0, 0])
        + v1Field(Array("queue.name".utf8), Array("8s".utf8), value: Array("jobs".utf8) + [0, 0, 0, 0])

    static let all: [HostileV1Case] = [
        HostileV1Case(
            name: "garbage after the version byte", bytes: [1] + [UInt8](repeating: 0xFF, count: 4095),
            mentions: ["v1 field 0", "label runs past the end"]),
        HostileV1Case(
            name: "label length past the end", bytes: v1File(valid + [0x88, 0x13] + Array("x".utf8)),
            mentions: ["v1 field 2", "label runs past"]),
        HostileV1Case(
            name: "unknown type letter", bytes: v1File(valid + v1Field(Array("bad".utf8), Array("x".utf8), value: [0])),
            mentions: ["v1 field 2", "unknown v1 type 'x'"]),
        HostileV1Case(
            name: "string type of length 0", bytes: v1File(v1Field(Array("s".utf8), Array("0s".utf8), value: [])),
            mentions: ["unknown v1 type '0s'"]),
        HostileV1Case(
            name: "type length 0", bytes: v1File(v1Field(Array("t".utf8), [], value: [1])),
            mentions: ["v1 field 0", "type of 't'"]),
        HostileV1Case(
            name: "type length past the end", bytes: v1File([3, 0] + Array("abc".utf8) + [0xFF, 0x7F], size: 8),
            mentions: ["type of 'abc' runs past"]),
        HostileV1Case(
            name: "label is not UTF-8", bytes: v1File(v1Field([0x61, 0xFF], Array("Q".utf8), value: [1])),
            mentions: ["label is not UTF-8"]),
        HostileV1Case(
            name: "bad write-buffer byte",
            bytes: v1File(valid + v1Field(Array("b".utf8), Array("Q".utf8), buffer: 7, value: [])),
            mentions: ["v1 field 2", "write-buffer byte 7"]),
        // 1 + 2 + 1 + 2 + 3 + 1 = 10 bytes before the value; 16s needs 16 more in a 16-byte file.
        HostileV1Case(
            name: "value past the end", bytes: v1File(v1Field(Array("v".utf8), Array("16s".utf8), value: []), size: 16),
            mentions: ["value of 'v' runs past the end"]),
        HostileV1Case(
            name: "double-buffered value past the end",
            bytes: v1File(
                v1Field(Array("w".utf8), Array("d".utf8), buffer: 1, value: [0, 0, 0, 0, 0, 0, 0, 0]), size: 16),
            mentions: ["value of 'w' runs past the end"]),
    ]
}

// MARK: - A seeded generator

/// The seeded generator of the fuzz loop below.
typealias HostileSplitMix64 = SeededGenerator

// MARK: - Tests

@Suite("Hostile files")
struct HostileFileTests {
    @Test("an undamaged copy reads with the writer's values", arguments: [false, true])
    func pristineCopy(pageFlip: Bool) throws {
        let directory = TemporaryDirectory("hostile-pristine")
        let image = try HostileFixture.make(pageFlip: pageFlip, directory)
        let path = directory.path + "/copy.mmstats"
        try writeInPlace(image.bytes, to: path)
        let snapshot = try StatsReader(path: path).snapshot()
        expectValues(snapshot, image)
        #expect(snapshot.metrics.allSatisfy { $0.error == nil })
        // The image accessors agree with what the reader parsed, so the damage below hits what it means to.
        #expect(image.entries.count == image.expected.count)
        #expect(image.size % 4096 == 0 && image.firstSegment == 256)
        #expect(snapshot.metrics.map(\.descriptor.valueOffset) == image.entries.map { Int(image.u64($0 + 8)) })
        #expect(snapshot.metrics.map(\.descriptor.altOffset) == image.entries.map { Int(image.u64($0 + 16)) })
        let layouts: [LayoutID] =
            pageFlip ? Array(repeating: .pageFlip, count: 4) : [.word, .word, .word, .doubleBuffer, .word, .word]
        #expect(snapshot.metrics.map(\.descriptor.layout) == layouts)
    }

    @Test("a damaged header is rejected with an error naming the file", arguments: HostileDamage.header)
    func damagedHeader(_ damage: HostileDamage) throws {
        try check(damage)
    }

    @Test("a damaged metadata segment is rejected and the chain always ends", arguments: HostileDamage.segment)
    func damagedSegment(_ damage: HostileDamage) throws {
        try check(damage)
    }

    @Test("a damaged descriptor is rejected with its entry named", arguments: HostileDamage.descriptor)
    func damagedDescriptor(_ damage: HostileDamage) throws {
        try check(damage)
    }

    @Test("a value record outside the file is rejected", arguments: HostileDamage.value)
    func damagedValueRecord(_ damage: HostileDamage) throws {
        try check(damage)
    }

    private func check(_ damage: HostileDamage, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let directory = TemporaryDirectory("hostile")
        var image = try HostileFixture.make(pageFlip: damage.pageFlip, directory)
        damage.apply(&image)
        try expectRejected(
            image.bytes, at: directory.path + "/damaged.mmstats", codes: damage.codes, mentions: damage.mentions,
            damage.name, sourceLocation: sourceLocation)
    }

    @Test("a double-buffer record that ends exactly at the end of the file is accepted")
    func doubleBufferAtTheEnd() throws {
        let directory = TemporaryDirectory("hostile-edge")
        var image = try HostileFixture.word(directory)
        image.set64(image.entries[3] + 8, image.size - 56)  // seq + 2 × 3 words, in zeroed space
        let path = directory.path + "/edge.mmstats"
        try writeInPlace(image.bytes, to: path)
        let snapshot = try StatsReader(path: path).snapshot()
        let timing = try #require(snapshot.metric("timing"))
        #expect(timing.error == nil)
        #expect(timing.fields.map(\.value) == [.uint(0), .double(0), .int(0)])
        #expect(snapshot.value("depth") == .int(-7))
    }

    @Test("an unknown layout makes one metric unreadable, not the file", arguments: [UInt16(0), 5, 9, 0xFFFF])
    func unknownLayout(_ layout: UInt16) throws {
        let directory = TemporaryDirectory("hostile-layout")
        var image = try HostileFixture.word(directory)
        image.set16(image.entries[1] + 4, layout)  // "depth"
        let path = directory.path + "/layout.mmstats"
        try writeInPlace(image.bytes, to: path)
        let reader = try StatsReader(path: path)
        for round in 0..<2 {  // the second round uses the cached metadata
            let snapshot = try reader.snapshot()
            #expect(snapshot.count == image.expected.count)
            let depth = try #require(snapshot.metric("depth"))
            #expect(depth.descriptor.layout.rawValue == layout)
            #expect(depth.fields.isEmpty)
            #expect(depth.value == nil)
            #expect(
                depth.error?.contains("unknown layout \(layout)") == true, "round \(round): \(depth.error ?? "nil")")
            for (index, expected) in image.expected.enumerated() where index != 1 {
                let sample = snapshot.sample(at: index)
                #expect(sample.error == nil, "\(expected.name)")
                #expect(sample.descriptor.displayName == expected.name)
                #expect(sample.fields.map(\.value) == expected.values, "round \(round): \(expected.name)")
            }
        }
    }

    @Test("a metric a reader cannot decode is unreadable on its own", arguments: HostileUnreadable.all)
    func unreadableMetric(_ case_: HostileUnreadable) throws {
        let directory = TemporaryDirectory("hostile-unreadable")
        var image = try HostileFixture.word(directory)
        case_.apply(&image)
        let path = directory.path + "/unreadable.mmstats"
        try writeInPlace(image.bytes, to: path)
        let snapshot = try StatsReader(path: path).snapshot()
        #expect(snapshot.count == image.expected.count)
        let broken = snapshot.sample(at: case_.index)
        #expect(broken.fields.isEmpty)
        #expect(broken.error?.contains(case_.reason) == true, "\(case_.name): \(broken.error ?? "nil")")
        for (index, expected) in image.expected.enumerated() where index != case_.index {
            let sample = snapshot.sample(at: index)
            #expect(sample.error == nil, "\(case_.name): \(expected.name)")
            #expect(sample.descriptor.displayName == expected.name)
            #expect(sample.fields.map(\.value) == expected.values, "\(case_.name): \(expected.name)")
        }
    }

    @Test("newer minor versions, unknown flag bits and reserved bytes are ignored")
    func compatibleAdditions() throws {
        let directory = TemporaryDirectory("hostile-minor")
        var image = try HostileFixture.word(directory)
        image.set16(14, 7)  // minor version
        image.set32(20, 0xFFFF_FFFE)  // every flag bit but closed
        image.set64(104, UInt64.max)  // reserved
        image.bytes.replaceSubrange(240..<256, with: repeatElement(0xAA, count: 16))
        let path = directory.path + "/minor.mmstats"
        try writeInPlace(image.bytes, to: path)
        let snapshot = try StatsReader(path: path).snapshot()
        expectValues(snapshot, image)
        #expect(!snapshot.writer.closed)
    }

    @Test("v1 files with hostile contents are rejected with an error naming the file", arguments: HostileV1Case.all)
    func hostileV1(_ v1: HostileV1Case) throws {
        let directory = TemporaryDirectory("hostile-v1")
        // The undamaged fields read, so each case fails for its own damage.
        let validPath = directory.path + "/valid-v1.mmstats"
        try writeInPlace(v1File(HostileV1Case.valid), to: validPath)
        let valid = try StatsReader(path: validPath).snapshot()
        #expect(valid.version == 1)
        #expect(valid.count == 2)
        #expect(valid.value("queue.count") == .uint(5))
        #expect(valid.value("queue.name") == .string("jobs"))
        try expectRejected(
            v1.bytes, at: directory.path + "/hostile-v1.mmstats", codes: [.corrupt], mentions: v1.mentions, v1.name)
    }

    @Test("fuzz: random damage to the header and metadata never crashes the reader")
    func fuzz() throws {
        let seed: UInt64 = 0x6D6D_7374_6174_7332
        let iterations = 3000
        let directory = TemporaryDirectory("hostile-fuzz")
        let images = [try HostileFixture.word(directory), try HostileFixture.pageFlip(directory)]
        let path = directory.path + "/fuzz.mmstats"
        var accepted = 0
        var rejected = 0
        for iteration in 0..<iterations {
            // Each iteration has its own generator, so any one of them can be replayed alone.
            var random = HostileSplitMix64(seed: seed &+ UInt64(iteration))
            let image = images[iteration % 2]
            var bytes = image.bytes
            let live = image.firstSegment + 32 + image.used  // header, segment header and descriptors
            var changes: [String] = []
            for _ in 0..<(1 + random.below(8)) {
                // Half the damage lands where metadata is, half anywhere in the first 8 KiB.
                let offset = random.below(2) == 0 ? random.below(live) : random.below(8192)
                let value: UInt8
                switch random.below(4) {
                case 0: value = 0
                case 1: value = 0xFF
                case 2: value = bytes[offset] ^ (1 << UInt8(random.below(8)))
                default: value = UInt8(truncatingIfNeeded: random.next())
                }
                bytes[offset] = value
                changes.append("[\(offset)]=\(value)")
            }
            if random.below(8) == 0 {
                let length = random.below(bytes.count)
                bytes.removeSubrange(length...)
                changes.append("truncate \(length)")
            }
            let context =
                "seed 0x\(String(seed, radix: 16)) + iteration \(iteration): \(changes.joined(separator: " "))"
            try writeInPlace(bytes, to: path)
            do throws(MmStatsError) {
                let reader = try StatsReader(path: path)
                let snapshot = try reader.snapshot()
                // Touch everything a caller could: descriptors, values, exposed fields, writer state.
                for sample in snapshot.metrics {
                    _ = sample.descriptor.displayName
                    _ = sample.fields.map(\.value.description)
                    _ = sample.exposedFields()
                }
                _ = snapshot.writer.state
                // A second snapshot (cached metadata) agrees with the first.
                let again = try reader.snapshot()
                #expect(again.count == snapshot.count, "\(context)")
                accepted += 1
            } catch {
                #expect(error.path == path, "\(context): \(error)")
                rejected += 1
            }
        }
        // The loop exercised both outcomes (otherwise the damage missed the metadata).
        #expect(accepted > 100, "seed 0x\(String(seed, radix: 16)): only \(accepted) files read")
        #expect(rejected > 100, "seed 0x\(String(seed, radix: 16)): only \(rejected) files rejected")
    }

    @Test("a file shrunk under a live reader gives an error, and reads again once restored", arguments: [false, true])
    func shrunkUnderReader(pageFlip: Bool) throws {
        let directory = TemporaryDirectory("hostile-shrink")
        let image = try HostileFixture.make(pageFlip: pageFlip, directory)
        let path = directory.path + "/shrink.mmstats"
        try writeInPlace(image.bytes, to: path)
        let reader = try StatsReader(path: path)
        for length in [8192, 4096, 0] {
            // Restore, read (caching metadata that points into the part about to vanish), then shrink.
            try writeInPlace(image.bytes, to: path)
            let before = try reader.snapshot()
            expectValues(before, image, "before shrinking to \(length):")
            #expect(truncate(path, off_t(length)) == 0)
            for attempt in 0..<2 {
                do throws(MmStatsError) {
                    let snapshot = try reader.snapshot()
                    Issue.record("shrunk to \(length) bytes, attempt \(attempt): read \(snapshot.count) metrics")
                } catch {
                    #expect(error.path == path, "\(error)")
                    #expect(
                        error.code == .truncated || error.code == .corrupt,
                        "shrunk to \(length), attempt \(attempt): \(error)")
                }
            }
        }
        try writeInPlace(image.bytes, to: path)
        let restored = try reader.snapshot()
        expectValues(restored, image, "restored:")
    }

    @Test("a file rewritten in place with another writer's content reads as the new file or fails")
    func rewrittenUnderReader() throws {
        let directory = TemporaryDirectory("hostile-rewrite")
        let original = try HostileFixture.word(directory)
        // The first replacement has as many metrics as the original, so the same generation number.
        let replacements = [try HostileFixture.other(directory), try HostileFixture.pageFlip(directory)]
        #expect(replacements[0].u64(24) == original.u64(24))
        for (index, replacement) in replacements.enumerated() {
            let path = directory.path + "/rewrite-\(index).mmstats"
            try writeInPlace(original.bytes, to: path)
            let reader = try StatsReader(path: path)
            expectValues(try reader.snapshot(), original, "before the rewrite:")
            try writeInPlace(replacement.bytes, to: path)
            do throws(MmStatsError) {
                let snapshot = try reader.snapshot()
                expectValues(snapshot, replacement, "first snapshot after the rewrite:")
            } catch {
                #expect(error.path == path, "\(error)")
            }
            // Whatever the first look said, the next one sees the new file.
            let next = try reader.snapshot()
            expectValues(next, replacement, "second snapshot after the rewrite:")
            // The new writer's names, not the ones the reader read for the first writer.
            let model = replacement.bytes[176..<240].prefix { $0 != 0 }
            #expect(next.writer.model == String(decoding: model, as: UTF8.self))
            #expect(next.writer.model != "Word")
        }
    }
}
