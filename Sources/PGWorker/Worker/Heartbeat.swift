import Logging

/// Liveness, every ``WorkerConfiguration/heartbeatInterval``: upserts this worker's row, and
/// rescues the jobs of workers whose heartbeat is older than ``WorkerConfiguration/staleAfter``
/// (`pgworker.rescue_stale_jobs`, River's "rescuer"), requesting a claim when it did. Each beat
/// also writes the claim-turn latency since the previous one (``ClaimTurnTimes``).
struct Heartbeat: Sendable {
    let configuration: WorkerConfiguration
    let main: ManagedConnection
    let registration: WorkerRegistration
    let state: EngineState
    let claimTurnTimes: ClaimTurnTimes
    let logger: Logger

    /// Beats until its task is cancelled.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            do {
                let connection = try await main.connection()
                // Registering only: giving back unknown jobs is the turn loop's (WorkerRegistration).
                try await registration.register(connection)
                let turns = claimTurnTimes.takeInterval()
                try await JobStatements.reportClaimTurns(
                    connection, workerID: configuration.workerID, turns: turns.turns, p99Milliseconds: turns.p99Milliseconds)
                let rescued = try await JobStatements.rescue(connection, staleAfter: configuration.staleAfter)
                if !rescued.isEmpty {
                    logger.notice("rescued jobs from workers that stopped heartbeating", metadata: ["jobs": "\(rescued)"])
                    state.requestClaim()
                }
            } catch {
                // A lost main connection is dropped by the turn loop, maintenance or cron, whichever
                // next uses it (ConnectionRecovery); the next beat then reconnects.
                logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
