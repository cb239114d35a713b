import ExternalPlugins
import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats slurp [--json] [PATH ...]`: every metric of the given files or directories.
enum Slurp {
    static let usage = """
        usage: mmstats slurp [--json] [--now NS] [--plugin PATH ...] [PATH ...]
          Prints every metric of the given stats files, or of every *.mmstats file under the
          given directories (default: the stats root, \(StatsDirectory.defaultRoot())).
          Directories are searched at most \(StatsFiles.maximumDepth) levels deep; names that start with '.' and
          symbolic links in them are skipped. A file reached under several paths (hard links) is
          printed once, under the first. Exit status 1 if anything could not be read or searched.
          --json     one JSON array, an object per file (docs/SLURP-JSON.md)
          --now NS   compute time windows for this CLOCK_MONOTONIC time in nanoseconds
                     (default: now), to compare readers or replay a moment
          --plugin PATH  load a plugin's shared object first (repeatable; docs/PLUGINS.md):
                     its kinds' exposed fields appear in the output
        """

    static func run(_ arguments: [String]) -> Int32 {
        var json = false
        var paths: [String] = []
        var now: UInt64? = nil
        var plugins: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "--json": json = true
            case "--now":
                guard index < arguments.count, let value = UInt64(arguments[index]) else {
                    printError("mmstats slurp: --now takes nanoseconds of CLOCK_MONOTONIC\n\(usage)")
                    return 2
                }
                now = value
                index += 1
            case "--plugin":
                guard index < arguments.count else {
                    printError("mmstats slurp: --plugin takes the path of a shared object\n\(usage)")
                    return 2
                }
                plugins.append(arguments[index])
                index += 1
            case "-h", "--help":
                print(usage)
                return 0
            default:
                if argument.hasPrefix("-") {
                    printError("mmstats slurp: unknown option '\(argument.terminalSafe)'\n\(usage)")
                    return 2
                }
                paths.append(argument)
            }
        }
        do throws(MmStatsError) {
            try ExternalPlugin.loadPlugins(plugins)
        } catch {
            printError(error.description)
            return 1
        }
        if paths.isEmpty { paths = [StatsDirectory.defaultRoot()] }
        var failed = false
        // Each file is read once: no reader is kept (`maximumReaders: 0`).
        let scanner = StatsScanner(paths: paths, maximumReaders: 0)
        let files = scanner.files {
            printError($0.description)
            failed = true
        }
        // One file at a time: its snapshot is printed and dropped before the next is read.
        // The JSON array is written piece by piece, exactly as `JSON.array(…).render` would.
        var printed = 0
        let states = WriterStates()
        // One buffer of UTF-8 bytes, reused for every file's JSON.
        var output: [UInt8] = []
        // A file removed since the directory was listed (its writer closed) is left out, not an
        // error. New files are opened on several threads; each is printed in its turn.
        scanner.forEachSnapshot(
            of: files,
            onError: {
                printError($0.description)
                failed = true
            }
        ) { snapshot in
            if json {
                output.removeAll(keepingCapacity: true)
                output.append(contentsOf: (printed == 0 ? "[\n  " : ",\n  ").utf8)
                fileJSON(snapshot, now: now, states: states).render(indent: 1, into: &output)
                print(String(decoding: output, as: UTF8.self), terminator: "")
            } else {
                print(text(snapshot, now: now, states: states), terminator: "")
            }
            printed += 1
        }
        if json { print(printed == 0 ? "[]" : "\n]") }
        return failed ? 1 : 0
    }

    /// The kind a metric's exposed fields come from, when this reader knows it.
    static func knownKind(_ sample: MetricSample) -> (any MetricKind)? {
        sample.error == nil && sample.descriptor.layout != .v1
            ? PluginRegistry.shared.kind(named: sample.descriptor.kind) : nil
    }

    /// Writers' states looked up once per run: files of one process share its `/proc` lookup.
    final class WriterStates {
        private struct Key: Hashable {
            let pid: Int32
            let startTime: UInt64
            let closed: Bool
            let pidNamespace: UInt64
        }
        private var states: [Key: WriterState] = [:]

        func state(of writer: WriterIdentity) -> WriterState {
            let key = Key(
                pid: writer.pid, startTime: writer.startTime, closed: writer.closed, pidNamespace: writer.pidNamespace)
            if let state = states[key] { return state }
            let state = writer.state
            if states.count < 65_536 { states[key] = state }
            return state
        }
    }

    static func fileJSON(_ snapshot: Snapshot, now: UInt64? = nil, states: WriterStates = WriterStates()) -> JSON {
        let time = now ?? StatsClock.system.now()
        let writer = snapshot.writer
        let writerJSON: JSON
        if snapshot.version == 1 {
            writerJSON = .object([
                ("pid", .int(Int64(writer.pid))), ("state", .string(states.state(of: writer).rawValue)),
            ])
        } else {
            writerJSON = .object([
                ("pid", .int(Int64(writer.pid))), ("tid", .int(writer.tid)), ("start_time", .uint(writer.startTime)),
                ("application", .string(writer.application)), ("model", .string(writer.model)),
                ("created_ns", .uint(writer.created)), ("last_update_ns", .uint(writer.lastUpdate)),
                ("state", .string(states.state(of: writer).rawValue)),
            ])
        }
        let metrics: [JSON] = snapshot.metrics.map { sample in
            let d = sample.descriptor
            var members: [(String, JSON)] = [
                ("name", .string(d.name)),
                ("dimensions", .object(d.dimensions.map { ($0.key, .string($0.value)) })),
                ("kind", .string(d.kind)), ("unit", .string(d.unit)), ("description", .string(d.help)),
                ("layout", .string(d.layout.description)),
            ]
            if let error = sample.error {
                members.append(("error", .string(error)))
            } else {
                members.append(("fields", .object(sample.fields.map { ($0.name, JSON($0.value)) })))
                if let value = sample.value { members.append(("value", JSON(value))) }
                if knownKind(sample) != nil {
                    let exposed = sample.exposedFields(in: .shared, now: time)
                    members.append(("exposed", .object(exposed.map { ($0.name, JSON($0.value)) })))
                }
            }
            return .object(members)
        }
        return .object([
            ("path", .string(snapshot.path)), ("version", .int(Int64(snapshot.version))),
            ("generation", .uint(snapshot.generation)), ("writer", writerJSON), ("metrics", .array(metrics)),
        ])
    }

    /// Aligned text, one block per file, like the old `slurpstats`.
    static func text(_ snapshot: Snapshot, now: UInt64? = nil, states: WriterStates = WriterStates()) -> String {
        let time = now ?? StatsClock.system.now()
        var output = ""
        let w = snapshot.writer
        output += "==> \(snapshot.path.terminalSafe) (v\(snapshot.version), pid \(w.pid)"
        if snapshot.version == 2 {
            output += ", tid \(w.tid), \(w.application.terminalSafe)/\(w.model.terminalSafe)"
        }
        output += ", \(states.state(of: w).rawValue)) <==\n"
        let rows = snapshot.metrics.map { sample -> (String, String) in
            let value: String
            if let error = sample.error {
                value = "error: \(error)"
            } else {
                // What the kind exposes (a histogram's percentiles, not its buckets).
                let fields = knownKind(sample) != nil ? sample.exposedFields(in: .shared, now: time) : sample.fields
                value =
                    fields.count == 1
                    ? fields[0].value.description : fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            }
            return (sample.descriptor.displayName.terminalSafe, value.terminalSafe)
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows {
            output += name + String(repeating: " ", count: width - name.count + 2) + value + "\n"
        }
        return output
    }
}

/// Writes a line to stderr, after what is already on stdout, so that the two read in order.
func printError(_ message: String) {
    fflush(nil)  // every output stream: stdout is a global Swift 6 will not touch
    var line = message
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.withCString { write(2, $0, strlen($0)) }
}
