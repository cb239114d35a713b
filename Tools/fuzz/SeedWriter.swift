// Writes seed files for the fuzz corpus with the project's own writer (`StatsWriter`), one per
// file layout and feature. Built and run by Tools/fuzz/make-corpus.sh:
//
//     seed-writer OUTPUT_DIRECTORY
//
// Each file is written under a private stats root and copied to OUTPUT_DIRECTORY/writer-NAME.mmstats
// while its writer is open (so a live header), or after `close()` for the closed one; two are
// copied again later (later-NAME.mmstats) for inputs where the file changes under the reader.

import Glibc
import MmStatsCore

/// Two components updated together.
struct TimingKind: MetricKind {
    var name: String { "timing" }
    var signature: Signature { Signature([.uint64, .float64]) }
    var fieldNames: [String] { ["count", "sum"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// One component of every type, and a string.
struct EveryTypeKind: MetricKind {
    var name: String { "every-type" }
    var signature: Signature {
        Signature([
            .uint64, .int64, .uint32, .int32, .uint16, .int16, .uint8, .int8, .bool, .float64, .float32,
            .string(capacity: 12),
        ])
    }
    var fieldNames: [String] { ["Q", "q", "I", "i", "H", "h", "B", "b", "bool", "d", "f", "s"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

/// A text label in one word layout record.
struct LabelKind: MetricKind {
    var name: String { "label" }
    var signature: Signature { Signature([.string(capacity: 24)]) }
    var fieldNames: [String] { ["value"] }
    var defaultLayout: LayoutID { .word }
}

/// The harness's plugin kind: exposed fields are computed.
struct RatioKind: MetricKind {
    var name: String { "ratio" }
    var signature: Signature { Signature([.uint64, .uint64]) }
    var fieldNames: [String] { ["part", "whole"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

func fail(_ message: String) -> Never {
    let line = Array("seed-writer: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

func copyFile(_ from: String, _ to: String) {
    guard let input = fopen(from, "rb"), let output = fopen(to, "wb") else { fail("cannot copy \(from) to \(to)") }
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&buffer, 1, buffer.count, input)
        if count == 0 { break }
        if fwrite(buffer, 1, count, output) != count { fail("cannot write \(to)") }
    }
    fclose(input)
    fclose(output)
}

@main
enum SeedWriter {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count == 2 else { fail("usage: seed-writer OUTPUT_DIRECTORY") }
        let output = arguments[1]
        var template = Array("/tmp/mmstats-seeds.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let start = buffer.baseAddress, let root = mkdtemp(start) else { return nil }
            return String(cString: root)
        }
        guard let root = made else { fail("mkdtemp failed") }
        do throws(MmStatsError) {
            try writeWordFile(root: root, output: output)
            try writeEveryTypeFile(root: root, output: output)
            try writePageFlipFile(root: root, output: output)
            try writeSegmentsFile(root: root, output: output)
            try writeClosedFile(root: root, output: output)
        } catch {
            fail("\(error)")
        }
        _ = system("rm -rf '\(root)'")
    }

    static func options(_ root: String, _ model: String, layout: LayoutID = .word) -> WriterOptions {
        var options = WriterOptions(application: "fuzz-seeds", model: model)
        options.root = root
        options.layout = layout
        options.removeOnClose = false
        options.maximumSize = 1 << 20
        return options
    }

    /// Layout 1 scalars and a layout 2 record, with dimensions, units and descriptions.
    static func writeWordFile(root: String, output: String) throws(MmStatsError) {
        let stats = try StatsWriter(options(root, "WordStats"))
        let ok = try stats.counter("http.requests", dimensions: ["code": "200", "method": "GET"], help: "answered")
        let failed = try stats.counter("http.requests", dimensions: ["code": "500", "method": "GET"])
        let depth = try stats.gauge("queue.depth", unit: "jobs", help: "jobs waiting")
        let load = try stats.doubleGauge("cpu.load", unit: "ratio")
        let jobs = try stats.record("job.time", kind: TimingKind(), unit: "seconds", help: "jobs and their time")
        let label = try stats.record("build.label", kind: LabelKind(), initial: [.string("v2.0-fuzz")])
        let aligned = try stats.record("hot.pair", kind: RatioKind(), cacheLineAligned: true)
        ok.increment(by: 12_345)
        failed.increment()
        depth.set(-7)
        load.set(0.375)
        jobs.update { words in
            words[0] += 3
            words[double: 1] += 0.75
        }
        label.set([.string("release-1")])
        aligned.update { words in
            words[0] = 3
            words[1] = 4
        }
        copyFile(stats.path, "\(output)/writer-word.mmstats")
        // Later: more metrics (a new generation) and new values, for a file that changes under a reader.
        let missing = try stats.counter("http.requests", dimensions: ["code": "404", "method": "GET"])
        let queue = try stats.record("queue.time", kind: TimingKind(), unit: "seconds")
        missing.increment(by: 2)
        queue.update { words in
            words[0] = 1
            words[double: 1] = 0.25
        }
        ok.increment()
        copyFile(stats.path, "\(output)/later-word.mmstats")
        stats.close()
    }

    /// Every component type in one double-buffer record, with an odd latch sequence left behind.
    static func writeEveryTypeFile(root: String, output: String) throws(MmStatsError) {
        let stats = try StatsWriter(options(root, "TypeStats"))
        let every = try stats.record("every.type", kind: EveryTypeKind(), dimensions: ["shard": "ü-1"], unit: "mixed")
        let word = try stats.record("every.type.word", kind: EveryTypeKind(), layout: .word)
        let values: [Value] = [
            .uint(.max), .int(-2), .uint(4_000_000_000), .int(-40_000), .uint(65_535), .int(-300), .uint(255),
            .int(-128), .bool(true), .double(-0.0), .double(1.5), .string("naïve·text"),
        ]
        every.set(values)
        every.set(values)
        word.set(values)
        let ratio = try stats.record("cache.hits", kind: RatioKind(), initial: [.uint(9), .uint(10)])
        ratio.update { words in words[0] += 1 }
        copyFile(stats.path, "\(output)/writer-every-type.mmstats")
        stats.close()
    }

    /// A page-flip file published an odd number of times, with unpublished changes pending.
    static func writePageFlipFile(root: String, output: String) throws(MmStatsError) {
        let stats = try StatsWriter(options(root, "FlipStats", layout: .pageFlip))
        let requests = try stats.counter("flip.requests", dimensions: ["route": "/index"])
        let bytes = try stats.gauge("flip.bytes", unit: "bytes")
        let jobs = try stats.record("flip.jobs", kind: TimingKind())
        let label = try stats.record("flip.label", kind: LabelKind())
        for round in 1...3 {
            requests.increment(by: UInt64(round))
            bytes.set(Int64(512 * round))
            jobs.update { words in
                words[0] += 1
                words[double: 1] += 0.5
            }
            label.set([.string("round \(round)")])
            stats.publish()
        }
        requests.increment(by: 100)  // not published: readers still see round 3
        copyFile(stats.path, "\(output)/writer-page-flip.mmstats")
        stats.publish()
        copyFile(stats.path, "\(output)/later-page-flip.mmstats")
        stats.close()
    }

    /// Enough descriptors to fill the first metadata segment, so the file has two. Stops at the
    /// first descriptor of the second segment: the records of later metrics would come after the
    /// new segment's 16 KiB of room.
    static func writeSegmentsFile(root: String, output: String) throws(MmStatsError) {
        let stats = try StatsWriter(options(root, "SegmentStats"))
        var index = 0
        while nextSegment(of: stats.path) == 0 {
            let counter = try stats.counter(
                "segment.metric", dimensions: ["index": "\(index)", "group": "g\(index % 5)"], unit: "events",
                help: "metric \(index)")
            counter.increment(by: UInt64(index))
            index += 1
            if index > 1000 { fail("the first segment never filled") }
        }
        copyFile(stats.path, "\(output)/writer-segments.mmstats")
        stats.close()
    }

    /// The first segment's `next` word (the writer's first segment is at offset 256).
    static func nextSegment(of path: String) -> UInt64 {
        guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
        defer { fclose(file) }
        var word: UInt64 = 0
        guard fseek(file, 256 + 24, SEEK_SET) == 0, fread(&word, 8, 1, file) == 1 else { fail("cannot read \(path)") }
        return word
    }

    /// A file whose writer closed it (the closed flag set, page flip published at close).
    static func writeClosedFile(root: String, output: String) throws(MmStatsError) {
        let stats = try StatsWriter(options(root, "ClosedStats", layout: .pageFlip))
        let done = try stats.counter("closed.done")
        done.increment(by: 42)
        stats.close()
        copyFile(stats.path, "\(output)/writer-closed.mmstats")
    }
}
