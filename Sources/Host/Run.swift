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

/// The self-pipe `Run.sleep(until:)` polls and the signal handler writes to (-1: none yet).
struct WakePipe: AtomicRepresentable {
    var read: Int32
    var write: Int32

    typealias AtomicRepresentation = UInt64.AtomicRepresentation

    static func encodeAtomicRepresentation(_ value: WakePipe) -> AtomicRepresentation {
        UInt64.encodeAtomicRepresentation(
            UInt64(UInt32(bitPattern: value.read)) << 32 | UInt64(UInt32(bitPattern: value.write)))
    }

    static func decodeAtomicRepresentation(_ storage: consuming AtomicRepresentation) -> WakePipe {
        let bits = UInt64.decodeAtomicRepresentation(storage)
        return WakePipe(
            read: Int32(bitPattern: UInt32(bits >> 32)), write: Int32(bitPattern: UInt32(truncatingIfNeeded: bits)))
    }
}

let runWakePipe = Atomic<WakePipe>(WakePipe(read: -1, write: -1))

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
        installSignalHandlers()
        printError(loop.startMessage)

        var next = mmstats_now()
        while true {
            let signals = runSignals.exchange(0, ordering: .acquiringAndReleasing)
            if signals & 1 != 0 { break }
            if signals & 2 != 0 { loop.reload() }
            let result = loop.pass()
            if options.json { print(Eval.passJSON(loop.passes, result), terminator: "") }
            fflush(nil)
            if let passes = options.passes, loop.passes >= passes { break }
            next += UInt64(loop.interval * 1e9)
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
    ///
    /// The handler also writes a byte to a pipe this polls (the self-pipe), so a signal that
    /// arrives between the check of `runSignals` and the wait still ends the wait at once;
    /// a bare `clock_nanosleep` would sleep the whole interval then.
    static func sleep(until deadline: UInt64) {
        let wake = runWakePipe.load(ordering: .relaxed)
        while runSignals.load(ordering: .acquiring) == 0 {
            let now = mmstats_now()
            guard now < deadline else { return }
            let milliseconds = Int32(min((deadline - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            guard wake.read >= 0 else {
                // No pipe (could not be made): wait in short steps so a signal waits at most one.
                _ = poll(nil, 0, min(milliseconds, 100))
                continue
            }
            var descriptor = pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, milliseconds) > 0 { drainWakePipe(wake.read) }
        }
    }

    /// Empties the self-pipe (non-blocking): one wake per signal is enough.
    private static func drainWakePipe(_ fd: Int32) {
        var bytes = [UInt8](repeating: 0, count: 64)
        while bytes.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    static func installSignalHandlers() {
        _ = runSignals.load(ordering: .relaxed)  // initialized before any handler can run
        if runWakePipe.load(ordering: .relaxed).read < 0 {
            var fds: [Int32] = [-1, -1]
            if pipe(&fds) == 0 {
                for fd in fds {
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                }
                runWakePipe.store(WakePipe(read: fds[0], write: fds[1]), ordering: .releasing)
            }
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            runSignals.bitwiseOr(signal == SIGHUP ? 2 : 1, ordering: .releasing)
            // Then wake the sleep (write is async-signal-safe; a full pipe already wakes it).
            let fd = runWakePipe.load(ordering: .acquiring).write
            if fd >= 0 {
                let saved = errno
                var byte: UInt8 = 1
                _ = write(fd, &byte, 1)
                errno = saved
            }
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
