import Logging
import PQClient

/// A worker's periodic chores, on the worker's main connection, once per poll interval:
/// - cancels running jobs whose cancellation it may have missed (a notification is lost while
///   the listener reconnects);
/// - re-reads which queues have a running-jobs limit (``LimitedQueues``);
/// - deletes the claim rewinds no floor can still need (`pgworker.prune_claim_rewinds`);
/// - every ``WorkerConfiguration/pruneInterval``, prunes finished jobs (``Retention``).
struct WorkerMaintenance: Sendable {
    let connection: ManagedConnection
    let configuration: WorkerConfiguration
    let runningJobs: RunningJobs
    let limitedQueues: LimitedQueues
    let logger: Logger
    /// Told after each pass that read the queue caps.
    let progress: WorkerProgress

    /// Runs until cancelled.
    func run() async {
        let managed = connection
        var lastPrune: ContinuousClock.Instant?
        // A pass that stopped at its budget is continued at the next tick (Retention).
        var pruneBehind = false
        var prunedSinceLog = 0
        var lastPruneLog = ContinuousClock.now
        while !Task.isCancelled {
            do {
                let connection = try await managed.connection()
                let running = runningJobs.jobIDs
                if !running.isEmpty {
                    let requested: [Int64] = try await connection.queryPrepared(
                        "SELECT job_id FROM pgworker.cancel_requests WHERE job_id = ANY ($1::bigint[])", [running]
                    ).rows.map { try $0.decode("job_id") }
                    let cancelled = runningJobs.cancel(requested)
                    if !cancelled.isEmpty {
                        logger.info("cancelling jobs on request", metadata: ["jobs": "\(cancelled)"])
                    }
                }
                let limited: [String] = try await connection.queryPrepared(
                    "SELECT queue FROM pgworker.queues WHERE max_running IS NOT NULL"
                ).rows.map { try $0.decode("queue") }
                limitedQueues.update(Set(limited))
                progress.queueCapsRead()
                try await connection.queryPrepared("SELECT pgworker.prune_claim_rewinds()")
                if let interval = configuration.pruneInterval, pruneBehind || lastPrune.map({ .now - $0 >= interval }) ?? true {
                    if !pruneBehind { lastPrune = .now }
                    let pass = try await Retention.prune(connection)
                    pruneBehind = pass.more
                    prunedSinceLog += pass.deleted
                    // One line per interval at most, however many passes it took.
                    if prunedSinceLog > 0 && (!pass.more || .now - lastPruneLog >= interval) {
                        logger.info("pruned finished jobs past their retention", metadata: ["jobs": "\(prunedSinceLog)"])
                        prunedSinceLog = 0
                        lastPruneLog = .now
                    }
                }
            } catch {
                if !(await managed.invalidate(after: error)) {
                    logger.warning("worker maintenance failed; retrying", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }
}
