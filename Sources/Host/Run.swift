import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A command's exit status, as an error that ends it early.
struct ExitStatus: Error {
    var code: Int32
}

/// `mmstats run [--manifest FILE] …`: evaluates a manifest (or the built-in default) every
/// interval and publishes the results in the host's own stats file.
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
                         default: the stats root, \(StatsDirectory.defaultRoot())
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
                guard let path = value(argument) else { return .failure(ExitStatus(code: 2)) }
                guard !path.isEmpty else {
                    printError("mmstats run: --root takes a directory\n\(usage)")
                    return .failure(ExitStatus(code: 2))
                }
                options.root = path
            case "--interval":
                guard let text = value(argument) else { return .failure(ExitStatus(code: 2)) }
                guard let seconds = Double(text), seconds > 0, seconds <= 86_400 else {
                    printError("mmstats run: --interval takes seconds, more than 0, at most 86400")
                    return .failure(ExitStatus(code: 2))
                }
                options.interval = seconds
            case "--passes":
                guard let text = value(argument) else { return .failure(ExitStatus(code: 2)) }
                guard let number = Int(text), number >= 1 else {
                    printError("mmstats run: --passes takes a whole number from 1")
                    return .failure(ExitStatus(code: 2))
                }
                options.passes = number
            case "--json": options.json = true
            case "-h", "--help":
                print(usage)
                return .failure(ExitStatus(code: 0))
            default:
                let what = argument.hasPrefix("-") ? "option" : "argument"
                printError("mmstats run: unknown \(what) '\(argument.terminalSafe)'\n\(usage)")
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
        let loop: ProcessorLoop
        switch ProcessorLoop.make(
            command: "run", manifestPath: options.manifestPath, root: options.root, interval: options.interval)
        {
        case .success(let made): loop = made
        case .failure(let status): return status.code
        }
        if let listen = loop.manifest?.outputs.listen, let path = options.manifestPath {
            // The manifest asks for HTTP too: serve runs the same loop beside its server.
            loop.close()
            var arguments = ["--listen", listen, "--manifest", path, "--root", options.root]
            if let interval = options.interval { arguments += ["--interval", "\(interval)"] }
            if options.passes != nil || options.json {
                printError("mmstats run: --passes and --json do not apply when the manifest has outputs.listen")
            }
            return Serve.run(arguments)
        }
        defer { loop.close() }
        SignalWake.install()
        printError(loop.startMessage)

        while true {
            let signals = SignalWake.take()
            if signals & SignalWake.stop != 0 { break }
            if signals & SignalWake.reload != 0 { loop.reload() }
            let result = loop.pass()
            if options.json { print(Eval.passJSON(loop.passes, result), terminator: "") }
            fflush(nil)
            if let passes = options.passes, loop.passes >= passes { break }
            // S after this pass started (a pass that took longer than S: the next at once).
            SignalWake.sleep(until: loop.nextPassTime)
        }
        return 0
    }
}
