import ArgumentParser

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
        subcommands: [MigrateCommand.self, RunCommand.self, AddCommand.self, StatusCommand.self, PsqlCommand.self, DashboardCommand.self]
    )
}
