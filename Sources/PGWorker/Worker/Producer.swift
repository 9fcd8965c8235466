import Logging
import PQClient

/// The turn loop (River's "producer"): on each wake-up that makes a turn due, writes the
/// outcomes that have accumulated and claims as many runnable jobs as there is room for, in one
/// round trip when there are both, and hands the claimed jobs to ``JobExecutor``.
///
/// It is the only code that claims, writes a turn's outcomes and gives back unknown jobs (see
/// ``WorkerRegistration``).
struct Producer: Sendable {
    let workerID: String
    let taskNames: [String]
    let configuration: WorkerConfiguration
    let registry: TaskRegistry
    let main: ManagedConnection
    let state: EngineState
    let shutdown: ShutdownState
    let pacer: TurnPacer
    let completer: Completer
    let registration: WorkerRegistration
    let recovery: ConnectionRecovery
    let limitedQueues: LimitedQueues
    let localQueueLimits: LocalQueueLimits
    let progress: WorkerProgress
    let claimTurnTimes: ClaimTurnTimes
    let logger: Logger

    /// Takes turns until the worker is stopped and holds nothing, or must cancel its running
    /// jobs; `start` runs the claimed jobs.
    func run(start: ([ClaimedJob]) -> Void) async {
        for await _ in state.wakeupStream {
            if shutdown.cancelsRunningJobs { break }
            if pacer.isTurnDue() {
                start(await takeTurn())
            }
            if shutdown.isStopping && state.holdsNothing { break }
        }
    }

    /// One turn: write finished outcomes and claim as many jobs as there is room for, in one
    /// round trip when there are both. Returns the jobs to start.
    func takeTurn() async -> [ClaimedJob] {
        var claimTurn: Int?
        do {
            let connection = try await main.connection()
            try await confirmLastTurn(connection)
            // Outcomes stay in the state until written, so a reconnect in between (which gives back
            // every running job this worker does not know of) still knows them.
            let batch = state.pendingOutcomes
            let (claims, free) = state.takeClaimRequest(concurrency: configuration.concurrency, stopping: shutdown.isStopping)
            if claims { claimTurn = progress.claimTurnBegins() }
            var jobs: [ClaimedJob] = []
            if claims && !batch.isEmpty {
                do {
                    let sent = ContinuousClock.now
                    jobs = try await JobStatements.completeAndClaim(
                        connection, workerID: workerID, batch, tasks: taskNames, queues: configuration.queues,
                        limit: free, includeSQLTasks: configuration.handlesSQLTasks, localRoom: localQueueLimits.roomJSON())
                    claimTurnTimes.record(ContinuousClock.now - sent)
                    state.outcomesAwaitCommit(batch.count, on: connection)
                } catch let error as PQError where error.kind == .server && !error.isConnectionLoss {
                    // The server rejected the batch (nothing was written or claimed): write it the careful way.
                    try await completer.write(batch, on: try await main.connection())
                    state.outcomesWritten(batch.count)
                    jobs = try await claim(connection, limit: free)
                }
            } else {
                if !batch.isEmpty {
                    try await completer.write(batch, on: try await main.connection())
                    state.outcomesWritten(batch.count)
                }
                guard claims else { return [] }
                jobs = try await claim(connection, limit: free)
            }
            if jobs.contains(where: needsCommittedClaim), try await !confirmLastTurn(connection) {
                reportClaimTurn(claimTurn, started: 0, failed: false)
                return []
            }
            if jobs.isEmpty {
                // Nothing to start during the commit: wait for it now rather than at the next
                // turn, so a completed claim turn that found nothing has its writes committed.
                try await confirmLastTurn(connection)
            }
            let (start, claimAgain) = state.admit(jobs, claimedAll: jobs.count == free, concurrency: configuration.concurrency)
            localQueueLimits.claimed(start)
            if recovery.connectionRestored() { await registerAgain(connection) }
            if claimAgain { state.wakeLoop() }
            reportClaimTurn(claimTurn, started: start.count, failed: false)
            return start
        } catch {
            state.requestClaim()
            if let error = error as? PQError, error.kind == .decoding || error.kind == .usage,
               let connection = try? await main.connection() {
                // Claimed rows came back that this worker cannot read: it holds jobs it does not
                // know. Give them back.
                await registerAgain(connection)
            }
            await recovery.recover(from: error, main)
            reportClaimTurn(claimTurn, started: 0, failed: true)
            return []
        }
    }

    /// A turn's claimed rows come back before its transaction commits, so its jobs start during
    /// the commit's WAL flush (`queryPreparedBeforeCommit`). This waits for that commit: only then
    /// do the outcomes the turn wrote leave the pending outcomes. If it failed, nothing of the
    /// turn happened: its outcomes are written again, and its claims never took effect. A job that
    /// started anyway is claimed again, here or by another worker. Claimed here while it still
    /// runs, ``EngineState/admit(_:claimedAll:concurrency:)`` does not start it a second time, and
    /// that run's outcome counts for the new claim; otherwise it runs again (the at-least-once
    /// contract every job has).
    ///
    /// Returns whether the turn committed (true also when there was nothing to confirm); throws
    /// when the connection was lost, and the commit's outcome is unknown.
    @discardableResult
    func confirmLastTurn(_ connection: PQConnection) async throws -> Bool {
        do {
            try await connection.confirmCommit()
            state.lastTurnCommitted(on: connection)
            return true
        } catch {
            state.lastTurnNotCommitted()
            if let error = error as? PQError, error.isConnectionLoss { throw error }
            logger.error("a turn's transaction failed to commit: its claims did not happen, and its jobs will be claimed again",
                         metadata: ["error": "\(error)"])
            // Its jobs are runnable again: claim them without waiting for a notification.
            state.requestClaim()
            return false
        }
    }

    /// Whether a job may start only once its claim has committed: SQL tasks and handlers that
    /// ask for it, and jobs whose claim other workers must see before they run -- a lock-key job
    /// (no other job of its key may start meanwhile) or one of a queue with a running cap.
    private func needsCommittedClaim(_ job: ClaimedJob) -> Bool {
        guard let handler = registry.handler(for: job.task) else { return true }
        return handler.needsCommittedClaim || job.hasLockKey || limitedQueues.contains(job.queue)
    }

    private func claim(_ connection: PQConnection, limit: Int) async throws -> [ClaimedJob] {
        let sent = ContinuousClock.now
        let jobs = try await JobStatements.claim(
            connection, workerID: workerID, tasks: taskNames, queues: configuration.queues,
            limit: limit, includeSQLTasks: configuration.handlesSQLTasks, localRoom: localQueueLimits.roomJSON())
        claimTurnTimes.record(ContinuousClock.now - sent)
        return jobs
    }

    /// Re-registers and gives back jobs this worker holds without knowing (see
    /// ``WorkerRegistration``); on failure the next successful turn tries again.
    private func registerAgain(_ connection: PQConnection) async {
        do {
            try await registration.registerAndReleaseUnknownJobs(connection)
        } catch {
            recovery.restoreFailed()
        }
    }

    private func reportClaimTurn(_ number: Int?, started: Int, failed: Bool) {
        guard let number else { return }
        progress.claimTurnCompleted(ClaimTurnReport(
            number: number, startedJobs: started, runningJobs: state.runningCount,
            unwrittenOutcomes: state.pendingOutcomeCount, failed: failed))
    }
}
