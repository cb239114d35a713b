/// Byte offsets and constants of the v2 file format (docs/FORMAT.md is the contract).
public enum Format {
    /// The version byte at offset 0.
    public static let version: UInt8 = 2
    /// ASCII `MMSTATS` at offsets 1 ..< 8.
    public static let magic: [UInt8] = Array("MMSTATS".utf8)
    /// The byte order mark's value.
    public static let byteOrderMark: UInt32 = 0x0A0B_0C0D
    /// The size of the header this writer produces.
    public static let headerSize = 256
    /// The minor version this writer produces (1: the header records the PID namespace).
    public static let minorVersion: UInt16 = 1
    /// Files grow in multiples of this.
    public static let pageSize = 4096
    /// Bytes of a metadata segment's own header.
    public static let segmentHeaderSize = 32
    /// ASCII `MSEG`.
    public static let segmentMagic: [UInt8] = Array("MSEG".utf8)
    /// Bytes of a descriptor's fixed part.
    public static let descriptorFixedSize = 48
    /// Header flag: the writer closed the file.
    public static let closedFlag: UInt32 = 1
    /// Descriptor flag: the record is aligned to a cache line.
    public static let cacheLineFlag: UInt16 = 1

    /// Header field offsets.
    public enum Header {
        public static let version = 0
        public static let magic = 1
        public static let byteOrderMark = 8
        public static let headerSize = 12
        public static let minorVersion = 14
        public static let layout = 16
        public static let flags = 20
        public static let generation = 24
        public static let fileSize = 32
        public static let firstSegment = 40
        public static let metricCount = 48
        public static let flipSequence = 56
        public static let pid = 64
        public static let tid = 72
        public static let startTime = 80
        public static let created = 88
        public static let lastUpdate = 96
        /// Minor version 1: the writer's PID namespace (inode of `/proc/self/ns/pid`; 0 unknown).
        public static let pidNamespace = 104
        public static let application = 112
        public static let model = 176
        public static let nameCapacity = 64
    }

    /// Metadata segment field offsets.
    public enum Segment {
        public static let magic = 0
        public static let capacity = 8
        public static let used = 16
        public static let next = 24
    }

    /// Descriptor field offsets.
    public enum Descriptor {
        public static let entrySize = 0
        public static let layout = 4
        public static let flags = 6
        public static let valueOffset = 8
        public static let altOffset = 16
        public static let recordWords = 24
        public static let metricID = 28
        public static let kindLength = 32
        public static let nameLength = 34
        public static let signatureLength = 36
        public static let fieldsLength = 38
        public static let unitLength = 40
        public static let descriptionLength = 42
        public static let dimensionsLength = 44
        public static let strings = 48
    }
}

extension Int {
    /// Rounds up to a multiple of `alignment` (a power of two).
    @inlinable
    func aligned(to alignment: Int) -> Int { (self + alignment - 1) & ~(alignment - 1) }
}
