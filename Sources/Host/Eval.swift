import Metrics
import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats eval --manifest FILE [--passes N] [--interval S] [--json] [PATH ...]`: runs a
/// manifest's passes over the stats files and prints every destination's value.
enum Eval {
    static let usage = """
        usage: mmstats eval --manifest FILE [--passes N] [--interval S] [--json] [PATH ...]
          Loads the manifest (JSON, docs/MANIFEST.md, or Traffic Server's stats.config.xml),
          then runs N passes (default 2, at most 1000000), each starting S seconds after the one
          before (0 to 86400; default: the manifest's interval), over the stats files under PATH
          (default: the manifest's sources.roots, else the stats root) and prints each pass's
          results: every destination's value, or "no value" (null with --json) when it has none
          (the first pass has no deltas or rates: they need two samples).
          --json   one JSON object per pass, one per line: {"pass", "elapsed_ns", "values"}
        """

    static func run(_ arguments: [String]) -> Int32 {
        var manifestPath: String?
        var passes = 2
        var interval: Double?
        var json = false
        var paths: [String] = []
        var index = 0
        func value(_ option: String) -> String? {
            guard index < arguments.count else {
                printError("mmstats eval: \(option) needs a value\n\(usage)")
                return nil
            }
            defer { index += 1 }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "--manifest":
                guard let path = value(argument) else { return 2 }
                manifestPath = path
            case "--passes":
                guard let text = value(argument) else { return 2 }
                guard let number = Int(text), number >= 1, number <= 1_000_000 else {
                    printError("mmstats eval: --passes takes a whole number from 1 to 1000000")
                    return 2
                }
                passes = number
            case "--interval":
                guard let text = value(argument) else { return 2 }
                guard let seconds = Double(text), seconds >= 0, seconds <= 86_400 else {
                    printError("mmstats eval: --interval takes seconds from 0 to 86400")
                    return 2
                }
                interval = seconds
            case "--json": json = true
            case "-h", "--help":
                print(usage)
                return 0
            default:
                if argument.hasPrefix("-") {
                    printError("mmstats eval: unknown option '\(argument.terminalSafe)'\n\(usage)")
                    return 2
                }
                paths.append(argument)
            }
        }
        guard let manifestPath else {
            printError("mmstats eval: --manifest FILE is required\n\(usage)")
            return 2
        }
        guard let manifest = ManifestLoading.load(manifestPath) else { return 1 }
        var engine: Engine
        do {
            engine = try Engine(entries: manifest.engineEntries())
        } catch {
            printError("mmstats: \(manifestPath.terminalSafe): \(error.description.terminalSafe)")
            return 1
        }
        if paths.isEmpty { paths = manifest.sources.roots }
        if paths.isEmpty { paths = [StatsDirectory.defaultRoot()] }
        let pause = interval ?? manifest.interval
        var failed = false
        let collector = SampleCollector(paths: paths, sources: manifest.sources)
        // Each pass starts S after the previous one started (not S after it ended), and its
        // time is its start, so that `elapsed_ns` is never less than S.
        var next: UInt64 = 0
        for pass in 1...passes {
            if pass > 1 { sleep(until: next) }
            let start = StatsClock.system.now()
            next = start + UInt64((pause * 1e9).rounded(.up))
            var inputs = collector.collect { message in
                printError(message)
                failed = true
            }
            inputs.time = start
            let result = engine.run(inputs)
            print(json ? passJSON(pass, result) : passText(pass, result), terminator: "")
        }
        return failed ? 1 : 0
    }

    /// Sleeps until `deadline` on CLOCK_MONOTONIC (`StatsClock.system`'s clock), never less.
    private static func sleep(until deadline: UInt64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
    }

    /// `destination` for the host, `destination{pid=P}` for a process, `destination{path=…}` for a file.
    static func key(_ result: EngineResult) -> String {
        switch result.instance {
        case .host: result.destination
        case .process(let pid, _): "\(result.destination){pid=\(pid)}"
        case .thread(let file): "\(result.destination){path=\(file.path)}"
        }
    }

    static func passJSON(_ pass: Int, _ result: EnginePass) -> String {
        let values: [(String, JSON)] = result.results.map { entry in
            let value: JSON =
                switch entry.value {
                case .int(let v)?: .int(v)
                case .double(let v)?: .double(v)
                case nil: .null
                }
            return (key(entry), value)
        }
        let object = JSON.object([
            ("pass", .int(Int64(pass))), ("elapsed_ns", result.elapsed.map { .uint($0) } ?? .null),
            ("values", .object(values)),
        ])
        var output = ""
        object.render(into: &output)
        // One object per line, so that a pass can be read as soon as it is printed.
        return output.split(separator: "\n").map { $0.drop { $0 == " " } }.joined(separator: " ") + "\n"
    }

    static func passText(_ pass: Int, _ result: EnginePass) -> String {
        var output = "-- pass \(pass)"
        if let elapsed = result.elapsed { output += ", \(Double(elapsed) / 1e9) s since the last" }
        output += "\n"
        let rows = result.results.map { (key($0).terminalSafe, $0.value.map { "\($0)" } ?? "no value") }
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows {
            output += name + String(repeating: " ", count: width - name.count + 2) + value + "\n"
        }
        return output
    }
}
