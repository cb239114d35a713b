// libFuzzer target for `StatsReader`: every input is a stats file. Built and run by
// Tools/fuzz/run.sh (swiftc -sanitize=fuzzer); see docs/RELIABILITY.md.
//
// Each input is written to one temporary file (rewritten in place every run), opened with
// `StatsReader(path:)`, and read the way a client reads it: two snapshots (the second through
// the cached metadata), every sample, every field, `value(at:component:)`, `exposedFields()`,
// lookups by name, the descriptors' display names and the writer identity. Thrown errors are
// the expected outcome for most inputs; a crash, trap, leak, OOM or timeout is a finding, and
// so is a broken invariant below (checked with `check`, which traps).
//
// An input that contains `#MMSTATS-CHANGE#` is two files: the reader takes its first snapshot
// of the part before, then the file is rewritten in place to the part after (grown, shrunk,
// republished, replaced by another writer's file) and the reader snapshots it again, through
// its cached metadata, its generation check, its SIGBUS guard and its remapping.
//
// A v2 input whose header `file size` (offset 32) exceeds the input is extended to that size
// with a hole (ftruncate), up to MMSTATS_FUZZ_SPARSE_LIMIT bytes (default 64 MiB, a writer's
// default maximum size): real files are sparse, and this lets small inputs describe records far
// into a file, as writers' files do.

import Glibc
import MmStatsCore

// MARK: - The scratch file

/// The one file every run rewrites, in a private directory (mkdtemp) under $TMPDIR or /tmp.
struct ScratchFile {
    let directory: String
    let path: String
    let fd: Int32
    let sparseLimit: Int

    static func make() -> ScratchFile {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/mmstats-fuzz.XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let start = buffer.baseAddress, let made = mkdtemp(start) else { return nil }
            return String(cString: made)
        }
        guard let directory else { fatal("mkdtemp under \(base) failed (errno \(errno))") }
        let path = "\(directory)/input.mmstats"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 { fatal("cannot create \(path) (errno \(errno))") }
        var limit = 64 << 20
        if let text = getenv("MMSTATS_FUZZ_SPARSE_LIMIT"), let value = Int(String(cString: text)), value >= 0 {
            limit = value
        }
        return ScratchFile(directory: directory, path: path, fd: fd, sparseLimit: limit)
    }

    /// Makes the file hold exactly `input` (then the hole the header asks for, if any).
    func write(_ input: UnsafeRawBufferPointer) {
        var written = 0
        while written < input.count {
            let result = pwrite(fd, input.baseAddress.map { $0 + written }, input.count - written, off_t(written))
            if result < 0 && errno == EINTR { continue }
            if result <= 0 { fatal("pwrite to \(path) failed (errno \(errno))") }
            written += result
        }
        var size = input.count
        if let claimed = Self.claimedSize(input), claimed > size, claimed <= sparseLimit { size = claimed }
        // Drops whatever a longer previous input left, then adds the hole.
        if ftruncate(fd, off_t(input.count)) != 0 || ftruncate(fd, off_t(size)) != 0 {
            fatal("ftruncate of \(path) failed (errno \(errno))")
        }
    }

    /// The header's `file size` of a v2 input, in the byte order its byte order mark names.
    static func claimedSize(_ input: UnsafeRawBufferPointer) -> Int? {
        guard input.count >= 40, input[0] == 2 else { return nil }
        var value: UInt64 = 0
        let bigEndian = input[8] == 0x0A && input[9] == 0x0B && input[10] == 0x0C && input[11] == 0x0D
        for i in 0..<8 {
            let byte = UInt64(input[bigEndian ? 32 + i : 39 - i])
            value = value << 8 | byte
        }
        return value > UInt64(Int.max) ? nil : Int(value)
    }

    func remove() {
        close(fd)
        unlink(path)
        rmdir(directory)
    }
}

func fatal(_ message: String) -> Never {
    let line = Array("fuzz-reader: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    abort()
}

/// A broken reader invariant: trap, so that libFuzzer saves the input.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatal("invariant broken: \(message())") }
}

// MARK: - Plugin layouts

/// A well-behaved plugin layout (id 4): a header word, then the record; read word by word.
struct HeaderedLayout: StorageLayout {
    var id: LayoutID { LayoutID(rawValue: 14) }
    var name: String { "fuzz-headered" }
    func storageBytes(recordWords: Int) -> Int { (recordWords + 1) * 8 }
    func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        try region.words(at: descriptor.valueOffset + 8, count: descriptor.signature.words)
    }
}

/// A plugin layout that returns one word too few (id 5): the reader must report it, not trust it.
struct ShortLayout: StorageLayout {
    var id: LayoutID { LayoutID(rawValue: 15) }
    var name: String { "fuzz-short" }
    func storageBytes(recordWords: Int) -> Int { recordWords * 8 }
    func read(_ descriptor: MetricDescriptor, from region: RegionReader) throws(MmStatsError) -> [UInt64] {
        let _ = try region.loadAcquiring(at: descriptor.valueOffset)
        return try region.words(at: descriptor.valueOffset, count: max(0, descriptor.signature.words - 1))
    }
}

/// A kind whose exposed fields are computed from its components (like the Metrics module's).
struct RatioKind: MetricKind {
    var name: String { "ratio" }
    var signature: Signature { Signature([.uint64, .uint64]) }
    var fieldNames: [String] { ["part", "whole"] }
    var defaultLayout: LayoutID { .doubleBuffer }
    func exposedFields(_ components: [(name: String, value: Value)]) -> [(name: String, value: Value)] {
        let part = components.first { $0.name == "part" }?.value.doubleValue ?? 0
        let whole = components.first { $0.name == "whole" }?.value.doubleValue ?? 0
        return components + [(name: "ratio", value: .double(whole == 0 ? 0 : part / whole))]
    }
}

// MARK: - Reading like a client

/// Everything a snapshot says, folded into one hash (values by bit pattern, so NaN equals NaN).
func digest(_ snapshot: Snapshot) -> Int {
    var hasher = Hasher()
    hasher.combine(snapshot.version)
    hasher.combine(snapshot.generation)
    hasher.combine(snapshot.count)
    for index in 0..<snapshot.count {
        let sample = snapshot.sample(at: index)
        hasher.combine(sample.descriptor)
        hasher.combine(sample.descriptor.signature)
        hasher.combine(sample.descriptor.fieldNames)
        hasher.combine(sample.error)
        for field in sample.fields {
            hasher.combine(field.name)
            combine(field.value, into: &hasher)
        }
    }
    return hasher.finalize()
}

func combine(_ value: Value, into hasher: inout Hasher) {
    switch value {
    case .double(let v): hasher.combine(v.bitPattern)
    default: hasher.combine(value)
    }
}

func same(_ a: Value?, _ b: Value?) -> Bool {
    switch (a, b) {
    case (.double(let x)?, .double(let y)?): x.bitPattern == y.bitPattern
    default: a == b
    }
}

nonisolated(unsafe) var sink = 0

/// Reads every part of the snapshot through the public API and checks that its views agree.
func exercise(_ snapshot: Snapshot) {
    sink &+= snapshot.path.utf8.count &+ snapshot.version &+ Int(truncatingIfNeeded: snapshot.generation)
    let writer = snapshot.writer
    sink &+= writer.application.utf8.count &+ writer.model.utf8.count &+ Int(writer.pid)
    sink &+= writer.state.rawValue.utf8.count
    let count = snapshot.count
    check(count >= 0, "negative count \(count)")
    var descriptors = Set<MetricDescriptor>()
    for index in 0..<count {
        let sample = snapshot.sample(at: index)
        let descriptor = sample.descriptor
        descriptors.insert(descriptor)
        sink &+= descriptor.displayName.utf8.count &+ descriptor.kind.utf8.count &+ descriptor.unit.utf8.count
        sink &+= descriptor.help.utf8.count &+ descriptor.signature.description.utf8.count
        sink &+= descriptor.layout.description.utf8.count &+ Int(descriptor.flags) &+ descriptor.metricID
        sink &+= descriptor.valueOffset &+ descriptor.altOffset
        let components = descriptor.signature.components
        if let error = sample.error {
            sink &+= error.utf8.count
            check(sample.fields.isEmpty, "metric \(index) has an error and \(sample.fields.count) fields")
        } else {
            check(
                sample.fields.count == components.count,
                "metric \(index): \(sample.fields.count) fields for \(components.count) components")
        }
        for (component, field) in sample.fields.enumerated() {
            sink &+= field.name.utf8.count &+ field.value.description.utf8.count
            sink &+= Int(truncatingIfNeeded: (field.value.doubleValue ?? 0).bitPattern)
            sink &+= Int(field.value.intValue ?? 0)
            let direct = snapshot.value(at: index, component: component)
            check(
                same(direct, field.value),
                "metric \(index) component \(component): value(at:component:) \(String(describing: direct))"
                    + " but the sample says \(field.value)")
            // field(_:) is a linear search: ask for the first few only, or wide records take O(n²).
            if component < 16 {
                let first = sample.fields.first { $0.name == field.name }?.value
                check(same(sample.field(field.name), first), "field(\(field.name)) is not the first of that name")
            }
        }
        check(snapshot.value(at: index, component: sample.fields.count) == nil, "a component past the last")
        if sample.fields.count == 1 {
            check(same(sample.value, sample.fields[0].value), "metric \(index): value differs from its only field")
        } else {
            check(sample.value == nil, "metric \(index): a value for \(sample.fields.count) fields")
        }
        for field in sample.exposedFields() {
            sink &+= field.name.utf8.count &+ field.value.description.utf8.count
        }
        // A lookup by name and dimensions finds a metric with that name and those dimensions
        // (a linear search too: the first few metrics only).
        let dimensions = Dictionary(descriptor.dimensions.map { ($0.key, $0.value) }) { first, _ in first }
        if index < 32, dimensions.count == descriptor.dimensions.count {
            let found = snapshot.metric(descriptor.name, dimensions: dimensions)
            check(
                found?.descriptor.matches(name: descriptor.name, dimensions: dimensions) == true,
                "metric(\(descriptor.displayName)) did not find it")
            sink &+= snapshot.value(descriptor.name, dimensions: dimensions)?.description.utf8.count ?? 0
        }
    }
    sink &+= descriptors.count
    check(snapshot.value(at: count) == nil, "value(at: count) is not nil")
    // Out-of-range requests answer nil, for v1 snapshots too (docs/RELIABILITY.md, finding 1).
    check(snapshot.value(at: -1) == nil && snapshot.value(at: 0, component: -1) == nil, "a negative index")
    check(snapshot.metrics.count == count, "metrics.count differs from count")
}

/// What the reader made of an input (MMSTATS_FUZZ_PRINT=1, to see what a finding or a seed is).
func show(_ result: Result<Snapshot, MmStatsError>) {
    switch result {
    case .failure(let error): print("  error: \(error)")
    case .success(let snapshot):
        print("  v\(snapshot.version), generation \(snapshot.generation), \(snapshot.count) metrics")
        for sample in snapshot.metrics {
            let fields = sample.exposedFields().map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            let descriptor = sample.descriptor
            print(
                sample.error == nil ? "  ok   " : "  error", descriptor.displayName,
                "[\(descriptor.kind) \(descriptor.signature) \(descriptor.layout)]", sample.error ?? fields)
        }
    }
}

/// Reads the file like a client. `change`, when given, rewrites the file between the first
/// snapshot and the next ones (as a writer, or anything else, may change it under a reader).
func read(_ path: String, verbose: Bool, change: (() -> Void)? = nil) {
    let reader: StatsReader
    do {
        reader = try StatsReader(path: path)
    } catch {
        if verbose { show(.failure(error)) }
        sink &+= error.description.utf8.count
        return
    }
    sink &+= reader.version
    let first = Result { () throws(MmStatsError) in try reader.snapshot() }
    if verbose { show(first) }
    if let change {
        if case .success(let snapshot) = first { exercise(snapshot) }
        change()
        // Any outcome but a crash is fine now; once it reads again, it reads the same twice.
        let second = Result { () throws(MmStatsError) in try reader.snapshot() }
        if verbose { show(second) }
        guard case .success(let changed) = second else {
            if let again = try? reader.snapshot() { exercise(again) }
            return
        }
        exercise(changed)
        guard case .success(let third) = Result(catching: { () throws(MmStatsError) in try reader.snapshot() }) else {
            fatal("a snapshot after the change succeeded, the next one of the unchanged file failed")
        }
        check(digest(changed) == digest(third), "two snapshots of the changed (then unchanged) file differ")
        return
    }
    guard case .success(let snapshot) = first else {
        if case .failure(let error) = first { sink &+= error.description.utf8.count }
        // The second attempt maps the file again and starts over; it must not crash either.
        if let again = try? reader.snapshot() { exercise(again) }
        return
    }
    exercise(snapshot)
    // The file has not changed: the cached metadata must give the same snapshot.
    let second: Snapshot
    do {
        second = try reader.snapshot()
    } catch {
        fatal("the first snapshot succeeded, the second (cached metadata) failed: \(error)")
    }
    exercise(second)
    check(digest(snapshot) == digest(second), "two snapshots of an unchanged file differ")
    do {
        let descriptors = try reader.descriptors
        check(descriptors == snapshot.metrics.map(\.descriptor), "descriptors differ from the snapshot's")
    } catch {
        fatal("descriptors failed after two snapshots succeeded: \(error)")
    }
}

// MARK: - libFuzzer entry point

nonisolated(unsafe) var scratch: ScratchFile?
nonisolated(unsafe) var verbose = false

func cleanUp() { scratch?.remove() }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if scratch == nil {
        scratch = ScratchFile.make()
        verbose = getenv("MMSTATS_FUZZ_PRINT").map { String(cString: $0) == "1" } ?? false
        atexit { cleanUp() }
        do {
            try PluginRegistry.shared.register(
                Plugin(
                    name: "fuzz", version: "1", kinds: [RatioKind()], layouts: [HeaderedLayout(), ShortLayout()]))
        } catch {
            fatal("cannot register the fuzz plugin: \(error)")
        }
    }
    guard let file = scratch else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    // FILE, or FILE1 + separator + FILE2: the file is rewritten to FILE2 under the reader.
    guard let separator = changeSeparator.withUnsafeBytes({ find($0, in: input) }) else {
        file.write(input)
        read(file.path, verbose: verbose)
        return 0
    }
    file.write(UnsafeRawBufferPointer(rebasing: input[..<separator]))
    read(file.path, verbose: verbose) {
        file.write(UnsafeRawBufferPointer(rebasing: input[(separator + changeSeparator.count)...]))
    }
    return 0
}

/// Splits an input into the file before and after a change under the reader.
let changeSeparator = Array("#MMSTATS-CHANGE#".utf8)

/// The offset of the first `needle` in `haystack`.
func find(_ needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Int? {
    guard let first = needle.first, haystack.count >= needle.count else { return nil }
    var start = 0
    while start <= haystack.count - needle.count {
        guard let at = haystack[start...(haystack.count - needle.count)].firstIndex(of: first) else { return nil }
        if haystack[at..<at + needle.count].elementsEqual(needle) { return at }
        start = at + 1
    }
    return nil
}
