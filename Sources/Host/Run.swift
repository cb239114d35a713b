import MmStatsCore
import Processor
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Signals `mmstats run` has received and not handled yet: bit 0 stop (SIGINT, SIGTERM),
/// bit 1 reload (SIGHUP). Set by the handler (an atomic OR is async-signal-safe).
let runSignals = Atomic<UInt32>(0)

/// `mmstats run [--manifest FILE] …`: evaluates a manifest (or the built-in default) every
/// interval and publishes the results in the host's own stats file.
/// A command's exit status, as an error that ends it early.
struct ExitStatus: Error {
    var code: Int32
}

enum Run {
    static let usage = """
        usage: mmstats run [--manifest FILE] [--root DIR] [--interval S] [--passes N] [--json]
          Evaluates the manifest (JSON, docs/MANIFEST.md, or Traffic Server's stats.config.xml)
          every interval over the stats files and publishes every destination in its own stats
          file, DIR/mmstats/processor/PID-TID.mmstats (kinds derived, derived-counter), which
          slurp, the Python reader and other processors read. Without --manifest: the built-in
          default (host:NAME:sum and host:NAME:rate of every counter, host:NAME:p50/p90/p99 of
          every histogram and timer). SIGHUP reloads the manifest (entries that did not change
          keep their history; a manifest with errors is reported and the running one kept);
          SIGINT and SIGTERM stop after the current pass and remove the results file.
          --root DIR     the stats root read (when the manifest names no roots) and written;
                         default $MMSTATS_PATH, else \(StatsDirectory.defaultRoot())
          --interval S   seconds between passes (default: the manifest's interval, 1)
          --passes N     stop after N passes (default: run until stopped)
          --json         print each pass's results, one JSON object per line (as eval does)
        """

    struct Options {
        var manifestPath: String?
        var root = StatsDirectory.defaultRoot()
        var interval: Double?
        var passes: Int?
        var json = false
    }

    static func parse(_ arguments: [String]) -> Result<Options, ExitStatus> {
        var options = Options()
        var index = 0
        func value(_ option: String) -> String? {
            guard index < arguments.count else {
                printError("mmstats run: \(option) needs a value\n\(usage)")
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
                guard let path = value(argument) else { return .failure(ExitStatus(code: 2)) }
                options.manifestPath = path
            case "--root":
                guard let path = value(argument), !path.isEmpty else { return .failure(ExitStatus(code: 2)) }
                options.root = path
            case "--interval":
                guard let text = value(argument), let seconds = Double(text), seconds > 0, seconds <= 86_400 else {
                    printError("mmstats run: --interval takes seconds, more than 0, at most 86400")
                    return .failure(ExitStatus(code: 2))
                }
                options.interval = seconds
            case "--passes":
                guard let text = value(argument), let number = Int(text), number >= 1 else {
                    printError("mmstats run: --passes takes a whole number from 1")
                    return .failure(ExitStatus(code: 2))
                }
                options.passes = number
            case "--json": options.json = true
            case "-h", "--help":
                print(usage)
                return .failure(ExitStatus(code: 0))
            default:
                printError("mmstats run: unknown argument '\(argument.terminalSafe)'\n\(usage)")
                return .failure(ExitStatus(code: 2))
            }
        }
        return .success(options)
    }

    /// A loaded manifest, or nil for the built-in default.
    static func load(_ path: String?) -> Result<Manifest?, ExitStatus> {
        guard let path else { return .success(nil) }
        guard let manifest = ManifestLoading.load(path) else { return .failure(ExitStatus(code: 1)) }
        return .success(manifest)
    }

    static func run(_ arguments: [String]) -> Int32 {
        let options: Options
        switch parse(arguments) {
        case .success(let parsed): options = parsed
        case .failure(let status): return status.code
        }
        var manifest: Manifest?
        switch load(options.manifestPath) {
        case .success(let loaded): manifest = loaded
        case .failure(let status): return status.code
        }
        var engine: Engine
        do {
            engine = try Engine(entries: manifest?.engineEntries() ?? [])
        } catch {
            printError("mmstats: \(options.manifestPath?.terminalSafe ?? "run"): \(error.description.terminalSafe)")
            return 1
        }
        var writerOptions = WriterOptions(application: "mmstats", model: "processor")
        writerOptions.root = options.root
        let results: ResultsWriter
        do {
            results = try ResultsWriter(writerOptions)
        } catch {
            printError(error.description.terminalSafe)
            return 1
        }
        defer { results.close() }
        installSignalHandlers()

        func makeCollector(for manifest: Manifest?) -> SampleCollector {
            let sources = manifest?.sources ?? Manifest.Sources()
            let collector = SampleCollector(
                paths: sources.roots.isEmpty ? [options.root] : sources.roots, sources: sources)
            collector.excluded = [results.path]
            return collector
        }
        var collector = makeCollector(for: manifest)
        var interval = options.interval ?? manifest?.interval ?? 1
        var defaultNames: (counters: [String], histograms: [String]) = ([], [])
        printError(
            "mmstats run: \(manifest.map { "\($0.entries.count) entries from \($0.file)" } ?? "the built-in default"); "
                + "results in \(results.path); every \(interval) s".terminalSafe)

        var reported: Set<String> = []
        var next = mmstats_now()
        var pass = 0
        while true {
            let signals = runSignals.exchange(0, ordering: .acquiringAndReleasing)
            if signals & 1 != 0 { break }
            if signals & 2 != 0, let path = options.manifestPath {
                switch load(path) {
                case .success(let reloaded?):
                    do {
                        engine = try engine.reloaded(with: reloaded.engineEntries())
                        manifest = reloaded
                        collector = makeCollector(for: reloaded)
                        interval = options.interval ?? reloaded.interval
                        printError("mmstats run: reloaded \(path.terminalSafe): \(reloaded.entries.count) entries")
                    } catch {
                        printError(
                            "mmstats: \(path.terminalSafe): \(error.description.terminalSafe); kept the running manifest"
                        )
                    }
                case .success(nil), .failure:
                    printError("mmstats run: \(path.terminalSafe) has errors (above); kept the running manifest")
                }
            }
            // Each distinct problem with a file is reported once while it lasts.
            var problems: Set<String> = []
            let inputs = collector.collect { message in
                if !reported.contains(message) { printError(message.terminalSafe) }
                problems.insert(message)
            }
            reported = problems
            if manifest == nil {
                let names = DefaultManifest.names(in: inputs)
                if names != defaultNames {
                    defaultNames = names
                    do {
                        engine = try engine.reloaded(
                            with: DefaultManifest.entries(counters: names.counters, histograms: names.histograms))
                    } catch {
                        printError("mmstats run: \(error.description.terminalSafe)")
                    }
                }
            }
            let result = engine.run(inputs)
            pass += 1
            do {
                try results.publish(result, entries: engine.entries)
            } catch {
                printError(error.description.terminalSafe)
            }
            if options.json { print(Eval.passJSON(pass, result), terminator: "") }
            fflush(nil)
            if let passes = options.passes, pass >= passes { break }
            next += UInt64(interval * 1e9)
            let now = mmstats_now()
            if next < now { next = now }  // a pass that took longer than the interval: no burst
            sleep(until: next)
        }
        return 0
    }

    /// Monotonic nanoseconds.
    static func mmstats_now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps until the monotonic time `deadline`, waking early for a signal.
    static func sleep(until deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while runSignals.load(ordering: .relaxed) == 0 {
            let status = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil)
            if status != EINTR { return }
        }
    }

    static func installSignalHandlers() {
        _ = runSignals.load(ordering: .relaxed)  // initialized before any handler can run
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            runSignals.bitwiseOr(signal == SIGHUP ? 2 : 1, ordering: .relaxed)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: the sleep returns at once
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaction(signal, &action, nil)
            sigaddset(&unblock, signal)
        }
        // A parent may start us with them blocked (test runners do): they must reach us.
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }
}
