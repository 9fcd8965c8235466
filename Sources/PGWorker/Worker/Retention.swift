import PQClient

/// Deletes finished jobs past their retention (`pgworker.retention`, set with
/// `pgworker.set_retention`), in batches of `batchSize` so no statement holds many locks or runs
/// long. Every worker prunes periodically; `SKIP LOCKED` keeps concurrent pruners out of each
/// other's way, and with nothing to delete a pass is one index probe.
///
/// A pass stops after ``passBudget``: pruning shares the worker's main connection with its claim
/// turns, and a minute of finished jobs at tens of thousands a second takes tens of seconds to
/// delete. Deleted in one go, it stalled the claims behind it for a minute (measured at 15k jobs/s:
/// throughput fell to 1.4k/s). A pass that stopped early is continued at the next maintenance
/// tick, so the deletes are spread out and each turn waits at most one batch.
enum Retention {
    /// How long one pass may delete before it yields the connection until the next tick.
    static let passBudget: Duration = .milliseconds(250)

    /// What one pass did.
    struct Pass {
        /// Jobs deleted.
        var deleted: Int
        /// Whether it stopped at its budget with more to delete.
        var more: Bool
    }

    /// Deletes batch after batch until one comes back short or `budget` is spent.
    @discardableResult
    static func prune(_ connection: PQConnection, batchSize: Int = 1000, budget: Duration = passBudget) async throws -> Pass {
        let started = ContinuousClock.now
        var total = 0
        while !Task.isCancelled {
            let deleted: Int = try await connection.queryPrepared(
                "SELECT pgworker.prune_jobs($1) AS deleted", [batchSize]).rows[0].decode("deleted")
            total += deleted
            if deleted < batchSize { return Pass(deleted: total, more: false) }
            if ContinuousClock.now - started >= budget { return Pass(deleted: total, more: true) }
        }
        return Pass(deleted: total, more: true)
    }
}
