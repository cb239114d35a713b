import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The statistics processor as `mmstats run` drives it, reusable by other commands
/// (`mmstats serve --manifest`): a manifest (or the built-in default), its engine, the
/// collector that reads the stats files and the results file the passes are published in.
///
/// ```swift
/// let loop = try ProcessorLoop.make(command: "run", manifestPath: path, root: root, interval: nil).get()
/// defer { loop.close() }
/// let pass = loop.pass()      // collect, evaluate, publish
/// ```
final class ProcessorLoop {
    /// The command named in messages (`mmstats COMMAND: …`).
    let command: String
    let manifestPath: String?
    let root: String
    /// The interval given on the command line, which overrides the manifest's.
    let intervalOverride: Double?
    private(set) var manifest: Manifest?
    private(set) var engine: Engine
    private let results: ResultsWriter
    private var collector: SampleCollector
    /// Seconds between passes.
    private(set) var interval: Double
    private var defaultNames: (counters: [String], histograms: [String]) = ([], [])
    /// Problems reported during the previous pass (each is reported once while it lasts).
    private var reported: Set<String> = []
    /// The results file's failure in the previous pass, if any (reported once while it lasts).
    private var publishFailure: String?
    /// Passes run so far.
    private(set) var passes = 0
    /// When the last pass started (monotonic ns): the time its samples were read, and the
    /// engine's time of the pass (its `elapsed`, rates and entry intervals count from it).
    private(set) var lastPassStart: UInt64 = 0

    /// When the next pass is due: `interval` after the last one started (now, before the first).
    var nextPassTime: UInt64 {
        passes == 0 ? 0 : lastPassStart + UInt64((interval * 1e9).rounded(.up))
    }

    /// The results file's path.
    var resultsPath: String { results.path }

    private init(
        command: String, manifestPath: String?, root: String, intervalOverride: Double?, manifest: Manifest?,
        engine: Engine, results: ResultsWriter
    ) {
        self.command = command
        self.manifestPath = manifestPath
        self.root = root
        self.intervalOverride = intervalOverride
        self.manifest = manifest
        self.engine = engine
        self.results = results
        self.interval = intervalOverride ?? manifest?.interval ?? 1
        self.collector = SampleCollector(paths: [], sources: Manifest.Sources())
        self.collector = makeCollector(for: manifest)
    }

    /// Loads the manifest (errors printed as `mmstats check` does) and creates the results
    /// file under `root`; the failure is the exit status.
    static func make(command: String, manifestPath: String?, root: String, interval: Double?) -> Result<
        ProcessorLoop, ExitStatus
    > {
        let manifest: Manifest?
        switch Run.load(manifestPath) {
        case .success(let loaded): manifest = loaded
        case .failure(let status): return .failure(status)
        }
        let engine: Engine
        do {
            engine = try Engine(entries: manifest?.engineEntries() ?? [])
        } catch {
            printError("mmstats: \(manifestPath?.terminalSafe ?? command): \(error.description.terminalSafe)")
            return .failure(ExitStatus(code: 1))
        }
        var writerOptions = WriterOptions(application: "mmstats", model: "processor")
        writerOptions.root = root
        let results: ResultsWriter
        do {
            results = try ResultsWriter(writerOptions)
        } catch {
            printError(error.description.terminalSafe)
            return .failure(ExitStatus(code: 1))
        }
        return .success(
            ProcessorLoop(
                command: command, manifestPath: manifestPath, root: root, intervalOverride: interval,
                manifest: manifest, engine: engine, results: results))
    }

    /// The line printed when the loop starts.
    var startMessage: String {
        "mmstats \(command): \(manifest.map { "\($0.entries.count) entries from \($0.file)" } ?? "the built-in default"); "
            + "results in \(results.path); every \(interval) s".terminalSafe
    }

    private func makeCollector(for manifest: Manifest?) -> SampleCollector {
        let sources = manifest?.sources ?? Manifest.Sources()
        let collector = SampleCollector(paths: sources.roots.isEmpty ? [root] : sources.roots, sources: sources)
        collector.excluded = [results.path]
        return collector
    }

    /// Loads the manifest again (SIGHUP): entries that did not change keep their history; a
    /// manifest with errors is reported and the running one kept.
    func reload() {
        guard let path = manifestPath else { return }
        switch Run.load(path) {
        case .success(let reloaded?):
            do {
                engine = try engine.reloaded(with: reloaded.engineEntries())
                manifest = reloaded
                collector = makeCollector(for: reloaded)
                interval = intervalOverride ?? reloaded.interval
                printError("mmstats \(command): reloaded \(path.terminalSafe): \(reloaded.entries.count) entries")
            } catch {
                printError(
                    "mmstats: \(path.terminalSafe): \(error.description.terminalSafe); kept the running manifest")
            }
        case .success(nil), .failure:
            printError("mmstats \(command): \(path.terminalSafe) has errors (above); kept the running manifest")
        }
    }

    /// One pass: reads the stats files, evaluates every entry and publishes the results.
    func pass() -> EnginePass {
        var problems: Set<String> = []
        lastPassStart = StatsClock.system.now()
        var inputs = collector.collect { message in
            if !reported.contains(message) { printError(message.terminalSafe) }
            problems.insert(message)
        }
        inputs.time = lastPassStart
        reported = problems
        if manifest == nil {
            let names = DefaultManifest.names(in: inputs)
            if names != defaultNames {
                defaultNames = names
                do {
                    engine = try engine.reloaded(
                        with: DefaultManifest.entries(counters: names.counters, histograms: names.histograms))
                } catch {
                    printError("mmstats \(command): \(error.description.terminalSafe)")
                }
            }
        }
        let result = engine.run(inputs)
        passes += 1
        do {
            for problem in try results.publish(result, entries: engine.entries) {
                printError("mmstats \(command): \(problem)".terminalSafe)
            }
            publishFailure = nil
        } catch {
            // (Creating a fresh results file failed: reported once while it lasts.)
            if publishFailure != error.description { printError(error.description.terminalSafe) }
            publishFailure = error.description
        }
        return result
    }

    /// Removes the results file.
    func close() { results.close() }
}
