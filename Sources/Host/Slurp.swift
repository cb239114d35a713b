import MmStatsCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats slurp [--json] [PATH ...]`: every metric of the given files or directories.
enum Slurp {
    static let usage = """
        usage: mmstats slurp [--json] [PATH ...]
          Prints every metric of the given stats files, or of every *.mmstats file under the
          given directories (default: the stats root, \(StatsDirectory.defaultRoot())).
          --json   one JSON array, an object per file (docs/SLURP-JSON.md)
        """

    static func run(_ arguments: [String]) -> Int32 {
        var json = false
        var paths: [String] = []
        for argument in arguments {
            switch argument {
            case "--json": json = true
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
        if paths.isEmpty { paths = [StatsDirectory.defaultRoot()] }
        var failed = false
        var snapshots: [Snapshot] = []
        for file in StatsFiles.expand(
            paths,
            onError: {
                printError($0.description); failed = true
            })
        {
            do throws(MmStatsError) {
                snapshots.append(try StatsReader(path: file).snapshot())
            } catch {
                printError(error.description)
                failed = true
            }
        }
        if json {
            var output = ""
            JSON.array(snapshots.map(fileJSON)).render(into: &output)
            print(output)
        } else {
            print(text(snapshots), terminator: "")
        }
        return failed ? 1 : 0
    }

    static func fileJSON(_ snapshot: Snapshot) -> JSON {
        let writer = snapshot.writer
        let writerJSON: JSON
        if snapshot.version == 1 {
            writerJSON = .object([("pid", .int(Int64(writer.pid))), ("state", .string(writer.state.rawValue))])
        } else {
            writerJSON = .object([
                ("pid", .int(Int64(writer.pid))), ("tid", .int(writer.tid)), ("start_time", .uint(writer.startTime)),
                ("application", .string(writer.application)), ("model", .string(writer.model)),
                ("created_ns", .uint(writer.created)), ("last_update_ns", .uint(writer.lastUpdate)),
                ("state", .string(writer.state.rawValue)),
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
            }
            return .object(members)
        }
        return .object([
            ("path", .string(snapshot.path)), ("version", .int(Int64(snapshot.version))),
            ("generation", .uint(snapshot.generation)), ("writer", writerJSON), ("metrics", .array(metrics)),
        ])
    }

    /// Aligned text, one block per file, like the old `slurpstats`.
    static func text(_ snapshots: [Snapshot]) -> String {
        var output = ""
        for snapshot in snapshots {
            let w = snapshot.writer
            output += "==> \(snapshot.path.terminalSafe) (v\(snapshot.version), pid \(w.pid)"
            if snapshot.version == 2 {
                output += ", tid \(w.tid), \(w.application.terminalSafe)/\(w.model.terminalSafe)"
            }
            output += ", \(w.state.rawValue)) <==\n"
            let rows = snapshot.metrics.map { sample -> (String, String) in
                let value: String
                if let error = sample.error {
                    value = "error: \(error)"
                } else if let single = sample.value {
                    value = single.description
                } else {
                    value = sample.fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
                }
                return (sample.descriptor.displayName.terminalSafe, value.terminalSafe)
            }
            let width = rows.map(\.0.count).max() ?? 0
            for (name, value) in rows {
                output += name + String(repeating: " ", count: width - name.count + 2) + value + "\n"
            }
        }
        return output
    }
}

/// Finding stats files under paths.
enum StatsFiles {
    /// Files as given, directories expanded recursively to their `*.mmstats` files sorted by path.
    static func expand(_ paths: [String], onError: (MmStatsError) -> Void) -> [String] {
        var files: [String] = []
        for path in paths {
            var info = stat()
            guard lstat(path, &info) == 0 else {
                onError(MmStatsError(.system, path: path, "cannot open: \(String(cString: strerror(errno)))"))
                continue
            }
            if info.st_mode & S_IFMT == S_IFDIR {
                var found: [String] = []
                walk(path, into: &found, onError: onError)
                files += found.sorted()
            } else {
                files.append(path)
            }
        }
        return files
    }

    private static func walk(_ directory: String, into files: inout [String], onError: (MmStatsError) -> Void) {
        guard let handle = opendir(directory) else {
            onError(MmStatsError(.system, path: directory, "cannot list: \(String(cString: strerror(errno)))"))
            return
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }  // ., .., and files still being created
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }  // vanished meanwhile
            switch info.st_mode & S_IFMT {
            case S_IFDIR: walk(path, into: &files, onError: onError)
            case S_IFREG where name.hasSuffix(".mmstats"): files.append(path)
            default: break  // symbolic links and others are not followed
            }
        }
    }
}

func printError(_ message: String) {
    var line = message
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.withCString { write(2, $0, strlen($0)) }
}
