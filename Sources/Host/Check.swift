import MmStatsCore
import Processor

/// `mmstats check FILE...`: validates manifests (JSON or Traffic Server XML) and prints every
/// error as a compiler does.
enum Check {
    static let usage = """
        usage: mmstats check FILE...
          Validates each manifest (JSON, docs/MANIFEST.md, or Traffic Server's stats.config.xml):
          syntax, keys and types, expressions, constants, functions, bounds, order. Prints every
          error as FILE:LINE:COLUMN: message, in file order, and exits 1 if there is any; else
          prints FILE: N entries, M destinations, ok and exits 0.
        """

    static func run(_ arguments: [String]) -> Int32 {
        if arguments.contains("-h") || arguments.contains("--help") {
            print(usage)
            return 0
        }
        if let option = arguments.first(where: { $0.hasPrefix("-") }) {
            printError("mmstats check: unknown option '\(option.terminalSafe)'\n\(usage)")
            return 2
        }
        guard !arguments.isEmpty else {
            printError("mmstats check: a manifest file is required\n\(usage)")
            return 2
        }
        var status: Int32 = 0
        for path in arguments {
            guard let manifest = ManifestLoading.load(path) else {
                status = 1
                continue
            }
            let entries = manifest.engineEntries()
            do {
                _ = try Engine(entries: entries)
            } catch {
                printError("\(path): \(error.description)".terminalSafe)
                status = 1
                continue
            }
            let destinations = entries.reduce(0) { $0 + $1.destinations.count }
            print("\(path.terminalSafe): \(manifest.entries.count) entries, \(destinations) destinations, ok")
        }
        return status
    }
}
