/// Reads legacy v1 files written by Python mmstats (docs/FORMAT.md §10).
enum V1File {
    /// Python mmstats files are a few pages; anything larger than this is not one.
    static let maximumSize = 64 << 20

    static func snapshot(_ region: RegionReader, path: String, limits: ReaderLimits) throws(MmStatsError) -> Snapshot {
        guard region.size <= maximumSize else {
            throw MmStatsError(
                .corrupt, path: path, "a v1 file of \(region.size) bytes is larger than this reader's limit")
        }
        let bytes = try region.bytes(at: 0, count: region.size)
        var samples: [MetricSample] = []
        var cursor = 1
        var pid: Int32 = 0
        var foundPID = false
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func fail(_ reason: String) -> MmStatsError {
            MmStatsError(.corrupt, path: path, entry: "v1 field \(samples.count) (offset \(cursor))", reason)
        }
        // One signature per type, shared by every field of that type.
        var signatures: [ComponentType: Signature] = [:]
        while cursor + 2 <= bytes.count {
            let labelLength = u16(cursor)
            if labelLength == 0 { break }
            guard samples.count < limits.maximumV1Fields else {
                throw MmStatsError(
                    .overLimit, path: path, entry: "v1 field \(samples.count) (offset \(cursor))",
                    "the file has more than \(limits.maximumV1Fields) fields (ReaderLimits.maximumV1Fields)")
            }
            guard cursor + 2 + labelLength + 2 <= bytes.count else { throw fail("label runs past the end of the file") }
            let labelBytes = bytes[(cursor + 2)..<(cursor + 2 + labelLength)]
            guard let label = String(validating: labelBytes, as: UTF8.self) else { throw fail("label is not UTF-8") }
            var at = cursor + 2 + labelLength
            let typeLength = u16(at)
            guard typeLength > 0, at + 2 + typeLength + 1 <= bytes.count else {
                throw fail("type of '\(label)' runs past the end of the file")
            }
            guard let typeText = String(validating: bytes[(at + 2)..<(at + 2 + typeLength)], as: UTF8.self) else {
                throw fail("type of '\(label)' is not UTF-8")
            }
            at += 2 + typeLength
            let (component, size) = try v1Type(typeText, label: label, fail: fail)
            let bufferByte = bytes[at]
            at += 1
            let copies = bufferByte == 0xFF ? 1 : 2
            guard bufferByte == 0xFF || bufferByte <= 1 else {
                throw fail("bad write-buffer byte \(bufferByte) in '\(label)'")
            }
            guard at + copies * size <= bytes.count else {
                throw fail("value of '\(label)' runs past the end of the file")
            }
            let valueStart = copies == 1 ? at : at + Int(bufferByte ^ 1) * size
            let value = decode(component, Array(bytes[valueStart..<(valueStart + size)]))
            // The first integer field whose label ends in `sys.pid` names the writer.
            if !foundPID, label.hasSuffix("sys.pid"), component.isInteger, let number = value.intValue {
                pid = Int32(truncatingIfNeeded: number)
                foundPID = true
            }
            let signature = signatures[component] ?? Signature([component])
            signatures[component] = signature
            let descriptor = MetricDescriptor(
                name: label, dimensions: [], kind: "v1", unit: "", help: "", signature: signature,
                fieldNames: ["value"], layout: .v1, flags: 0, valueOffset: valueStart, altOffset: 0,
                metricID: samples.count)
            samples.append(MetricSample(descriptor: descriptor, fields: [(name: "value", value: value)], error: nil))
            cursor = at + copies * size
        }
        let identity = WriterIdentity(
            pid: pid, tid: 0, startTime: 0, application: "", model: "", created: 0, lastUpdate: 0, closed: false)
        return Snapshot(path: path, version: 1, writer: identity, samples: samples)
    }

    private static func v1Type(
        _ text: String, label: String, fail: (String) -> MmStatsError
    ) throws(MmStatsError) -> (ComponentType, Int) {
        if let known = v1Types[text] { return known }
        if text == "s" { return (.string(capacity: 1), 1) }  // struct's "s" is "1s"
        if text.hasSuffix("s"), text.utf8.dropLast().allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let count = Int(text.dropLast()), count > 0, count <= 65_535
        {
            return (.string(capacity: count), count)
        }
        throw fail("unknown v1 type '\(text)' for '\(label)'")
    }

    private static let v1Types: [String: (ComponentType, Int)] = [
        "Q": (.uint64, 8), "q": (.int64, 8), "I": (.uint32, 4), "i": (.int32, 4), "H": (.uint16, 2),
        "h": (.int16, 2), "B": (.uint8, 1), "b": (.int8, 1), "?": (.bool, 1), "f": (.float32, 4),
        "d": (.float64, 8),
        "L": (.uint64, 8), "l": (.int64, 8),
    ]

    private static func decode(_ type: ComponentType, _ bytes: [UInt8]) -> Value {
        var word: UInt64 = 0
        for (i, byte) in bytes.prefix(8).enumerated() { word |= UInt64(byte) << (8 * UInt64(i)) }
        switch type {
        case .int32: word = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: word)))
        case .int16: word = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: word)))
        case .int8: word = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: word)))
        case .string(let capacity):
            let end = bytes.firstIndex(of: 0) ?? min(capacity, bytes.count)
            return .string(String(decoding: bytes[..<end], as: UTF8.self))
        default: break
        }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 1) { buffer in
            buffer[0] = word
            return Value.decode(type, words: UnsafeBufferPointer(buffer))
        }
    }
}
