import Logging
import PQClient

/// Writes outcomes with `pgworker.complete_jobs` outside a claim: in one statement, or row by row
/// when PostgreSQL rejects the batch, so one bad outcome cannot block the rest.
///
/// The usual turn writes its outcomes together with its claim (``Producer``); this is for turns
/// with nothing to claim, a batch `complete_and_claim` rejected, and the final flush.
struct Completer: Sendable {
    let workerID: String
    let logger: Logger

    /// Writes `batch`, falling back to one statement per outcome if the batch is rejected. An
    /// outcome PostgreSQL cannot store is replaced by a failure saying so, so the job does not
    /// stay `running`. Throws only for a lost connection.
    func write(_ batch: [Completion], on connection: PQConnection) async throws {
        do {
            try await JobStatements.complete(connection, workerID: workerID, batch)
            return
        } catch let error as PQError where !error.isConnectionLoss && batch.count > 1 {
            logger.warning("batch of outcomes rejected, writing them one by one", metadata: ["error": "\(error)"])
        } catch let error as PQError where !error.isConnectionLoss {
            try await writeUnrecordable(batch[0], error, connection)
            return
        }
        for completion in batch {
            do {
                try await JobStatements.complete(connection, workerID: workerID, [completion])
            } catch let error as PQError where !error.isConnectionLoss {
                try await writeUnrecordable(completion, error, connection)
            }
        }
    }

    /// Records that an outcome could not be stored, so the job does not stay `running`.
    private func writeUnrecordable(_ completion: Completion, _ error: PQError, _ connection: PQConnection) async throws {
        logger.error("could not record a job's outcome", metadata: ["job": "\(completion.jobID)", "error": "\(error)"])
        try await JobStatements.complete(connection, workerID: workerID, [
            .failure(completion.jobID, error: "pgworker could not record this attempt's outcome: \(error)"),
        ])
    }
}
