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
        for spec in Manifest.pluginSpecs(path: path) {
            // A path (it has a '/') is relative to the manifest's directory; it keeps its '/'.
            var resolved = spec.spec
            if spec.spec.contains("/") {
                resolved = Manifest.resolve(spec.spec, relativeTo: path)
                if !resolved.contains("/") { resolved = "./" + resolved }
            }
            guard !loaded.contains(resolved) else { continue }
            do throws(MmStatsError) {
                // (The same file loaded already, by --plugin or another spec, is skipped there.)
                try ExternalPlugin.loadPlugins([resolved])
                loaded.insert(resolved)
            } catch {
                printError("\(path):\(spec.line):\(spec.column): plugins: \(error.detail)".terminalSafe)
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
