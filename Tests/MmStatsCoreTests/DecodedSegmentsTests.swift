import Foundation
import MmStatsTestSupport
import Testing

@testable import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// Descriptors decoded from a metadata segment are shared by every file whose segment holds the
// same bytes (`DecodedSegments`): files of one program decode their metadata once. Only
// identical bytes may share them, and everything that depends on the file is still checked
// for each file.

/// Writes `bytes` to the file at `path` in place (same inode, created if needed) at exactly that size.
private func writeFile(_ bytes: [UInt8], to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw MmStatsError(.system, path: path, "open: errno \(errno)") }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    guard written == bytes.count, ftruncate(fd, off_t(bytes.count)) == 0 else {
        throw MmStatsError(.system, path: path, "write: errno \(errno)")
    }
}

/// Display names and values of every metric.
private func contents(_ snapshot: Snapshot) -> [String] {
    snapshot.metrics.map { "\($0.descriptor.displayName)=\($0.fields.map(\.value))" }
}

private func expected(_ image: HostileImage) -> [String] {
    image.expected.map { "\($0.name)=\($0.values)" }
}

@Suite("Decoded segments shared between files")
struct DecodedSegmentsTests {
    @Test("two files with the same metadata share its descriptors and read their own values")
    func sameMetadataShares() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        var other = image
        // Another value in the same metadata: the first record of the file (a counter's word).
        let requests = try #require(image.entries.first)
        let valueOffset = Int(image.u64(requests + 8))
        other.set64(valueOffset, 4242)
        try writeFile(image.bytes, to: directory.path + "/a.mmstats")
        try writeFile(other.bytes, to: directory.path + "/b.mmstats")
        // Another test may fill the process-wide cache (which then starts over) between the two
        // reads; a few tries make that coincidence harmless.
        var shared = false
        for _ in 0..<10 where !shared {
            let first = try StatsReader(path: directory.path + "/a.mmstats").snapshot()
            let second = try StatsReader(path: directory.path + "/b.mmstats").snapshot()
            #expect(contents(first) == expected(image))
            var values = expected(image)
            values[0] = "requests{code=200,verb=GET}=\([Value.uint(4242)])"
            #expect(contents(second) == values)
            shared = zip(first.metrics, second.metrics).allSatisfy { $0.descriptor.shares($1.descriptor) }
        }
        #expect(shared, "the second file's descriptors are the first one's")
    }

    @Test("metadata that differs by one byte is decoded on its own")
    func oneByteDifferent() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        var renamed = image
        let entry = try #require(image.entries.first)
        let name = image.string(1, of: entry)
        renamed.bytes[name.offset] = UInt8(ascii: "R")  // "requests" → "Requests"
        try writeFile(image.bytes, to: directory.path + "/a.mmstats")
        try writeFile(renamed.bytes, to: directory.path + "/b.mmstats")
        let first = try StatsReader(path: directory.path + "/a.mmstats").snapshot()
        let second = try StatsReader(path: directory.path + "/b.mmstats").snapshot()
        #expect(first.metrics[0].descriptor.name == "requests")
        #expect(second.metrics[0].descriptor.name == "Requests")
        #expect(!first.metrics[0].descriptor.shares(second.metrics[0].descriptor))
        #expect(Array(contents(second).dropFirst()) == Array(expected(image).dropFirst()))
    }

    @Test("metadata a hostile writer damaged after it was decoded is rejected")
    func changedAfterCaching() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        let path = directory.path + "/a.mmstats"
        try writeFile(image.bytes, to: path)
        #expect(contents(try StatsReader(path: path).snapshot()) == expected(image))
        // The same file, rewritten in place: the second descriptor's entry size no longer a multiple of 8.
        var damaged = image
        damaged.set32(image.entries[1], 52)
        try writeFile(damaged.bytes, to: path)
        let error = #expect(throws: MmStatsError.self) { try StatsReader(path: path).snapshot() }
        #expect(error?.code == .corrupt)
        #expect(error?.description.contains("entry size 52") == true, "\(String(describing: error))")
    }

    @Test("the same metadata in a file too small for its records is rejected")
    func sameMetadataSmallerFile() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        try writeFile(image.bytes, to: directory.path + "/a.mmstats")
        #expect(contents(try StatsReader(path: directory.path + "/a.mmstats").snapshot()) == expected(image))
        // Same metadata bytes, but the records that follow them are cut off.
        let metadataEnd = image.firstSegment + 32 + image.used
        let cut = Array(image.bytes.prefix(metadataEnd))
        let offsets = image.entries.map { Int(image.u64($0 + 8)) }
        #expect(offsets.contains { $0 >= metadataEnd }, "the fixture has records past its metadata")
        try writeFile(cut, to: directory.path + "/b.mmstats")
        let error = #expect(throws: MmStatsError.self) {
            try StatsReader(path: directory.path + "/b.mmstats").snapshot()
        }
        #expect(error?.code == .corrupt || error?.code == .truncated, "\(String(describing: error))")
    }

    @Test("shared descriptors still count against a smaller component budget")
    func componentBudget() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        let path = directory.path + "/a.mmstats"
        try writeFile(image.bytes, to: path)
        _ = try StatsReader(path: path).snapshot()
        var limits = ReaderLimits()
        limits.maximumComponents = 2
        let error = #expect(throws: MmStatsError.self) { try StatsReader(path: path, limits: limits).snapshot() }
        #expect(error?.code == .overLimit)
    }

    @Test("a table built for one file serves the next files with that metadata only where it holds for them")
    func tablePlan() throws {
        let directory = TemporaryDirectory("segments")
        let image = try HostileFixture.word(directory)
        let segment = Array(image.bytes[(image.firstSegment + 32)..<(image.firstSegment + 32 + image.used)])
        let requests = Int(image.u64(try #require(image.entries.first) + 8))
        /// The image with `requests` = `value`, written to `name` and read.
        func read(_ name: String, _ value: UInt64, limits: ReaderLimits = ReaderLimits()) throws -> [String] {
            var copy = image
            copy.set64(requests, value)
            try writeFile(copy.bytes, to: directory.path + "/" + name)
            return contents(try StatsReader(path: directory.path + "/" + name, limits: limits).snapshot())
        }
        func expecting(_ value: UInt64) -> [String] {
            var values = expected(image)
            values[0] = "requests{code=200,verb=GET}=\([Value.uint(value)])"
            return values
        }
        // The first file decodes the segment, the second builds the plan (another test may
        // empty the process-wide cache meanwhile: a few tries).
        var planned = false
        for attempt in 0..<10 where !planned {
            #expect(try read("a\(attempt).mmstats", 1) == expecting(1))
            #expect(try read("b\(attempt).mmstats", 2) == expecting(2))
            planned = DecodedSegments.shared.entry(bytes: segment, swapped: false)?.plan.current != nil
        }
        #expect(planned)
        // Files read through the plan still read their own values...
        #expect(try read("c.mmstats", 4242) == expecting(4242))
        // ... but a file too small for the records, or a reader with smaller budgets, is refused
        // as if the metadata were parsed afresh.
        let metadataEnd = image.firstSegment + 32 + image.used
        try writeFile(Array(image.bytes.prefix(metadataEnd)), to: directory.path + "/cut.mmstats")
        let cut = #expect(throws: MmStatsError.self) {
            try StatsReader(path: directory.path + "/cut.mmstats").snapshot()
        }
        #expect(cut?.code == .corrupt || cut?.code == .truncated, "\(String(describing: cut))")
        var values = ReaderLimits()
        values.maximumValueBytes = 16
        let overValues = #expect(throws: MmStatsError.self) { try read("d.mmstats", 5, limits: values) }
        #expect(overValues?.code == .overLimit, "\(String(describing: overValues))")
        var metadata = ReaderLimits()
        metadata.maximumMetadataBytes = 64
        let overMetadata = #expect(throws: MmStatsError.self) { try read("e.mmstats", 6, limits: metadata) }
        #expect(overMetadata?.code == .overLimit, "\(String(describing: overMetadata))")
    }

    @Test("the cache compares bytes and byte order, not only hashes")
    func cacheCompares() {
        let cache = DecodedSegments()
        let bytes: [UInt8] = Array(0..<64)
        let descriptor = MetricDescriptor(
            name: "x", dimensions: [], kind: "counter", unit: "", help: "", signature: Signature([.uint64]),
            fieldNames: ["value"], layout: .word, flags: 0, valueOffset: 4096, altOffset: 0, metricID: 0)
        cache.insert(.init(bytes: bytes, swapped: false, descriptors: [(descriptor, nil)], components: 1))
        #expect(cache.entry(bytes: bytes, swapped: false)?.descriptors.first?.0.shares(descriptor) == true)
        #expect(cache.entry(bytes: bytes, swapped: true) == nil)
        var changed = bytes
        changed[63] ^= 1
        #expect(cache.entry(bytes: changed, swapped: false) == nil)
        #expect(cache.entry(bytes: Array(bytes.dropLast(8)), swapped: false) == nil)
    }
}
