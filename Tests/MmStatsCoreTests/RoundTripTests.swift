import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// Every component type, at its limits, through every layout.
struct EveryTypeKind: MetricKind {
    var name: String { "everything" }
    var signature: Signature { (try? Signature("QqIiHhBb?fd16s3s")) ?? Signature([]) }
    var fieldNames: [String] { ["Q", "q", "I", "i", "H", "h", "B", "b", "bool", "f", "d", "text", "short"] }
    var defaultLayout: LayoutID { .doubleBuffer }
}

@Suite("Round trips")
struct RoundTripTests {
    static let extremes: [Value] = [
        .uint(.max), .int(.min), .uint(UInt64(UInt32.max)), .int(Int64(Int32.min)), .uint(UInt64(UInt16.max)),
        .int(Int64(Int16.min)), .uint(255), .int(-128), .bool(true), .double(1.5), .double(-.pi),
        .string("héllo wörld 12"), .string("abc"),
    ]

    @Test("every component type round-trips in every layout", arguments: [LayoutID.word, .doubleBuffer, .pageFlip])
    func everyType(layout: LayoutID) throws {
        let directory = TemporaryDirectory("types")
        var options = directory.options()
        if layout == .pageFlip { options.layout = .pageFlip }
        let writer = try StatsWriter(options)
        let record = try writer.record("all.types", kind: EveryTypeKind(), layout: layout, initial: Self.extremes)
        writer.publish()
        let snapshot = try StatsReader(path: writer.path).snapshot()
        let sample = try #require(snapshot.metric("all.types"))
        #expect(sample.error == nil)
        #expect(sample.descriptor.layout == layout)
        #expect(sample.fields.map(\.name) == EveryTypeKind().fieldNames)
        #expect(sample.fields.map(\.value) == Self.extremes)

        // Update through the handle and read again.
        var changed = Self.extremes
        changed[0] = .uint(7)
        changed[10] = .double(2.25)
        changed[11] = .string("a string that is far too long for sixteen bytes")
        record.set(changed)
        writer.publish()
        let again = try #require(try StatsReader(path: writer.path).snapshot().metric("all.types"))
        #expect(again.field("Q") == .uint(7))
        #expect(again.field("d") == .double(2.25))
        #expect(again.field("text") == .string("a string that is"))  // truncated to 16 bytes
    }

    @Test("values out of a component's range wrap to its width and keep their sign")
    func narrowing() throws {
        let directory = TemporaryDirectory("narrow")
        let writer = try StatsWriter(directory.options())
        _ = try writer.record(
            "narrow", kind: EveryTypeKind(),
            initial: [
                .int(-1), .uint(.max), .uint(0x1_2345_6789), .int(-70_000), .int(-1), .int(40_000), .int(300),
                .int(200), .uint(5), .double(1e40), .int(3), .string(""), .string("abcdef"),
            ])
        let sample = try #require(try StatsReader(path: writer.path).snapshot().metric("narrow"))
        #expect(sample.field("Q") == .uint(.max))  // -1 as u64
        #expect(sample.field("q") == .int(-1))
        #expect(sample.field("I") == .uint(0x2345_6789))
        #expect(sample.field("i") == .int(Int64(Int32(truncatingIfNeeded: -70_000))))
        #expect(sample.field("H") == .uint(0xFFFF))
        #expect(sample.field("h") == .int(Int64(Int16(truncatingIfNeeded: 40_000))))
        #expect(sample.field("B") == .uint(44))  // 300 & 0xFF
        #expect(sample.field("b") == .int(-56))  // 200 as i8
        #expect(sample.field("bool") == .bool(true))
        #expect(sample.field("f") == .double(Double(Float.infinity)))
        #expect(sample.field("text") == .string(""))
        #expect(sample.field("short") == .string("abc"))
    }

    @Test("dimensions, units, descriptions and very long names round-trip")
    func metadata() throws {
        let directory = TemporaryDirectory("meta")
        let writer = try StatsWriter(directory.options(application: "web", model: "HTTPStats"))
        let longName = String(repeating: "very.long.segment.", count: 2000) + "end"  // ~36 KB
        let ok = try writer.counter(
            "index.response", dimensions: ["code": "200", "method": "GET", "ключ": "значение"], unit: "requests",
            help: "responses by status")
        let long = try writer.counter(longName, help: String(repeating: "x", count: 60_000))
        let gauge = try writer.gauge("queue.depth", dimensions: ["queue": "a=b,c"])
        let double = try writer.doubleGauge("cpu.load", unit: "ratio")
        ok.increment(by: 41)
        ok.increment()
        long.increment(by: 3)
        gauge.set(-5)
        double.set(0.25)

        let snapshot = try StatsReader(path: writer.path).snapshot()
        #expect(snapshot.writer.application == "web")
        #expect(snapshot.writer.model == "HTTPStats")
        #expect(snapshot.writer.state == .live)
        let response = try #require(
            snapshot.metric("index.response", dimensions: ["method": "GET", "code": "200", "ключ": "значение"]))
        #expect(response.value == .uint(42))
        #expect(response.descriptor.dimensions.map(\.key) == ["code", "method", "ключ"])  // order kept
        #expect(response.descriptor.unit == "requests")
        #expect(response.descriptor.help == "responses by status")
        #expect(response.descriptor.kind == "counter")
        #expect(snapshot.value(longName) == .uint(3))
        #expect(snapshot.metric(longName)?.descriptor.help.count == 60_000)
        #expect(snapshot.value("queue.depth", dimensions: ["queue": "a=b,c"]) == .int(-5))
        #expect(snapshot.value("cpu.load") == .double(0.25))
        #expect(snapshot.value("index.response") == nil)  // dimensions must match exactly
    }

    @Test("registering the same name twice returns the same metric; a different kind is refused")
    func reregistration() throws {
        let directory = TemporaryDirectory("rereg")
        let writer = try StatsWriter(directory.options())
        let a = try writer.counter("hits")
        let b = try writer.counter("hits")
        a.increment()
        b.increment()
        #expect(a.value == 2)
        #expect(try StatsReader(path: writer.path).snapshot().count == 1)
        #expect(throws: MmStatsError.self) { _ = try writer.gauge("hits") }
    }

    @Test("signatures parse with repeat counts and name the column of an error")
    func signatures() throws {
        #expect(try Signature("2Q3d").components == [.uint64, .uint64, .float64, .float64, .float64])
        #expect(try Signature("16s").words == 2)
        #expect(try Signature("17s").words == 3)
        #expect(try Signature("Q2d16s").description == "Qdd16s")
        #expect(throws: SignatureError(column: 2, reason: "unknown type letter 'x'")) { try Signature("Qx") }
        #expect(throws: SignatureError.self) { try Signature("s") }
        #expect(throws: SignatureError.self) { try Signature("") }
        #expect(throws: SignatureError.self) { try Signature("3") }
        #expect(throws: SignatureError.self) { try Signature("0Q") }
    }

    @Test("a v1 file whose size is not a multiple of 8 still reads")
    func legacyOddSize() throws {
        let fixture = Binaries.packageRoot + "/../shared/fixtures/v1/queue-v1.mmstats"
        let bytes = try #require(FileManager.default.contents(atPath: fixture))
        let directory = TemporaryDirectory("v1-odd")
        let path = directory.path + "/odd.mmstats"
        try bytes.prefix(0x2C3).write(to: URL(fileURLWithPath: path))  // ends 3 bytes after sys.created
        let snapshot = try StatsReader(path: path).snapshot()
        #expect(snapshot.count == 14)
        #expect(snapshot.value("queue.sys.created") == .double(1_795_432_215.450_398_7))
    }

    @Test("the legacy v1 file from Python mmstats reads with the values its own reader saw")
    func legacyV1() throws {
        let fixtures = Binaries.packageRoot + "/../shared/fixtures/v1"
        let expectedData = try #require(FileManager.default.contents(atPath: fixtures + "/queue-v1.expected.json"))
        let expected = try #require(try JSONSerialization.jsonObject(with: expectedData) as? [String: Any])
        let snapshot = try StatsReader(path: fixtures + "/queue-v1.mmstats").snapshot()
        #expect(snapshot.version == 1)
        #expect(snapshot.count == expected.count)
        for (name, value) in expected {
            let actual = try #require(snapshot.value(name), "missing \(name)")
            switch actual {
            case .bool(let flag):
                #expect((value as? NSNumber)?.boolValue == flag, "\(name)")
            case .string(let text):
                #expect(value as? String == text, "\(name)")
            case .uint, .int:
                #expect((value as? NSNumber)?.int64Value == actual.intValue, "\(name)")
            case .double(let number):
                // JSONSerialization rounds some doubles on Linux: parse the JSON text exactly.
                let text = String(decoding: expectedData, as: UTF8.self)
                let after = try #require(text.range(of: "\"\(name)\": ")).upperBound
                let literal = text[after...].prefix { $0 != "," && $0 != "\n" && $0 != "}" }
                #expect(Double(String(literal)) == number, "\(name)")
            }
        }
        #expect(snapshot.writer.pid == 17315)
    }
}
