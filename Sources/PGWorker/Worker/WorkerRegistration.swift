import Foundation
import Logging
import PQClient

/// The worker's row in `pgworker.workers`, and giving back jobs the worker holds without knowing.
///
/// A claim whose reply was lost (the connection broke after the server ran it) leaves jobs
/// `running` and locked by this worker that it never started. ``releaseUnknownJobs(_:)`` gives
/// them back. Only the turn loop may call it: only there are the running jobs plus the unwritten
/// outcomes (``EngineState/heldJobIDs``) exactly what the worker holds. Elsewhere a claim or a
/// write may be in flight, and its jobs are in neither list (releasing them would run them twice).
struct WorkerRegistration: Sendable {
    let workerID: String
    let taskNames: [String]
    let configuration: WorkerConfiguration
    let state: EngineState
    let logger: Logger

    /// Upserts this worker's row (the heartbeat calls it too).
    func register(_ connection: PQConnection) async throws {
        try await JobStatements.register(
            connection, workerID: workerID, host: ProcessInfo.processInfo.hostName,
            pid: ProcessInfo.processInfo.processIdentifier, tasks: taskNames,
            queues: configuration.queues, handlesSQLTasks: configuration.handlesSQLTasks)
    }

    /// Gives back every job locked by this worker that it neither runs nor has an outcome for.
    /// Turn loop only (see the type's documentation).
    func releaseUnknownJobs(_ connection: PQConnection) async throws {
        let released = try await JobStatements.release(connection, workerID: workerID, keeping: state.heldJobIDs)
        if !released.isEmpty {
            logger.notice("gave back jobs claimed while the connection was failing", metadata: ["jobs": "\(released)"])
        }
    }

    /// ``register(_:)`` then ``releaseUnknownJobs(_:)``: at start, and after a restored connection
    /// or an unreadable claim reply. Turn loop only.
    func registerAndReleaseUnknownJobs(_ connection: PQConnection) async throws {
        try await register(connection)
        try await releaseUnknownJobs(connection)
    }
}
