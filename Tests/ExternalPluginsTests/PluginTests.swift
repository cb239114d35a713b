import ExternalPlugins
import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// The `apdex` record as a writer declares it: name, signature and field names are all a
/// writer needs (docs/PLUGINS.md §10).
struct ApdexRecord: MetricKind {
    var name: String { "apdex" }
    var signature: Signature { Signature([.uint64, .uint64, .uint64]) }
    var fieldNames: [String] { ["satisfied", "tolerating", "frustrated"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

@Suite("External plugins")
struct PluginTests {
    /// The example plugin, built by `swift build --build-tests` beside the test bundle.
    static var apdexPath: String { Binaries.directory + "/libApdex.so" }

    static func requireApdex() throws -> String {
        try #require(
            FileManager.default.fileExists(atPath: apdexPath),
            "libApdex.so is not in \(Binaries.directory); build with `swift build --build-tests` first")
        return apdexPath
    }

    static func metrics(_ json: String) throws -> [[String: Any]] {
        let files = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return files.flatMap { ($0["metrics"] as? [[String: Any]]) ?? [] }
    }

    @Test("slurp --plugin shows the Apdex kind's exposed score, in JSON and in text")
    func slurpShowsExposedFields() throws {
        let plugin = try Self.requireApdex()
        let directory = TemporaryDirectory("plugin-slurp")
        let stats = try StatsWriter(directory.options(application: "shop", model: "Checkout"))
        let checkout = try stats.record("checkout.apdex", kind: ApdexRecord())
        checkout.update { w in
            w[0] += 60
            w[1] += 30
            w[2] += 10
        }
        let result = try run(Binaries.mmstats, ["slurp", "--plugin", plugin, "--json", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        let metric = try #require(try Self.metrics(result.stdout).first { $0["name"] as? String == "checkout.apdex" })
        #expect(metric["kind"] as? String == "apdex")
        let exposed = try #require(metric["exposed"] as? [String: Any], "no exposed member: \(result.stdout)")
        #expect(exposed["score"] as? Double == 0.75)
        #expect(exposed["total"] as? Int == 100)
        #expect(exposed["satisfied"] as? Int == 60)

        let text = try run(Binaries.mmstats, ["slurp", "--plugin", plugin, directory.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("total=100 score=0.75"), "\(text.stdout)")

        // Without the plugin the host does not know the kind: raw fields, no exposed member.
        let plain = try run(Binaries.mmstats, ["slurp", "--json", directory.path])
        let raw = try #require(try Self.metrics(plain.stdout).first { $0["name"] as? String == "checkout.apdex" })
        #expect(raw["exposed"] == nil)
        withExtendedLifetime(stats) {}
    }

    @Test("the loaded Apdex plugin: its kind, its evaluator, and a writer recording the loaded kind")
    func loadApdexInProcess() throws {
        let plugin = try ExternalPlugin.load(path: try Self.requireApdex())
        #expect(plugin.name == "apdex")
        #expect(plugin.version == "1.0")
        let kind = try #require(plugin.kinds.first as? ExternalKind)
        #expect(kind.name == "apdex")
        #expect(kind.signature == Signature([.uint64, .uint64, .uint64]))
        #expect(kind.fieldNames == ["satisfied", "tolerating", "frustrated"])
        #expect(kind.defaultLayout == .doubleBuffer)
        #expect(kind.exposedNames == ["satisfied", "tolerating", "frustrated", "total", "score"])
        let fields = kind.exposedFields(
            [("satisfied", .uint(8)), ("tolerating", .uint(4)), ("frustrated", .uint(4))], now: 0)
        #expect(fields.map(\.name) == kind.exposedNames)
        #expect(fields.last?.value == .double(0.625))
        #expect(fields[3].value == .uint(16))

        let evaluator = try #require(plugin.evaluators.first as? ExternalEvaluator)
        #expect(evaluator.name == "apdex")
        #expect(evaluator.parameterCount == 3)
        let context = EvaluationContext(elapsedNanoseconds: 0)
        #expect(try evaluator.evaluate([.uint(60), .int(30), .double(10)], context: context) == .double(0.75))
        #expect(try evaluator.evaluate([.int(0), .int(0), .int(0)], context: context) == nil)
        #expect(throws: MmStatsError.self) { try evaluator.evaluate([.int(1), .int(2)], context: context) }
        #expect(throws: MmStatsError.self) { try evaluator.evaluate([.int(-1), .int(2), .int(3)], context: context) }
        #expect(throws: MmStatsError.self) {
            try evaluator.evaluate([.string("x"), .int(2), .int(3)], context: context)
        }

        // A writer records the loaded kind; a registry with the plugin exposes its score.
        let directory = TemporaryDirectory("plugin-writer")
        let stats = try StatsWriter(directory.options())
        try stats.record("api.apdex", kind: kind).set([.uint(3), .uint(2), .uint(0)])
        let registry = PluginRegistry()
        try registry.register(plugin)
        let sample = try #require(try StatsReader(path: stats.path).snapshot().metrics.first)
        let exposed = sample.exposedFields(in: registry, now: 0)
        #expect(exposed.first { $0.name == "score" }?.value == .double(0.8))
    }

    @Test("loadPlugins: a path is loaded and registered, a name is a compiled-in plugin")
    func loadPluginsBySpec() throws {
        let registry = PluginRegistry()
        let extra = Plugin(name: "extra", version: "1")
        let loaded = try ExternalPlugin.loadPlugins(
            ["core", "extra", try Self.requireApdex()], builtIn: [extra], into: registry)
        #expect(loaded.map(\.name) == ["core", "extra", "apdex"])
        #expect(registry.kind(named: "apdex") != nil)
        #expect(registry.evaluator(named: "apdex") != nil)
        #expect {
            try ExternalPlugin.loadPlugins(["nosuch"], into: registry)
        } throws: { error in
            "\(error)".contains("plugin 'nosuch': no compiled-in plugin has this name")
        }
        // The same file again (under another spelling of its path): the plugin already registered.
        let apdex = try Self.requireApdex()
        let slash = try #require(apdex.lastIndex(of: "/"))
        let again = String(apdex[..<slash]) + "/." + String(apdex[slash...])
        let reloaded = try ExternalPlugin.loadPlugins([apdex, again], into: registry)
        #expect(reloaded.map(\.name) == ["apdex", "apdex"])
        #expect(registry.plugins.filter { $0.name == "apdex" }.count == 1)
        // Another file whose plugin has the same name: refused, naming both files.
        let directory = TemporaryDirectory("plugin-copy")
        try FileManager.default.copyItem(atPath: apdex, toPath: directory.path + "/copy.so")
        #expect {
            try ExternalPlugin.loadPlugins([directory.path + "/copy.so"], into: registry)
        } throws: { error in
            "\(error)".contains("copy.so: plugin apdex: a plugin of this name is already loaded from another file")
                && "\(error)".hasSuffix("libApdex.so")
        }
    }

    @Test("a C plugin: kind callback and evaluator through the wrappers")
    func cPluginInProcess() throws {
        let directory = TemporaryDirectory("plugin-c")
        let plugin = try ExternalPlugin.load(path: try CPlugin.build("good", in: directory))
        #expect(plugin.name == "cplugin")
        let kind = try #require(plugin.kinds.first)
        #expect(kind.exposedFields([("a", .uint(2)), ("b", .uint(40))], now: 1).map(\.value) == [.uint(42)])
        let plus = try #require(plugin.evaluators.first)
        #expect(try plus.evaluate([.double(0.5), .int(2)], context: .init(elapsedNanoseconds: 0)) == .double(2.5))
    }

    @Test("a callback answering out of bounds: the reader shows the raw components")
    func misbehavingCallback() throws {
        let directory = TemporaryDirectory("plugin-bounds")
        for (label, value) in [("over", "99"), ("negative", "-1")] {
            let plugin = try ExternalPlugin.load(
                path: try CPlugin.build(label, defines: ["EXPOSE_RETURN=\(value)"], in: directory))
            let kind = try #require(plugin.kinds.first)
            let components: [(name: String, value: Value)] = [("a", .uint(2)), ("b", .uint(40))]
            #expect(kind.exposedFields(components, now: 1).map(\.name) == ["a", "b"])
        }
    }

    /// Runs `mmstats slurp --plugin PATH` on an empty directory; expects a clean failure
    /// (exit status 1, not a signal) whose message names the path and says `reason`.
    static func expectRefused(_ path: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let empty = TemporaryDirectory("plugin-empty")
        let result = try run(Binaries.mmstats, ["slurp", "--plugin", path, empty.path])
        #expect(result.status == 1, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("mmstats: \(path): "), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(reason), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("files that are not plugins: each a clear error from the host, no crash")
    func notPlugins() throws {
        let directory = TemporaryDirectory("plugin-files")
        try Self.expectRefused(directory.path + "/missing.so", "no such file")
        let text = directory.path + "/text.so"
        try "not an object".write(toFile: text, atomically: true, encoding: .utf8)
        try Self.expectRefused(text, "not a shared object: the file does not start with an ELF header")
        try Self.expectRefused(directory.path, "not a shared object: not a regular file")
        let noSymbol = try CPlugin.build("nosymbol", defines: ["ENTRY=something_else"], in: directory)
        try Self.expectRefused(noSymbol, "not an mmstats plugin: the shared object has no symbol 'mmstats_plugin_v1'")
        let v2 = try CPlugin.build("v2", defines: ["ENTRY=mmstats_plugin_v2"], in: directory)
        try Self.expectRefused(v2, "the plugin is built for interface version 2")
        let truncated = directory.path + "/truncated.so"
        try Data([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1]).write(to: URL(fileURLWithPath: truncated))
        try Self.expectRefused(truncated, "cannot load the shared object")
    }

    @Test("malformed descriptors: each a clear error naming the problem, no crash")
    func malformedDescriptors() throws {
        let directory = TemporaryDirectory("plugin-malformed")
        let cases: [(String, [String], String)] = [
            ("null", ["RETURN=NULL"], "mmstats_plugin_v1() returned NULL"),
            ("abi", ["ABI=7"], "the plugin's descriptor has interface version 7; this host reads version 1"),
            ("size", ["STRUCT_SIZE=48"], "malformed descriptor: struct_size is 48; version 1 needs 56"),
            ("nullname", ["PLUGIN_NAME=NULL"], "malformed descriptor: the plugin's name is NULL"),
            ("longname", ["PLUGIN_NAME=\"\(String(repeating: "x", count: 100))\""], "is longer than 64 bytes"),
            ("utf8", ["PLUGIN_NAME=\"a\\xff\""], "the plugin's name is not valid UTF-8"),
            ("badname", ["PLUGIN_NAME=\"a b\""], "the plugin's name 'a b' is not a name"),
            ("count", ["KIND_COUNT=1000"], "malformed descriptor: kind_count is 1000; the limit is 64"),
            (
                "signature", ["SIGNATURE=\"QZ\""],
                "kind 0 ('pair'): malformed descriptor: the signature 'QZ' does not parse"
            ),
            ("string", ["SIGNATURE=\"Q8s\""], "has a string component"),
            ("fields", ["FIELD_COUNT=3"], "field_count is 3 but the signature 'QQ' has 2 components"),
            ("kindname", ["KIND_NAME=NULL"], "kind 0: malformed descriptor: the name is NULL"),
        ]
        for (label, defines, reason) in cases {
            try Self.expectRefused(try CPlugin.build(label, defines: defines, in: directory), reason)
        }
    }

    @Test("a plugin file others can write is refused")
    func unsafeFile() throws {
        let directory = TemporaryDirectory("plugin-unsafe")
        let path = try CPlugin.build("open", in: directory)
        #expect(chmod(path, 0o666) == 0)
        try Self.expectRefused(path, "refusing to load: the file is writable by everyone (mode 666)")
        #expect(throws: MmStatsError.self) { try ExternalPlugin.load(path: path) }
    }
}
