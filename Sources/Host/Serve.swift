import ExternalPlugins
import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `mmstats serve`: every metric under the stats root over HTTP, as Prometheus text and JSON
/// (docs/SERVE.md), optionally with a processor running a manifest beside it.
enum Serve {
    static let defaultListen = "127.0.0.1:9464"

    static let usage = """
        usage: mmstats serve [--listen ADDRESS:PORT] [--root DIR] [--manifest FILE] [--interval S]
                             [--plugin PATH ...] [--header-timeout S] [--idle-timeout S]
                             [--write-timeout S] [--max-connections N]
          Serves every metric under DIR over HTTP (docs/SERVE.md): /metrics (Prometheus text
          format 0.0.4), /api/files, /api/metrics, /api/aggregate?name=NAME[&field=F].
          Prints "mmstats serve: listening on http://ADDRESS:PORT" on stderr once listening.
          SIGINT and SIGTERM stop it (exit status 0).
          --listen A:P        address and port (default \(defaultListen); port 0: any free port;
                              IPv6 as [::1]:P; 0.0.0.0:P listens on every interface)
          --root DIR          the stats root served (default: the stats root, \(StatsDirectory.defaultRoot()))
          --manifest FILE     also run this manifest's processor every interval (as mmstats run),
                              its results beside the raw metrics; SIGHUP reloads it
          --interval S        seconds between the processor's passes (default: the manifest's)
          --plugin PATH       load a plugin's shared object first, so /metrics and the JSON API show
                              its kinds' fields (repeatable; docs/PLUGINS.md)
          --header-timeout S  seconds a client has to send a request's headers (default 5)
          --idle-timeout S    seconds a kept-alive connection may stay idle (default 30)
          --write-timeout S   seconds a response may wait for the client to read more of it
                              (default 30); then the connection is closed
          --max-connections N connections at once (default 256); more get 503
        """

    struct Options {
        var listen = ListenAddress(host: "127.0.0.1", port: 9464, isIPv6: false)
        var root = StatsDirectory.defaultRoot()
        var manifestPath: String?
        var interval: Double?
        var limits = HTTPServer.Limits()
        var plugins: [String] = []
    }

    /// The options `parse` knows; each takes a value.
    static let options: Set<String> = [
        "--listen", "--root", "--manifest", "--plugin", "--interval", "--header-timeout", "--idle-timeout",
        "--write-timeout", "--max-connections",
    ]

    static func parse(_ arguments: [String]) -> Result<Options, ExitStatus> {
        var options = Options()
        var index = 0
        func fail(_ message: String) -> Result<Options, ExitStatus> {
            printError("mmstats serve: \(message.terminalSafe)\n\(usage)")
            return .failure(ExitStatus(code: 2))
        }
        func seconds(_ text: String) -> Double? {
            guard let value = Double(text), value > 0, value <= 86_400 else { return nil }
            return value
        }
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" {
                print(usage)
                return .failure(ExitStatus(code: 0))
            }
            guard argument.hasPrefix("--") else { return fail("unknown argument '\(argument)'") }
            guard Self.options.contains(argument) else { return fail("unknown option '\(argument)'") }
            guard index < arguments.count else { return fail("\(argument) needs a value") }
            let value = arguments[index]
            index += 1
            switch argument {
            case "--listen":
                guard let address = ListenAddress.parse(value) else {
                    return fail("--listen takes ADDRESS:PORT (127.0.0.1:9464, [::1]:9464), not '\(value)'")
                }
                options.listen = address
            case "--root":
                guard !value.isEmpty else { return fail("--root takes a directory") }
                options.root = value
            case "--manifest": options.manifestPath = value
            case "--plugin":
                guard !value.isEmpty else { return fail("--plugin takes the path of a shared object") }
                options.plugins.append(value)
            case "--interval":
                guard let interval = seconds(value) else { return fail("--interval takes seconds, more than 0") }
                options.interval = interval
            case "--header-timeout":
                guard let timeout = seconds(value) else { return fail("--header-timeout takes seconds, more than 0") }
                options.limits.headerTimeout = timeout
            case "--idle-timeout":
                guard let timeout = seconds(value) else { return fail("--idle-timeout takes seconds, more than 0") }
                options.limits.idleTimeout = timeout
            case "--write-timeout":
                guard let timeout = seconds(value) else { return fail("--write-timeout takes seconds, more than 0") }
                options.limits.writeTimeout = timeout
            case "--max-connections":
                guard let count = Int(value), count >= 1, count <= 65_536 else {
                    return fail("--max-connections takes a whole number from 1 to 65536")
                }
                options.limits.maximumConnections = count
            default: return fail("unknown option '\(argument)'")  // (not reached: checked above)
            }
        }
        return .success(options)
    }

    static func run(_ arguments: [String]) -> Int32 {
        let options: Options
        switch parse(arguments) {
        case .success(let parsed): options = parsed
        case .failure(let status): return status.code
        }
        signal(SIGPIPE, SIG_IGN)  // a client that goes away is an error from send, not a signal
        do throws(MmStatsError) {
            try ExternalPlugin.loadPlugins(options.plugins)
        } catch {
            printError(error.description.terminalSafe)
            return 1
        }
        var processor: ProcessorLoop?
        if options.manifestPath != nil {
            switch ProcessorLoop.make(
                command: "serve", manifestPath: options.manifestPath, root: options.root, interval: options.interval)
            {
            case .success(let made): processor = made
            case .failure(let status): return status.code
            }
        }
        defer { processor?.close() }
        let api = ServeAPI(catalog: ServeCatalog(root: options.root))
        let server: HTTPServer
        do throws(MmStatsError) {
            server = try HTTPServer(address: options.listen, limits: options.limits, handler: api.handle)
        } catch {
            printError("mmstats serve: \(error.reason)".terminalSafe)
            return 1
        }
        SignalWake.install()
        if let processor { printError(processor.startMessage) }
        printError("mmstats serve: listening on \(server.address.url)")

        while true {
            // Emptied before the signals are taken: a signal after this leaves a byte that
            // ends the next poll at once.
            SignalWake.drainWake()
            let signals = SignalWake.take()
            if signals & SignalWake.stop != 0 { break }
            if signals & SignalWake.reload != 0 { processor?.reload() }
            var wait: Int32 = 1_000
            if let processor {
                // Passes S apart from one start to the next (a slow pass: the next at once).
                if SignalWake.now() >= processor.nextPassTime { _ = processor.pass() }
                let next = processor.nextPassTime
                wait = Int32(min(1_000, (next - min(next, SignalWake.now())) / 1_000_000 + 1))
            }
            server.serve(milliseconds: wait, wake: SignalWake.wakeDescriptor)
        }
        printError("mmstats serve: stopped")
        return 0
    }
}
