/// A key=value pair that distinguishes metrics of the same name (`code=200`).
public struct Dimension: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The key.
    public let key: String
    /// The value.
    public let value: String

    /// Creates a dimension.
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }

    /// `key=value`.
    public var description: String { "\(key)=\(value)" }
}

/// Which storage layout a record uses (docs/FORMAT.md §5).
public struct LayoutID: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The number stored in descriptors and the header.
    public let rawValue: UInt16
    /// Wraps a layout number.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// One aligned word per slot, each consistent on its own.
    public static let word = LayoutID(rawValue: 1)
    /// A sequence-count latch over two copies: whole records, readers never wait.
    public static let doubleBuffer = LayoutID(rawValue: 2)
    /// Two pages published by one flip: every page-flip record of a file from one instant.
    public static let pageFlip = LayoutID(rawValue: 3)
    /// Per-thread shards of a record, summed by readers: thread-safe counters (§11.6).
    public static let sharded = LayoutID(rawValue: 4)
    /// Legacy v1 fields (never stored in a v2 file).
    public static let v1 = LayoutID(rawValue: 0)

    /// `word`, `double-buffer`, `page-flip`, `sharded`, `v1` (legacy fields) or `layout-N`.
    public var description: String {
        switch self {
        case .word: "word"
        case .doubleBuffer: "double-buffer"
        case .pageFlip: "page-flip"
        case .sharded: "sharded"
        case .v1: "v1"
        default: "layout-\(rawValue)"
        }
    }
}

/// What a metric is: everything its metadata entry says.
///
/// Immutable, and cheap to copy: the fields live in one shared box, so a copy (into every
/// `MetricSample`, say) costs a single reference count.
public struct MetricDescriptor: Equatable, Hashable, Sendable {
    private final class Storage: Sendable {
        let name: String
        let dimensions: [Dimension]
        let kind: String
        let unit: String
        let help: String
        let signature: Signature
        let fieldNames: [String]
        let layout: LayoutID
        let flags: UInt16
        let valueOffset: Int
        let altOffset: Int
        let metricID: Int

        init(
            name: String, dimensions: [Dimension], kind: String, unit: String, help: String, signature: Signature,
            fieldNames: [String], layout: LayoutID, flags: UInt16, valueOffset: Int, altOffset: Int, metricID: Int
        ) {
            self.name = name
            self.dimensions = dimensions
            self.kind = kind
            self.unit = unit
            self.help = help
            self.signature = signature
            self.fieldNames = fieldNames
            self.layout = layout
            self.flags = flags
            self.valueOffset = valueOffset
            self.altOffset = altOffset
            self.metricID = metricID
        }
    }

    private let storage: Storage

    /// Dotted name, for example `index.response_time`.
    public var name: String { storage.name }
    /// Dimensions in the order they were given.
    public var dimensions: [Dimension] { storage.dimensions }
    /// The metric kind's name (`counter`, `gauge`, …).
    public var kind: String { storage.kind }
    /// The unit, possibly empty.
    public var unit: String { storage.unit }
    /// A description for people, possibly empty.
    public var help: String { storage.help }
    /// The record's components.
    public var signature: Signature { storage.signature }
    /// One name per component.
    public var fieldNames: [String] { storage.fieldNames }
    /// How the record is stored.
    public var layout: LayoutID { storage.layout }
    /// Descriptor flags.
    public var flags: UInt16 { storage.flags }
    /// The record's offset (layout 2: its seq word; layout 3: its copy on page 0).
    public var valueOffset: Int { storage.valueOffset }
    /// Layout 3: the copy on page 1.
    public var altOffset: Int { storage.altOffset }
    /// Position in the file's metadata, from 0.
    public var metricID: Int { storage.metricID }

    /// Creates a descriptor.
    public init(
        name: String, dimensions: [Dimension], kind: String, unit: String, help: String, signature: Signature,
        fieldNames: [String], layout: LayoutID, flags: UInt16, valueOffset: Int, altOffset: Int, metricID: Int
    ) {
        storage = Storage(
            name: name, dimensions: dimensions, kind: kind, unit: unit, help: help, signature: signature,
            fieldNames: fieldNames, layout: layout, flags: flags, valueOffset: valueOffset, altOffset: altOffset,
            metricID: metricID)
    }

    /// Equal when every field is equal.
    public static func == (lhs: MetricDescriptor, rhs: MetricDescriptor) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.name == rhs.name && lhs.dimensions == rhs.dimensions && lhs.kind == rhs.kind
            && lhs.unit == rhs.unit && lhs.help == rhs.help && lhs.signature == rhs.signature
            && lhs.fieldNames == rhs.fieldNames && lhs.layout == rhs.layout && lhs.flags == rhs.flags
            && lhs.valueOffset == rhs.valueOffset && lhs.altOffset == rhs.altOffset && lhs.metricID == rhs.metricID
    }

    /// Whether both are copies of one descriptor (not merely equal): descriptors decoded from
    /// the same metadata bytes are shared between files (`DecodedSegments`).
    func shares(_ other: MetricDescriptor) -> Bool { storage === other.storage }

    /// Hashes the identifying fields.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(dimensions)
        hasher.combine(kind)
        hasher.combine(metricID)
        hasher.combine(valueOffset)
    }

    /// `name{k=v,…}`, the way text output shows a metric.
    public var displayName: String {
        dimensions.isEmpty ? name : "\(name){\(dimensions.map(\.description).joined(separator: ","))}"
    }

    /// Whether this metric has exactly these dimensions (in any order).
    public func matches(name: String, dimensions: [String: String]) -> Bool {
        guard self.name == name, self.dimensions.count == dimensions.count else { return false }
        return self.dimensions.allSatisfy { dimensions[$0.key] == $0.value }
    }
}

// MARK: - Encoding

extension MetricDescriptor {
    static func encodedDimensions(_ dimensions: [Dimension]) -> [UInt8] {
        var bytes: [UInt8] = []
        for dimension in dimensions {
            for text in [dimension.key, dimension.value] {
                let utf8 = Array(text.utf8)
                bytes.append(UInt8(truncatingIfNeeded: utf8.count))
                bytes.append(UInt8(truncatingIfNeeded: utf8.count >> 8))
                bytes.append(contentsOf: utf8)
            }
        }
        return bytes
    }

    /// The descriptor's bytes, padded to a multiple of 8 (native byte order).
    func encoded() -> [UInt8] {
        let strings: [[UInt8]] = [
            Array(kind.utf8), Array(name.utf8), Array(signature.description.utf8),
            Array(fieldNames.joined(separator: ",").utf8), Array(unit.utf8), Array(help.utf8),
            Self.encodedDimensions(dimensions),
        ]
        let total = (Format.descriptorFixedSize + strings.reduce(0) { $0 + $1.count }).aligned(to: 8)
        var bytes = [UInt8](repeating: 0, count: total)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(total), toByteOffset: Format.Descriptor.entrySize, as: UInt32.self)
            raw.storeBytes(of: layout.rawValue, toByteOffset: Format.Descriptor.layout, as: UInt16.self)
            raw.storeBytes(of: flags, toByteOffset: Format.Descriptor.flags, as: UInt16.self)
            raw.storeBytes(of: UInt64(valueOffset), toByteOffset: Format.Descriptor.valueOffset, as: UInt64.self)
            raw.storeBytes(of: UInt64(altOffset), toByteOffset: Format.Descriptor.altOffset, as: UInt64.self)
            raw.storeBytes(of: UInt32(signature.words), toByteOffset: Format.Descriptor.recordWords, as: UInt32.self)
            raw.storeBytes(of: UInt32(metricID), toByteOffset: Format.Descriptor.metricID, as: UInt32.self)
            for (i, string) in strings.enumerated().dropLast() {
                raw.storeBytes(
                    of: UInt16(string.count), toByteOffset: Format.Descriptor.kindLength + 2 * i, as: UInt16.self)
            }
            raw.storeBytes(
                of: UInt32(strings[6].count), toByteOffset: Format.Descriptor.dimensionsLength, as: UInt32.self)
        }
        var cursor = Format.descriptorFixedSize
        for string in strings {
            bytes.replaceSubrange(cursor..<cursor + string.count, with: string)
            cursor += string.count
        }
        return bytes
    }
}

// MARK: - Decoding

/// Little helpers for reading integers out of copied bytes in a file's byte order.
struct ByteView {
    let bytes: UnsafeRawBufferPointer
    let swapped: Bool

    func u16(_ offset: Int) -> UInt16 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return swapped ? v.byteSwapped : v
    }

    func u32(_ offset: Int) -> UInt32 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    func u64(_ offset: Int) -> UInt64 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        return swapped ? v.byteSwapped : v
    }
}

extension MetricDescriptor {
    /// Parses one descriptor at `offset` in `view`, which holds `available` valid bytes from there.
    /// Checks every length and string; the value offsets are checked by the caller.
    /// `unreadable` is set when the file is sound but this metric cannot be decoded (an unknown
    /// signature letter).
    /// `components` is what is left of the file's component budget: a descriptor with more
    /// throws an `overLimit` error before its field names are split.
    static func decode(_ view: ByteView, at offset: Int, available: Int, components: Int = .max)
        throws(DescriptorError) -> (MetricDescriptor, size: Int, unreadable: String?)
    {
        guard available >= Format.descriptorFixedSize else {
            throw DescriptorError("only \(available) bytes left for a \(Format.descriptorFixedSize)-byte descriptor")
        }
        let size = Int(view.u32(offset + Format.Descriptor.entrySize))
        guard size >= Format.descriptorFixedSize, size % 8 == 0 else {
            throw DescriptorError("entry size \(size) is not a multiple of 8 of at least 48")
        }
        guard size <= available else {
            throw DescriptorError("entry size \(size) runs past the segment's used bytes (\(available) left)")
        }
        let layout = LayoutID(rawValue: view.u16(offset + Format.Descriptor.layout))
        let flags = view.u16(offset + Format.Descriptor.flags)
        let valueOffset = view.u64(offset + Format.Descriptor.valueOffset)
        let altOffset = view.u64(offset + Format.Descriptor.altOffset)
        guard valueOffset <= UInt64(Int.max), altOffset <= UInt64(Int.max) else {
            throw DescriptorError("value offset \(valueOffset) (alt \(altOffset)) is impossible")
        }
        let recordWords = Int(view.u32(offset + Format.Descriptor.recordWords))
        let metricID = Int(view.u32(offset + Format.Descriptor.metricID))
        var lengths: [Int] = (0..<6).map { Int(view.u16(offset + Format.Descriptor.kindLength + 2 * $0)) }
        lengths.append(Int(view.u32(offset + Format.Descriptor.dimensionsLength)))
        let stringBytes = lengths.reduce(0, +)
        guard Format.descriptorFixedSize + stringBytes <= size else {
            throw DescriptorError("its strings (\(stringBytes) bytes) run past its entry size \(size)")
        }
        var cursor = offset + Format.descriptorFixedSize
        var slices: [UnsafeRawBufferPointer] = []
        for length in lengths {
            slices.append(UnsafeRawBufferPointer(rebasing: view.bytes[cursor..<cursor + length]))
            cursor += length
        }
        // A signature and field names seen before (in any file) are not parsed again.
        let known = DescriptorShapes.shared.shape(signature: slices[2], fields: slices[3])
        var strings: [String] = []
        let labels = ["kind", "name", "signature", "fields", "unit", "description"]
        for (i, slice) in slices.dropLast().enumerated() {
            if let known, i == 2 || i == 3 {
                strings.append(i == 2 ? known.signatureText : "")
                continue
            }
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw DescriptorError("its \(labels[i]) is not valid UTF-8")
            }
            strings.append(text)
        }
        let dimensions = try decodeDimensions(slices[6], swapped: view.swapped)
        func make(_ signature: Signature, _ fieldNames: [String]) -> MetricDescriptor {
            MetricDescriptor(
                name: strings[1], dimensions: dimensions, kind: strings[0], unit: strings[4], help: strings[5],
                signature: signature, fieldNames: fieldNames, layout: layout, flags: flags,
                valueOffset: Int(valueOffset), altOffset: Int(altOffset), metricID: metricID)
        }
        let signature: Signature
        if let known {
            signature = known.signature
        } else {
            do {
                signature = try Signature(strings[2])
            } catch  where error.reason.hasPrefix("unknown type letter") {
                // A letter from a later minor version (§9): the metric is unreadable, the file is not.
                // Its record still has to lie inside the file, so keep its size in words: as one opaque
                // component, because `record words` is untrusted (up to 2^32 - 1) and is checked against
                // the file only after every descriptor is parsed; one component per word made a
                // 60-byte entry allocate tens of gigabytes.
                let placeholder = make(Signature([.string(capacity: recordWords * 8)]), ["record"])
                return (placeholder, size, "signature '\(strings[2])': \(error.reason)")
            } catch {
                throw DescriptorError("signature '\(strings[2])': \(error)")
            }
        }
        guard signature.components.count <= components else {
            throw DescriptorError("over the component budget", overLimit: true)
        }
        guard signature.words == recordWords else {
            throw DescriptorError(
                "record words \(recordWords) do not match signature '\(strings[2])' (\(signature.words) words)")
        }
        let shape: DescriptorShapes.Shape
        if let known {
            shape = known
        } else {
            // Always split: "" is one (empty) name, so every reader counts names the same way.
            let fieldNames = strings[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fieldNames.count == signature.components.count else {
                throw DescriptorError(
                    "\(fieldNames.count) field names for \(signature.components.count) components of '\(strings[2])'")
            }
            let problem =
                fieldNames.contains("")
                ? "a field name is empty" : Set(fieldNames).count != fieldNames.count ? "field names repeat" : nil
            shape = DescriptorShapes.Shape(
                signatureBytes: Array(slices[2]), fieldBytes: Array(slices[3]), signatureText: strings[2],
                signature: signature, fieldNames: fieldNames, problem: problem)
            DescriptorShapes.shared.insert(shape)
        }
        if let problem = shape.problem {
            return (make(signature, shape.fieldNames), size, problem)
        }
        if Set(dimensions.map(\.key)).count != dimensions.count {
            return (make(signature, shape.fieldNames), size, "dimension keys repeat")
        }
        return (make(signature, shape.fieldNames), size, nil)
    }

    private static func decodeDimensions(_ bytes: UnsafeRawBufferPointer, swapped: Bool) throws(DescriptorError)
        -> [Dimension]
    {
        let view = ByteView(bytes: bytes, swapped: swapped)
        var cursor = 0
        var result: [Dimension] = []
        func text(_ label: String) throws(DescriptorError) -> String {
            guard cursor + 2 <= bytes.count else {
                throw DescriptorError("dimension \(label) length runs past the dimensions")
            }
            let length = Int(view.u16(cursor))
            cursor += 2
            guard cursor + length <= bytes.count else {
                throw DescriptorError("dimension \(label) (\(length) bytes) runs past the dimensions")
            }
            guard
                let string = String(
                    validating: UnsafeRawBufferPointer(rebasing: bytes[cursor..<cursor + length]), as: UTF8.self)
            else {
                throw DescriptorError("dimension \(label) is not valid UTF-8")
            }
            cursor += length
            return string
        }
        while cursor < bytes.count {
            let key = try text("key")
            let value = try text("value")
            result.append(Dimension(key, value))
        }
        return result
    }
}

/// Why one descriptor is invalid (the reader adds the file and entry).
struct DescriptorError: Error {
    let reason: String
    /// The descriptor is sound but exceeds the reader's budget.
    let overLimit: Bool
    init(_ reason: String, overLimit: Bool = false) {
        self.reason = reason
        self.overLimit = overLimit
    }
}
