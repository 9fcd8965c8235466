import Logging
import PQClient

/// A worker's periodic chores, on the worker's main connection, once per poll interval:
/// - cancels running jobs whose cancellation it may have missed (a notification is lost while
///   the listener reconnects);
/// - re-reads which queues have a running-jobs limit (``LimitedQueues``);
/// - deletes the claim rewinds no floor can still need (`pgworker.prune_claim_rewinds`), and once
///   a minute writes one at the first runnable job of each task it handles
///   (`pgworker.rewind_claims_to_first_runnable`: jobs made runnable without a trigger firing);
/// - every ``WorkerConfiguration/pruneInterval``, prunes finished jobs (``Retention``).
struct WorkerMaintenance: Sendable {
    let connection: ManagedConnection
    let configuration: WorkerConfiguration
    /// The tasks this worker's turns claim (its Swift and command tasks).
    let taskNames: [String]
    let runningJobs: RunningJobs
    let limitedQueues: LimitedQueues
    let logger: Logger
    /// Told after each pass that read the queue caps.
    let progress: WorkerProgress

    /// How often the claim floors of this worker's tasks are rewound to their first runnable job.
    static let rewindInterval: Duration = .seconds(60)

    /// Runs until cancelled.
    func run() async {
        let managed = connection
        var lastPrune: ContinuousClock.Instant?
        var lastRewind: ContinuousClock.Instant?
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
                if lastRewind.map({ .now - $0 >= Self.rewindInterval }) ?? true {
                    lastRewind = .now
                    try await connection.queryPrepared(
                        "SELECT pgworker.rewind_claims_to_first_runnable($1::text[], $2)",
                        [taskNames, configuration.handlesSQLTasks])
                }
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
