import Logging

/// After the turn loop has ended: confirms the last turn, writes the outcomes that are left,
/// gives back anything still held and deregisters; five tries, then the jobs are left to be
/// rescued once this worker's heartbeat is stale.
struct FinalFlush: Sendable {
    let workerID: String
    let main: ManagedConnection
    let producer: Producer
    let completer: Completer
    let state: EngineState
    let logger: Logger

    /// Runs the flush.
    func run() async {
        for attempt in 1...5 {
            do {
                try await producer.confirmLastTurn(try await main.connection())
                let batch = state.pendingOutcomes
                if !batch.isEmpty {
                    try await completer.write(batch, on: try await main.connection())
                    state.outcomesWritten(batch.count)
                }
                let connection = try await main.connection()
                try await JobStatements.release(connection, workerID: workerID, keeping: [])
                try await JobStatements.deregister(connection, workerID: workerID)
                return
            } catch {
                await main.invalidate(after: error)
                logger.warning("could not record final outcomes (attempt \(attempt) of 5)", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        logger.error("gave up recording final outcomes; the jobs will be rescued once this worker's heartbeat is stale")
    }
}
