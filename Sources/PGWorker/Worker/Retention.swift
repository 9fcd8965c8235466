import PQClient

/// Deletes finished jobs past their retention (`pgworker.retention`, set with
/// `pgworker.set_retention`), in batches of `batchSize` so no statement holds many locks or runs
/// long. Every worker prunes periodically; `SKIP LOCKED` keeps concurrent pruners out of each
/// other's way, and with nothing to delete a pass is one index probe.
enum Retention {
    /// Deletes batch after batch until one comes back short. Returns how many jobs it deleted.
    @discardableResult
    static func prune(_ connection: PQConnection, batchSize: Int = 1000) async throws -> Int {
        var total = 0
        while !Task.isCancelled {
            let deleted: Int = try await connection.queryPrepared(
                "SELECT pgworker.prune_jobs($1) AS deleted", [batchSize]).rows[0].decode("deleted")
            total += deleted
            if deleted < batchSize { break }
        }
        return total
    }
}
