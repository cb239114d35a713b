import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A v2 file built byte by byte from docs/FORMAT.md (little-endian): one metadata segment at
/// offset 256 holding the given descriptors.
public struct CraftedFile {
    public struct Entry {
        public var kind: String
        public var name: String
        public var signature: String
        public var fields: String
        public var valueOffset: Int
        public var words: Int
        public var layout: UInt16

        /// A descriptor: `words` is its `record words`.
        public init(
            kind: String = "gauge", name: String, signature: String, fields: String, valueOffset: Int, words: Int,
            layout: UInt16 = 1
        ) {
            self.kind = kind
            self.name = name
            self.signature = signature
            self.fields = fields
            self.valueOffset = valueOffset
            self.words = words
            self.layout = layout
        }
    }

    /// The descriptors, in order.
    public var entries: [Entry]
    /// The file's size (the tail is a hole: sparse on disk).
    public var size: Int
    /// The header's layout id.
    public var fileLayout: UInt32 = 1
    /// The header's `file size` (default: `size`).
    public var headerFileSize: Int?
    /// Bytes written over the file last, at their offsets (values, say).
    public var patches: [(offset: Int, bytes: [UInt8])] = []

    /// A file of `entries` and `size` bytes.
    public init(entries: [Entry], size: Int) {
        self.entries = entries
        self.size = size
    }

    static func descriptor(_ entry: Entry, id: Int) -> [UInt8] {
        let strings = [entry.kind, entry.name, entry.signature, entry.fields, "", ""].map { Array($0.utf8) }
        let body = strings.flatMap { $0 }
        let total = (48 + body.count + 7) & ~7
        var bytes = [UInt8](repeating: 0, count: total)
        put(&bytes, 0, UInt64(total), 4)
        put(&bytes, 4, UInt64(entry.layout), 2)
        put(&bytes, 8, UInt64(entry.valueOffset), 8)
        put(&bytes, 24, UInt64(entry.words), 4)
        put(&bytes, 28, UInt64(id), 4)
        for (i, string) in strings.enumerated() { put(&bytes, 32 + 2 * i, UInt64(string.count), 2) }
        bytes.replaceSubrange(48..<48 + body.count, with: body)
        return bytes
    }

    /// Stores `value` little-endian in `count` bytes at `offset`.
    public static func put(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64, _ count: Int) {
        for i in 0..<count { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Writes the file: header, segment and descriptors, then extends it to `size` with a hole.
    public func write(to path: String) throws {
        let metadata = entries.enumerated().flatMap { Self.descriptor($1, id: $0) }
        var head = [UInt8](repeating: 0, count: 256 + 32)
        head[0] = 2
        head.replaceSubrange(1..<8, with: Array("MMSTATS".utf8))
        Self.put(&head, 8, 0x0A0B_0C0D, 4)
        Self.put(&head, 12, 256, 2)
        Self.put(&head, 16, UInt64(fileLayout), 4)
        Self.put(&head, 24, 2, 8)
        Self.put(&head, 32, UInt64(headerFileSize ?? size), 8)
        Self.put(&head, 40, 256, 8)
        Self.put(&head, 48, UInt64(entries.count), 8)
        Self.put(&head, 64, 999_999, 8)
        head.replaceSubrange(112..<116, with: Array("evil".utf8))
        head.replaceSubrange(256..<260, with: Array("MSEG".utf8))
        Self.put(&head, 256 + 8, UInt64(metadata.count), 8)
        Self.put(&head, 256 + 16, UInt64(metadata.count), 8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HardeningError("open \(path): errno \(errno)") }
        defer { close(fd) }
        for (bytes, offset) in [(head, 0), (metadata, head.count)] + patches.map({ ($0.bytes, $0.offset) }) {
            let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard written == bytes.count else { throw HardeningError("pwrite \(path): errno \(errno)") }
        }
        guard ftruncate(fd, off_t(max(size, head.count + metadata.count))) == 0 else {
            throw HardeningError("ftruncate \(path): errno \(errno)")
        }
    }
}

/// A failed system call while building a file.
public struct HardeningError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
    init(_ description: String) { self.description = description }
}
