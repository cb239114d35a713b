import CMmStatsPlugin
import MmStatsCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Loads plugins from shared objects through the C interface of docs/PLUGINS.md.
///
/// ```swift
/// let apdex = try ExternalPlugin.load(path: "/opt/mmstats/plugins/libApdex.so")
/// try PluginRegistry.shared.register(apdex)
/// ```
public enum ExternalPlugin {
    /// The interface version this host reads (`MMSTATS_PLUGIN_ABI_VERSION`).
    public static let interfaceVersion = UInt32(MMSTATS_PLUGIN_ABI_VERSION)

    /// The symbol every plugin exports (`MMSTATS_PLUGIN_ENTRY_SYMBOL`).
    public static let entrySymbol = "mmstats_plugin_v1"

    /// Loads the plugin in the shared object at `path`: checks the file, `dlopen`s it, calls its
    /// entry and validates the descriptor; the result holds its kinds and evaluators.
    ///
    /// The object stays loaded for the life of the process (plugins are never unloaded). Every
    /// failure is an error naming the path and the reason; nothing is registered here.
    ///
    /// ```swift
    /// do {
    ///     let plugin = try ExternalPlugin.load(path: "./libApdex.so")
    ///     print(plugin.name, plugin.kinds.map(\.name))
    /// } catch {
    ///     print(error)  // mmstats: ./libApdex.so: no such file: No such file or directory
    /// }
    /// ```
    public static func load(path: String) throws(MmStatsError) -> Plugin {
        try load(try PluginFile.check(path), shownAs: path)
    }

    private static func load(_ file: PluginFile, shownAs path: String) throws(MmStatsError) -> Plugin {
        let handle = try open(file.resolved, shownAs: path)
        guard let symbol = dlsym(handle, entrySymbol) else {
            throw missingEntry(handle, path: path)
        }
        guard let descriptor = mmstats_plugin_call_entry(symbol) else {
            throw MmStatsError(.invalidArgument, path: path, "\(entrySymbol)() returned NULL")
        }
        return try DescriptorReader(path: path).plugin(descriptor)
    }

    /// The shared objects `loadPlugins` has registered, by registry and file identity: the
    /// plugin's name and the path it was loaded from.
    private static let registeredFiles = Mutex<[RegisteredFile: (name: String, path: String)]>([:])

    private struct RegisteredFile: Hashable {
        let registry: ObjectIdentifier
        let file: PluginFile.ID
    }

    /// Loads plugins by spec and registers them: a spec containing `/` is the path of a shared
    /// object (``load(path:)``); any other spec names a compiled-in plugin, found in `builtIn`
    /// (or already in the registry). Stops at the first failure; returns the plugins in order.
    ///
    /// The same file named again (under any path, a symbolic or hard link) is the plugin
    /// already registered, not an error; a different file whose plugin has a name already
    /// registered is an error naming the file that has it.
    ///
    /// ```swift
    /// let plugins = try ExternalPlugin.loadPlugins(
    ///     ["metrics", "./Plugins/libApdex.so"], builtIn: [MetricsPlugin.plugin])
    /// ```
    @discardableResult
    public static func loadPlugins(
        _ specs: [String], builtIn: [Plugin] = [], into registry: PluginRegistry = .shared
    ) throws(MmStatsError) -> [Plugin] {
        var loaded: [Plugin] = []
        for spec in specs {
            if spec.contains("/") {
                let file = try PluginFile.check(spec)
                let key = RegisteredFile(registry: ObjectIdentifier(registry), file: file.id)
                if let known = registeredFiles.withLock({ $0[key] }),
                    let registered = registry.plugins.first(where: { $0.name == known.name })
                {
                    loaded.append(registered)  // the same file again: one plugin
                    continue
                }
                let plugin = try load(file, shownAs: spec)
                do throws(MmStatsError) {
                    try registry.register(plugin)
                } catch {
                    let other = registeredFiles.withLock { files in
                        files.first { $0.key.registry == key.registry && $0.value.name == plugin.name }?.value.path
                    }
                    if let other, registry.plugins.contains(where: { $0.name == plugin.name }) {
                        throw MmStatsError(
                            error.code, path: spec, entry: "plugin \(plugin.name)",
                            "a plugin of this name is already loaded from another file, \(other)")
                    }
                    throw MmStatsError(error.code, path: spec, entry: error.entry, error.reason)
                }
                registeredFiles.withLock { $0[key] = (plugin.name, file.resolved) }
                loaded.append(plugin)
            } else if let registered = registry.plugins.first(where: { $0.name == spec }) {
                loaded.append(registered)
            } else if let plugin = builtIn.first(where: { $0.name == spec }) {
                try registry.register(plugin)
                loaded.append(plugin)
            } else {
                let known = (registry.plugins.map(\.name) + builtIn.map(\.name)).joined(separator: ", ")
                throw MmStatsError(
                    .invalidArgument, path: nil, entry: "plugin '\(spec)'",
                    "no compiled-in plugin has this name (known: \(known)); a path needs a '/', as in ./\(spec)")
            }
        }
        return loaded
    }

    /// `dlopen(RTLD_NOW | RTLD_LOCAL)`, with dlerror's text on failure.
    private static func open(_ resolved: String, shownAs path: String) throws(MmStatsError) -> UnsafeMutableRawPointer {
        _ = dlerror()  // clear a stale message
        guard let handle = dlopen(resolved, RTLD_NOW | RTLD_LOCAL) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw MmStatsError(.invalidArgument, path: path, "cannot load the shared object: \(message)")
        }
        return handle
    }

    /// Why the entry symbol is missing: a plugin of another interface version, or not a plugin.
    private static func missingEntry(_ handle: UnsafeMutableRawPointer, path: String) -> MmStatsError {
        for version in 2...9 where dlsym(handle, "mmstats_plugin_v\(version)") != nil {
            return MmStatsError(
                .unsupportedVersion, path: path,
                "the plugin is built for interface version \(version) (mmstats_plugin_v\(version)); "
                    + "this host reads version \(interfaceVersion)")
        }
        return MmStatsError(
            .invalidArgument, path: path, "not an mmstats plugin: the shared object has no symbol '\(entrySymbol)'")
    }
}
