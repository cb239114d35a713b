import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The signatures and field-name lists that descriptors decoded so far hold, shared by every
/// reader in the process.
///
/// Decoding a descriptor is dominated by its shape: a histogram's signature has 2,368
/// components and its field names list 2,368 names, while its name, dimensions and offsets
/// are a few short strings. Files of one program repeat the same shapes, so a shape seen
/// before is recognized by its bytes (hashed, then compared byte for byte) and its parsed
/// `Signature` and names are shared instead of being parsed again: the first scan of
/// thousands of files parses each shape once. Only shapes that parsed without error are
/// kept. Bounded: at most ``maximumShapes`` shapes and ``maximumBytes`` bytes of keys; when
/// either is reached the cache starts over.
final class DescriptorShapes: Sendable {
    /// One signature and field-name list, parsed.
    struct Shape: Sendable {
        let signatureBytes: [UInt8]
        let fieldBytes: [UInt8]
        let signatureText: String
        let signature: Signature
        let fieldNames: [String]
        /// Why the names make the metric unreadable (empty or repeated names), if they do.
        let problem: String?
    }

    static let shared = DescriptorShapes()
    static let maximumShapes = 1_024
    static let maximumBytes = 8 << 20

    private let state = Mutex<(shapes: [UInt64: Shape], bytes: Int)>(([:], 0))

    /// The shape with exactly these bytes, if it was parsed before.
    func shape(signature: UnsafeRawBufferPointer, fields: UnsafeRawBufferPointer) -> Shape? {
        let key = Self.hash(signature, Self.hash(fields, UInt64(signature.count)))
        guard let shape = state.withLock({ $0.shapes[key] }) else { return nil }
        guard Self.equal(shape.signatureBytes, signature), Self.equal(shape.fieldBytes, fields) else { return nil }
        return shape
    }

    /// Keeps `shape` (replacing one whose bytes hash alike).
    func insert(_ shape: Shape) {
        let cost = shape.signatureBytes.count + shape.fieldBytes.count
        guard cost <= Self.maximumBytes / 4 else { return }
        let key = shape.signatureBytes.withUnsafeBytes { signature in
            shape.fieldBytes.withUnsafeBytes { fields in
                Self.hash(signature, Self.hash(fields, UInt64(signature.count)))
            }
        }
        state.withLock { state in
            if state.shapes.count >= Self.maximumShapes || state.bytes + cost > Self.maximumBytes {
                state = ([:], 0)
            }
            if let old = state.shapes.updateValue(shape, forKey: key) {
                state.bytes -= old.signatureBytes.count + old.fieldBytes.count
            }
            state.bytes += cost
        }
    }

    private static func equal(_ kept: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard kept.count == bytes.count else { return false }
        return kept.withUnsafeBytes { kept in
            guard let left = kept.baseAddress, let right = bytes.baseAddress else { return true }
            return memcmp(left, right, bytes.count) == 0
        }
    }

    /// A fast 64-bit hash of `bytes`, eight at a time (not for hostile collisions: a hit is
    /// always confirmed by comparing the bytes).
    static func hash(_ bytes: UnsafeRawBufferPointer, _ seed: UInt64) -> UInt64 {
        var h = seed ^ 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var index = 0
        while index + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            h = (h ^ word) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            index += 8
        }
        while index < bytes.count {
            h = (h ^ UInt64(bytes[index])) &* 0xC4CE_B9FE_1A85_EC53
            index += 1
        }
        return h ^ (h >> 29)
    }
}
