import PQClient

/// How a worker runs the jobs of one SQL task, from `pgworker.sql_task_plan`.
struct SQLTaskPlan: Sendable {
    /// A function runs inside the transaction that records the outcome; a procedure is CALLed
    /// outside any transaction block (so it may COMMIT) and its outcome recorded afterwards.
    enum Kind: String, Sendable {
        case function
        case procedure
    }

    let kind: Kind
    /// The task's `timeout` option in milliseconds, enforced with `statement_timeout`.
    let timeoutMilliseconds: Int?
    /// For procedures: `CALL schema.proc($1::jsonb)`, names quoted by the database.
    let callStatement: String?

    /// The plan for `task`, or nil when no SQL task of that name is registered.
    static func load(_ connection: PQConnection, task: String) async throws -> SQLTaskPlan? {
        let result = try await connection.queryPrepared(
            "SELECT kind, timeout_ms, call_statement FROM pgworker.sql_task_plan($1)", [task])
        guard let row = result.first else { return nil }
        guard let kind = Kind(rawValue: try row.decode("kind")) else { return nil }
        return SQLTaskPlan(
            kind: kind,
            timeoutMilliseconds: try row.decodeIfPresent("timeout_ms", as: Int.self),
            callStatement: try row.decodeIfPresent("call_statement", as: String.self))
    }
}
