import Foundation
import PQClient

/// A job as ``assertEnqueued(on:task:json:queue:state:count:)`` found it in `pgworker.jobs`.
public struct EnqueuedJob: Sendable, Equatable {
    /// The job's id.
    public let id: Int64
    /// Its task.
    public let task: String
    /// Its queue.
    public let queue: String
    /// Its payload, as jsonb prints it (keys sorted by length, then bytes; `", "` and `": "`).
    public let payload: String
    /// Its state: `available`, `running`, `succeeded`, ...
    public let state: String
}

/// ``assertEnqueued(on:task:json:queue:state:count:)`` did not find the jobs it expected.
public struct EnqueuedJobAssertionFailure: Error, Sendable, CustomStringConvertible {
    /// What was expected, in words.
    public let expected: String
    /// The jobs of the task that were there.
    public let found: [EnqueuedJob]

    /// A sentence for test failures, listing what was there.
    public var description: String {
        let jobs = found.map { "#\($0.id) \($0.queue) \($0.state) \($0.payload)" }.joined(separator: "; ")
        return "expected \(expected); found \(found.count) job(s) of the task\(found.isEmpty ? "" : ": \(jobs)")"
    }
}

/// Checks that `pgworker.jobs` holds jobs of `task` matching the filters, and returns them
/// (oldest first); throws ``EnqueuedJobAssertionFailure`` otherwise, which fails an XCTest or
/// swift-testing test that lets it propagate.
///
/// Jobs enqueued by an application-table trigger are staged first (`pgworker.staged_jobs`) and
/// appear here once a worker's claim (or `pgworker.move_staged_jobs()`) has moved them.
///
/// - Parameters:
///   - connection: a connection to the database.
///   - task: the task name.
///   - json: the expected payload as JSON text, compared as jsonb (so key order and spacing do
///     not matter); nil for any.
///   - queue: the expected queue; nil for any.
///   - state: the expected state; nil for any.
///   - count: how many matching jobs there must be; nil for at least one.
@discardableResult
public func assertEnqueued(
    on connection: PQConnection, task: String, json: String? = nil, queue: String? = nil,
    state: String? = nil, count: Int? = nil
) async throws -> [EnqueuedJob] {
    let all = try await enqueuedJobs(on: connection, task: task)
    let matching: [EnqueuedJob]
    if let json {
        let ids = Set(try await connection.query(
            "SELECT id FROM pgworker.jobs WHERE task = $1 AND payload = $2::jsonb", [task, json]
        ).rows.map { try $0.decode("id", as: Int64.self) })
        matching = all.filter { ids.contains($0.id) }
    } else {
        matching = all
    }
    let filtered = matching.filter { job in
        (queue.map { job.queue == $0 } ?? true) && (state.map { job.state == $0 } ?? true)
    }
    let enough = count.map { filtered.count == $0 } ?? !filtered.isEmpty
    guard enough else {
        var expected = count.map { "\($0) job(s)" } ?? "a job"
        expected += " of task \(task)"
        if let json { expected += " with payload \(json)" }
        if let queue { expected += " in queue \(queue)" }
        if let state { expected += " in state \(state)" }
        throw EnqueuedJobAssertionFailure(expected: expected, found: all)
    }
    return filtered
}

/// Like ``assertEnqueued(on:task:json:queue:state:count:)`` with the payload given as a value,
/// encoded as JSON (as `JobClient.add(_:payload:options:)` encodes it).
@discardableResult
public func assertEnqueued<Payload: Encodable>(
    on connection: PQConnection, task: String, payload: Payload, queue: String? = nil,
    state: String? = nil, count: Int? = nil
) async throws -> [EnqueuedJob] {
    let json = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
    return try await assertEnqueued(on: connection, task: task, json: json, queue: queue, state: state, count: count)
}

/// The jobs of `task` in `pgworker.jobs`, oldest first.
public func enqueuedJobs(on connection: PQConnection, task: String) async throws -> [EnqueuedJob] {
    try await connection.query(
        "SELECT id, task, queue, payload::text AS payload, state FROM pgworker.jobs WHERE task = $1 ORDER BY id", [task]
    ).rows.map { row in
        EnqueuedJob(id: try row.decode("id"), task: try row.decode("task"), queue: try row.decode("queue"),
                    payload: try row.decode("payload"), state: try row.decode("state"))
    }
}
