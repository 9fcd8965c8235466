import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `pgworker psql`: opens psql on the same database the other commands use.
struct PsqlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psql",
        abstract: "Run psql on pgworker's database (handy for the private cluster in ./.pgworker).",
        discussion: "Arguments after -- go to psql, e.g. pgworker psql -- -c 'SELECT * FROM pgworker.queue_stats'"
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(parsing: .captureForPassthrough, help: "Arguments for psql.")
    var arguments: [String] = []

    func run() async throws {
        let (conninfo, _) = try await database.resolve()
        let passthrough = arguments.first == "--" ? Array(arguments.dropFirst()) : arguments
        let argv = ["psql", "--no-psqlrc", "--dbname", conninfo] + passthrough
        let cArguments = argv.map { strdup($0) } + [nil]
        execvp("psql", cArguments)
        throw ValidationError("cannot run psql: \(String(cString: strerror(errno)))")
    }
}
