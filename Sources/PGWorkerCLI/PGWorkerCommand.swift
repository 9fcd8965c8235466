import ArgumentParser
import Foundation

/// The `pgworker` command-line tool.
@main
struct PGWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgworker",
        abstract: "Background jobs for PostgreSQL: enqueue with an INSERT, run with `pgworker run`.",
        discussion: """
            The database comes from --database-url, DATABASE_URL, or the standard PG* variables. With none of \
            these, pgworker starts (or reuses) a private PostgreSQL cluster in ./.pgworker.
            """,
        subcommands: [MigrateCommand.self, RunCommand.self, AddCommand.self, StatusCommand.self, PsqlCommand.self,
                      JobsCommand.self, CronCommand.self, QueueCommand.self, DashboardCommand.self,
                      BenchCommand.self, SustainedBenchCommand.self, BenchWorkerCommand.self, StopLocalCommand.self]
    )

    /// Runs the command; any error ends the process with one readable line on stderr and a
    /// non-zero status (help and version requests print in full and exit 0).
    static func main() async {
        do {
            let arguments = try ConfigFileArguments.expand(Array(CommandLine.arguments.dropFirst()),
                                                           environment: ProcessInfo.processInfo.environment)
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            // The command has said why already (add --wait).
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
            } else {
                let message = message(for: error).replacingOccurrences(of: "\n", with: " ")
                FileHandle.standardError.write(Data("pgworker: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
