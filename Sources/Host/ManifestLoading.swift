import ExternalPlugins
import MmStatsCore
import Processor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Loads a manifest the way every command does: first the plugins it names (so that their
/// kinds and functions are known), then the manifest, its expressions compiled against the
/// registry's functions. Every error is printed as `file:line:column: …`.
enum ManifestLoading {
    /// Plugin specs already loaded by this process (a reload does not load them twice).
    nonisolated(unsafe) static var loaded: Set<String> = []

    /// The manifest at `path`, or nil after printing its errors.
    static func load(_ path: String) -> Manifest? {
        var failed = false
        let directory = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) : "."
        for spec in Manifest.pluginSpecs(path: path) {
            // A relative path is relative to the manifest's directory.
            let resolved =
                spec.spec.contains("/") && !spec.spec.hasPrefix("/") ? directory + "/" + spec.spec : spec.spec
            guard !loaded.contains(resolved) else { continue }
            do throws(MmStatsError) {
                try ExternalPlugin.loadPlugins([resolved])
                loaded.insert(resolved)
            } catch {
                printError("\(path):\(spec.line):\(spec.column): plugins: \(error.description)".terminalSafe)
                failed = true
            }
        }
        do {
            let manifest = try Manifest.load(path: path)
            return failed ? nil : manifest
        } catch {
            for error in error.errors { printError(error.description.terminalSafe) }
            return nil
        }
    }
}
