import Foundation
import MmStatsCore
import MmStatsTestSupport
import Testing

/// What every subcommand says about its command line.
@Suite("Command lines")
struct CommandLineTests {
    @Test("an unknown option is named as one, wherever it stands (last too, where a value would follow)")
    func unknownOptionLast() throws {
        for command in ["serve", "run", "eval", "poll", "slurp", "rules", "check", "clean", "demo"] {
            for arguments in [["--bogus"], ["--bogus", "x"]] {
                let result = try run(Binaries.mmstats, [command] + arguments)
                #expect(result.status == 2, "\(command) \(arguments): \(result.stderr)")
                #expect(
                    result.stderr.hasPrefix("mmstats \(command): unknown option '--bogus'\n"),
                    "\(command) \(arguments): \(result.stderr)")
            }
        }
        // An option that takes a value, given last: it needs one (said once).
        for (command, option) in [
            ("serve", "--listen"), ("run", "--interval"), ("eval", "--passes"), ("demo", "--seconds"),
        ] {
            let result = try run(Binaries.mmstats, [command, option])
            #expect(result.status == 2)
            let first = result.stderr.split(separator: "\n").first ?? ""
            #expect(
                first == "mmstats \(command): \(option) needs a value"
                    || first == "mmstats \(command): \(option) takes a whole number",
                "\(command) \(option): \(result.stderr)")
            #expect(
                result.stderr.split(separator: "\n").filter { $0.hasPrefix("mmstats \(command):") }.count == 1,
                "\(result.stderr)")
        }
    }

    @Test("no command, an unknown one, or help with an argument: usage on stderr, status 2")
    func usageErrors() throws {
        for arguments in [[], ["frobnicate"], ["help", "--bogus"]] {
            let result = try run(Binaries.mmstats, arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
            #expect(result.stderr.contains("usage: mmstats COMMAND"), "\(arguments): \(result.stderr)")
        }
        let demo = try run(Binaries.mmstats, ["demo", "--seconds"])
        #expect(demo.stderr.contains("usage: mmstats demo"), "\(demo.stderr)")
        let help = try run(Binaries.mmstats, ["help"])
        #expect(help.status == 0 && help.stdout.contains("usage: mmstats COMMAND"))
    }

    @Test("help names the stats root in use and says whether $MMSTATS_PATH chose it")
    func helpStatsRoot() throws {
        let dir = TemporaryDirectory("help-root")
        let set = try run(Binaries.mmstats, ["help"], environment: ["MMSTATS_PATH": dir.path])
        #expect(set.status == 0)
        #expect(set.stdout.hasSuffix("Stats root: \(dir.path) (from $MMSTATS_PATH)\n"), "\(set.stdout)")
        let unset = try run(Binaries.mmstats, ["help"], environment: ["MMSTATS_PATH": "", "XDG_RUNTIME_DIR": dir.path])
        #expect(
            unset.stdout.hasSuffix("Stats root: \(dir.path)/mmstats (set $MMSTATS_PATH to change it)\n"),
            "\(unset.stdout)")
    }
}
