import Metrics
import MmStatsCore
import Processor
import Windows

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The `mmstats` command: subcommands over stats files.
@main
enum Host {
    static let usage = """
        usage: mmstats COMMAND [ARGS]
          demo [--seconds N]        write a demo stats file and read it back live
          slurp [--json] [--now NS] [--plugin PATH ...] [PATH ...]
                                    print every metric of stats files (v1 and v2)
          eval --manifest FILE [--passes N] [--interval S] [--json] [PATH ...]
                                    run a manifest's passes and print every destination
          run [--manifest FILE] [--root DIR] [--interval S] [--passes N] [--json]
                                    evaluate a manifest (or the built-in default) every interval
                                    and publish the results in the host's own stats file
          check FILE...             validate manifests; errors as file:line:column: message
          rules --manifest FILE [--window W] [--group NAME]
                                    the manifest's cluster entries as Prometheus recording rules
          clean [--dry-run] [PATH ...]
                                    remove the stats files of writers that are gone
          poll [--interval S] [--count N] [--root PATH] NAME ...
                                    a live view of metrics, one row per interval
          serve [--listen ADDRESS:PORT] [--root DIR] [--manifest FILE] [OPTIONS]
                                    serve every metric over HTTP: Prometheus /metrics and a JSON API
          help                      this text
        Stats root: \(statsRoot)
        """

    /// The stats root in use and where it comes from: `/tmp/root (from $MMSTATS_PATH)`, or
    /// `/run/user/1000/mmstats (set $MMSTATS_PATH to change it)`.
    static var statsRoot: String {
        let root = StatsDirectory.defaultRoot()
        let fromEnvironment = getenv("MMSTATS_PATH").map { String(cString: $0) == root } ?? false
        return (fromEnvironment ? "\(root) (from $MMSTATS_PATH)" : "\(root) (set $MMSTATS_PATH to change it)")
            .terminalSafe
    }

    static func main() {
        // The kinds this binary knows: their exposed fields appear in slurp's output.
        for plugin in [MetricsPlugin.plugin, WindowsPlugin.plugin, ProcessorPlugin.plugin] {
            do throws(MmStatsError) {
                try PluginRegistry.shared.register(plugin)
            } catch {
                printError(error.description)
            }
        }
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first else {
            printError(usage)
            exit(2)
        }
        let rest = Array(arguments.dropFirst())
        let status: Int32
        switch command {
        case "slurp": status = Slurp.run(rest)
        case "demo": status = Demo.run(rest)
        case "eval": status = Eval.run(rest)
        case "run": status = Run.run(rest)
        case "check": status = Check.run(rest)
        case "rules": status = Rules.run(rest)
        case "clean": status = Clean.run(rest)
        case "poll": status = Poll.run(rest)
        case "serve": status = Serve.run(rest)
        case "help", "-h", "--help":
            if let extra = rest.first {
                printError("mmstats help: unknown argument '\(extra.terminalSafe)'\n\(usage)")
                status = 2
            } else {
                print(usage)
                status = 0
            }
        default:
            printError("mmstats: unknown command '\(command.terminalSafe)'\n\(usage)")
            status = 2
        }
        exit(status)
    }
}
