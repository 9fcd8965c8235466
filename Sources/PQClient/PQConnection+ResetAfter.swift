import CLibPQ

/// Running one statement and resetting the session after it in a single round trip.
extension PQConnection {
    /// Runs `sql` in its own transaction, then resets the session as
    /// ``resetSession(keepingCachedPlans:)`` does with `keepingCachedPlans: true`, both sent at
    /// once in libpq's pipeline mode: one round trip instead of two. The reset runs whether or
    /// not the statement failed.
    ///
    /// Returns the statement's rows and, if the reset failed, why (the session is then in an
    /// unknown state: close the connection). `settings` (name, value) are set for the session
    /// just before the statement, in the same round trip (`statement_timeout`, say: the reset
    /// undoes them). Throws the statement's error (its COMMIT's included), or a connection error;
    /// when it throws, the reset may not have run. Without prepared statements
    /// (``setUsesPreparedStatements(_:)``, behind a transaction-pooling PgBouncer) the two go
    /// one after the other.
    public func queryThenResetSession(_ sql: String, _ parameters: [(any PQEncodable)?] = [],
                                      settings: [(name: String, value: String)] = []) throws
        -> (result: PQResult, resetFailure: PQError?) {
        guard usesPreparedStatements else {
            for setting in settings { try query(Self.setConfig, [setting.name, setting.value]) }
            let result = try query(sql, parameters)
            do {
                try resetSession(keepingCachedPlans: true)
                return (result, nil)
            } catch let error as PQError {
                return (result, error)
            }
        }
        let handle = try requireHandle()
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            throw PQError(kind: .usage, message: "queryThenResetSession runs its own transaction; one is already open")
        }
        guard PQenterPipelineMode(handle) == 1 else {
            throw PQError.connection(handle, context: "cannot enter pipeline mode")
        }
        // The prepared statements go with the reset's DEALLOCATE ALL.
        preparedStatements.removeAll()
        var sent = true
        for setting in settings where sent {
            sent = withParameterPointers([setting.name, setting.value]) { values, count in
                PQsendQueryParams(handle, Self.setConfig, count, nil, values, nil, nil, 0)
            } == 1
        }
        sent = sent && withParameterPointers(parameters) { values, count in
            PQsendQueryParams(handle, sql, count, nil, values, nil, nil, 0)
        } == 1 && PQpipelineSync(handle) == 1
        for statement in Self.resetStatements where sent {
            sent = PQsendQueryParams(handle, statement, 0, nil, nil, nil, nil, 0) == 1
        }
        guard sent, PQpipelineSync(handle) == 1 else {
            var error = PQError.connection(handle, context: "cannot send a statement")
            error.kind = .connection
            dropBrokenConnection()
            throw error
        }
        // The settings' results and the statement's, each followed by a NULL, then the sync point.
        var outcome: Result<PQResult, PQError> = .failure(PQError(kind: .usage, message: "no result"))
        for index in 0...settings.count {
            do {
                let result = try consume(PQgetResult(handle))
                if index == settings.count { outcome = .success(result) }
            } catch let error as PQError {
                // A failed setting aborts the rest up to the sync point.
                outcome = .failure(error)
                break
            }
            // The NULL that ends this statement's results.
            if let extra = PQgetResult(handle) { PQclear(extra) }
        }
        let statementSync = readToSync(handle)
        // The reset's statements, then the second sync point.
        let resetSync = readToSync(handle)
        guard PQstatus(handle) == CONNECTION_OK, statementSync.reached, resetSync.reached,
              PQexitPipelineMode(handle) == 1 else {
            var error = lostConnection(handle)
            if case .failure(let failure) = outcome { error = failure }
            error.kind = .connection
            dropBrokenConnection()
            throw error
        }
        // An error after the statement's rows and before its sync point is its transaction's
        // COMMIT failing (a deferred constraint, say): nothing of it happened.
        if case .success = outcome, let commitFailure = statementSync.failure { outcome = .failure(commitFailure) }
        return (try outcome.get(), resetSync.failure)
    }

    private static let setConfig = "SELECT pg_catalog.set_config($1, $2, false)"

    /// What ``resetSession(keepingCachedPlans:)`` sends with `keepingCachedPlans: true`, one statement each.
    static let resetStatements = [
        "CLOSE ALL", "SET SESSION AUTHORIZATION DEFAULT", "RESET ALL", "DEALLOCATE ALL", "UNLISTEN *",
        "SELECT pg_catalog.pg_advisory_unlock_all()", "DISCARD TEMP", "DISCARD SEQUENCES",
    ]

    /// Reads results up to the next sync point in pipeline mode: whether it was reached, and the
    /// first error on the way.
    private func readToSync(_ handle: OpaquePointer) -> (reached: Bool, failure: PQError?) {
        var failure: PQError?
        var separators = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // A NULL ends one statement's results; two in a row mean nothing is left to read.
                separators += 1
                if separators > 1 || PQstatus(handle) != CONNECTION_OK { return (false, failure) }
                continue
            }
            separators = 0
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(result)
                return (true, failure)
            }
            if failure == nil, status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED {
                failure = PQError(result: result, connection: handle)
            }
            PQclear(result)
        }
    }
}
