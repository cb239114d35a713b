import Processor
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The package root (three levels above this file).
private let packageRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/ProcessorTests/ManifestTests.swift
    return parts.joined(separator: "/")
}()

/// Parses `text` as `m.json`.
private func parse(_ text: String) throws(ManifestErrors) -> Manifest {
    try Manifest.parse(Array(text.utf8), file: "m.json")
}

/// The error lines of loading `text` as `m.json`, or `[]` when it loaded.
private func errors(_ text: String) -> [String] {
    errors(Array(text.utf8))
}

private func errors(_ bytes: [UInt8]) -> [String] {
    do {
        _ = try Manifest.parse(bytes, file: "m.json")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// Reads a whole text file (the documentation).
private func readText(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("Manifest")
struct ManifestTests {
    @Test("the example in docs/MANIFEST.md loads as documented")
    func documentedExample() throws {
        let doc = try #require(readText(packageRoot + "/docs/MANIFEST.md"))
        let block = try #require(doc.split(separator: "```json\n", maxSplits: 1).last?.split(separator: "```").first)
        let manifest = try Manifest.parse(Array(block.utf8), file: "MANIFEST.md")
        #expect(manifest.sources.roots == ["/run/user/1000/mmstats"])
        #expect(manifest.sources.files == ["web/Stats/*.mmstats"])
        #expect(manifest.sources.applications == ["web"])
        #expect(manifest.sources.models == ["http"])
        #expect(manifest.interval == 1)
        #expect(manifest.constants == ["TARGET_LATENCY_MS": .int(250), "PAGE": .int(4096)])
        #expect(manifest.entries.count == 4)
        let rate = manifest.entries[0]
        #expect(rate.index == 1)
        #expect(rate.destinations.map(\.name) == ["web.requests_per_second"])
        #expect(rate.destinations[0].scope == .host && rate.destinations[0].operation == .reCalculate)
        #expect(rate.type == .float)
        #expect(rate.expression.source == "#web.requests * $HRTIME_SECOND / _DIFFTIME")
        #expect(rate.minimum == .int(0) && rate.maximum == nil && rate.defaultValue == nil)
        #expect(rate.unit == "requests/s")
        #expect(rate.description == "Requests served per second, over the last pass.")
        let ratio = manifest.entries[1]
        #expect(ratio.destinations.map(\.name) == ["web.error_ratio", "cluster.web.error_ratio"])
        #expect(ratio.destinations[1].scope == .cluster && ratio.destinations[1].operation == .reCalculate)
        #expect(ratio.destinations[0].scope == .host)
        #expect(ratio.interval == 10 && ratio.maximum == .int(1) && ratio.defaultValue == .int(0))
        #expect(manifest.entries[2].type == .integer && manifest.entries[2].destinations[0].scope == .process)
        #expect(manifest.entries[2].expression.references.map(\.name) == ["web.latency_ms.p99"])
        #expect(manifest.entries[3].type == .counter && manifest.entries[3].debug == false)
    }

    @Test("comments, trailing commas and a later entry reading an earlier destination")
    func lenientSyntax() throws {
        let manifest = try parse(
            """
            /* leading */ {
              // a line comment
              "interval": 2.5,
              "entries": [
                { "destination": "a", "type": "integer", "expression": "x + 1", },
                { "destination": "b", "type": "float", "expression": "a * 2", /* trailing */ },
              ],
            } // after
            """)
        #expect(manifest.interval == 2.5)
        #expect(manifest.entries.map(\.destinations[0].name) == ["a", "b"])
    }

    @Test("strings decode every escape; numbers keep integers as integers")
    func stringsAndNumbers() throws {
        let manifest = try parse(
            #"""
            { "constants": { "I": -42, "D": 1.5e3, "Z": 0, "F": -0.25 },
              "entries": [ { "destination": "caf\u00e9 \ud83d\ude00", "type": "float", "expression": "x",
                             "description": "tab\t quote\" slash\/ back\\ nl\n", "unit": "é" } ] }
            """#)
        #expect(manifest.constants == ["I": .int(-42), "D": .double(1500), "Z": .int(0), "F": .double(-0.25)])
        #expect(manifest.entries[0].destinations[0].name == "café 😀")
        #expect(manifest.entries[0].description == "tab\t quote\" slash/ back\\ nl\n")
        #expect(manifest.entries[0].unit == "é")
    }

    @Test("bounds and default: missing, below, above, within")
    func bounds() throws {
        let manifest = try parse(
            """
            { "entries": [
              { "destination": "a", "type": "integer", "expression": "x", "minimum": 0, "maximum": 100 },
              { "destination": "b", "type": "float", "expression": "x", "minimum": 0, "maximum": 1, "default": 0.5 },
            ] }
            """)
        let clamp = manifest.entries[0]
        #expect(clamp.bounded(nil) == nil)
        #expect(clamp.bounded(.int(-3)) == .int(0))
        #expect(clamp.bounded(.int(150)) == .int(100))
        #expect(clamp.bounded(.int(42)) == .int(42))
        let fallback = manifest.entries[1]
        #expect(fallback.bounded(nil) == .double(0.5))
        #expect(fallback.bounded(.double(1.5)) == .double(0.5))
        #expect(fallback.bounded(.double(-0.1)) == .double(0.5))
        #expect(fallback.bounded(.double(0.25)) == .double(0.25))
    }

    @Test("Traffic Server's shipped stats.config.xml loads as a manifest")
    func trafficServerFile() throws {
        let manifest = try Manifest.load(path: packageRoot + "/../shared/fixtures/ats/stats.config.xml.default")
        #expect(manifest.entries.count == 142)
        #expect(manifest.entries.map(\.index) == Array(1...142))
        let destinations = manifest.entries.flatMap(\.destinations)
        #expect(destinations.filter { $0.scope == .host }.count == 139)
        #expect(destinations.filter { $0.scope == .cluster }.count == 63)
        // Node (host) destinations re-calculate: they read the node's totals, as in Traffic
        // Server; cluster ones keep their attribute (9 re-calculate, 54 sum).
        #expect(destinations.filter { $0.scope == .host && $0.operation == .reCalculate }.count == 139)
        #expect(destinations.filter { $0.scope == .cluster && $0.operation == .reCalculate }.count == 9)
        #expect(destinations.filter { $0.scope == .cluster && $0.operation == .sum }.count == 54)
        #expect(manifest.entries.filter { $0.interval == 10 }.count == 70)
        #expect(manifest.entries.filter { $0.minimum != nil }.count == 141)
        #expect(manifest.entries.filter { $0.maximum != nil }.count == 38)
        #expect(manifest.entries[0].expression.source == "proxy.process.http.incoming_requests")
        #expect(manifest.entries[0].type == .integer)
        #expect(manifest.entries.contains { $0.type == .float })
    }
}
