import Logging
import PQClient

/// Once a minute, writes a claim rewind at the first runnable job of each task this worker
/// handles (`pgworker.rewind_claims_to_first_runnable`), so turns find jobs made runnable by a
/// path that fired no trigger (SQL/migrations/015).
///
/// That lookup walks the claim index from the front, which under a snapshot held open elsewhere
/// takes seconds to minutes. So it runs on a connection of its own, opened for each lookup and
/// closed after it, never on the main connection: there it held the claim turns queued behind it
/// (a minute at 400 jobs/s in a pinned bench-sustained run).
struct FloorRewinder: Sendable {
    let conninfo: String
    /// The worker's Swift and command tasks.
    let taskNames: [String]
    /// Whether the worker also runs the registered SQL tasks.
    let includeSQLTasks: Bool
    let logger: Logger

    static let interval: Duration = .seconds(60)

    /// Runs until cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.interval)
            if Task.isCancelled { return }
            let managed = ManagedConnection(conninfo: conninfo, name: "floor-rewinder", preparedStatements: false)
            do {
                let connection = try await managed.connection()
                _ = try await withTaskCancellationHandler {
                    try await connection.query(
                        "SELECT pgworker.rewind_claims_to_first_runnable($1::text[], $2)", [taskNames, includeSQLTasks])
                } onCancel: {
                    connection.cancelRunningQuery()
                }
            } catch {
                if !Task.isCancelled {
                    logger.warning("could not rewind the claim floors; trying again in a minute", metadata: ["error": "\(error)"])
                }
            }
            await managed.close()
        }
    }
}
