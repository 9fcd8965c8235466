import ArgumentParser
import PGWorker
import PQClient

/// `pgworker queue`: pause, resume and limit queues.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Pause or resume a queue, or cap how many of its jobs run at once across all workers.",
        subcommands: [List.self, Pause.self, Resume.self, Limit.self]
    )

    /// `pgworker queue list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Queues with a limit or paused, and what runs now.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            let rows = try await connection.query(
                """
                SELECT q.queue, q.max_running, q.paused,
                       (SELECT count(*) FROM pgworker.jobs j WHERE j.queue = q.queue AND j.state = 'running') AS running
                FROM pgworker.queues q ORDER BY q.queue
                """).rows
            guard !rows.isEmpty else {
                print("(no queue is paused or limited)")
                return
            }
            var table = [["queue", "limit", "running", "paused"]]
            for row in rows {
                table.append([try row.decode("queue"), try row.decodeIfPresent("max_running", as: Int.self).map(String.init) ?? "none",
                              String(try row.decode("running", as: Int.self)), try row.decode("paused", as: Bool.self) ? "yes" : "no"])
            }
            print(TextColumns.render(table))
        }
    }

    /// `pgworker queue pause`.
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pause", abstract: "Stop workers claiming the queue's jobs (running ones finish).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The queue.")
        var queue: String

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            try await connection.query("SELECT pgworker.pause_queue($1)", [queue])
            print("queue \(queue) paused")
        }
    }

    /// `pgworker queue resume`.
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let workers claim the queue's jobs again.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The queue.")
        var queue: String

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            try await connection.query("SELECT pgworker.resume_queue($1)", [queue])
            print("queue \(queue) resumed")
        }
    }

    /// `pgworker queue limit`.
    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "limit", abstract: "Cap how many jobs of the queue run at once across every worker; 'none' removes the cap.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The queue.")
        var queue: String

        @Argument(help: "The cap (0 or more), or 'none'.")
        var limit: String

        func validate() throws {
            guard limit == "none" || (Int(limit).map { $0 >= 0 } ?? false) else {
                throw ValidationError("the limit must be a whole number of 0 or more, or 'none'")
            }
        }

        func run() async throws {
            let (connection, _) = try await database.connect()
            try await Migrator(connection: connection).requireCurrent()
            try await connection.query("SELECT pgworker.set_queue_limit($1, $2)", [queue, Int(limit)])
            print(limit == "none" ? "queue \(queue) has no limit" : "queue \(queue) runs at most \(limit) jobs at once")
        }
    }
}
