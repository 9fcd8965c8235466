import CLibPQ

/// The commit of a statement sent with ``PQConnection/queryPreparedBeforeCommit(_:_:)``,
/// as far as the connection has read it.
struct PipelinedCommit: Sendable {
    /// The statement's results have been read, the outcome of its commit not yet.
    var isPending = false
    /// Why a commit failed, until ``PQConnection/confirmCommit()`` reports it.
    var failure: PQError?

    /// Keeps a failed commit for ``PQConnection/confirmCommit()``; an earlier one not yet
    /// reported stays first.
    mutating func record(_ failure: PQError?) {
        if self.failure == nil { self.failure = failure }
    }
}

/// Running one statement in its own transaction and acting on its rows before the commit is
/// known: libpq's pipeline mode, with a flush request between the statement and the sync point.
extension PQConnection {
    /// Like ``queryPrepared(_:_:)`` for one statement in its own transaction, but returns its rows
    /// as soon as the statement has run, while the server is still committing.
    ///
    /// The statement, a flush request and the commit go out together in libpq's pipeline mode,
    /// and the server sends the rows before it commits. So the caller can act on them during the
    /// commit's WAL flush -- but must not treat their effect as durable or even committed until
    /// ``confirmCommit()`` returns. Any later call on this connection first waits for the commit;
    /// a failed commit is kept for ``confirmCommit()`` to report. Not for use inside a transaction
    /// block (it throws). Without prepared statements (``setUsesPreparedStatements(_:)``) it is
    /// ``query(_:_:)``, committed on return.
    @discardableResult
    public func queryPreparedBeforeCommit(_ sql: String, _ parameters: [(any PQEncodable)?] = []) throws -> PQResult {
        guard usesPreparedStatements else { return try query(sql, parameters) }
        let handle = try requireHandle()
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            throw PQError(kind: .usage, message: "queryPreparedBeforeCommit runs its own transaction; one is already open")
        }
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle)
        guard PQenterPipelineMode(handle) == 1 else {
            throw PQError.connection(handle, context: "cannot enter pipeline mode")
        }
        let sent = withParameterPointers(parameters) { values, count in
            PQsendQueryPrepared(handle, name, count, values, nil, nil, 0)
        }
        guard sent == 1, PQsendFlushRequest(handle) == 1, PQpipelineSync(handle) == 1 else {
            // Nothing reliable was sent: the connection is unusable either way.
            var error = PQError.connection(handle, context: "cannot send a statement")
            error.kind = .connection
            dropBrokenConnection()
            throw error
        }
        pipelinedCommit.isPending = true
        let result: PQResult
        do {
            result = try consume(PQgetResult(handle))
        } catch {
            // The statement failed, so nothing is left to commit: read up to the sync point, whose
            // "pipeline aborted" says nothing new.
            _ = try settlePendingCommit(handle)
            throw error
        }
        // The end of the statement's results.
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return result
    }

    /// Waits for the commit of the last ``queryPreparedBeforeCommit(_:_:)`` if it is still under
    /// way, and throws if a commit of it failed since the last call (its rows were then never
    /// committed); the first such failure is reported, once. Returns at once when there is
    /// nothing to confirm.
    public func confirmCommit() throws {
        if pipelinedCommit.isPending { pipelinedCommit.record(try settlePendingCommit(try openHandle())) }
        if let failure = pipelinedCommit.failure {
            pipelinedCommit.failure = nil
            throw failure
        }
    }

    /// Before any other statement: reads the outcome of a commit still under way, keeping a
    /// failure for ``confirmCommit()``.
    func settlePendingCommitIfAny(_ handle: OpaquePointer) throws {
        if pipelinedCommit.isPending { pipelinedCommit.record(try settlePendingCommit(handle)) }
    }

    /// On close: a commit still under way can no longer be confirmed, which counts as a failure.
    func abandonPendingCommit() {
        guard pipelinedCommit.isPending else { return }
        pipelinedCommit.isPending = false
        pipelinedCommit.record(PQError(kind: .connection, message: "connection closed before its last commit was confirmed"))
    }

    /// Reads the results up to the sync point of a pipelined statement -- the outcome of its
    /// commit -- and leaves pipeline mode. Returns why the commit failed, if it did. When the
    /// connection is lost it throws, and keeps that error for ``confirmCommit()`` as well: the
    /// commit's outcome is then unknown.
    private func settlePendingCommit(_ handle: OpaquePointer) throws -> PQError? {
        pipelinedCommit.isPending = false
        var failure: PQError?
        var separators = 0
        while true {
            guard let result = PQgetResult(handle) else {
                // In a pipeline a NULL ends one statement's results; two in a row mean nothing is
                // left to read (a broken connection, say).
                separators += 1
                if separators > 1 || PQstatus(handle) != CONNECTION_OK { break }
                continue
            }
            separators = 0
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(result)
                break
            }
            if failure == nil, status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED {
                failure = PQError(result: result, connection: handle)
            }
            PQclear(result)
        }
        guard PQstatus(handle) == CONNECTION_OK, PQexitPipelineMode(handle) == 1 else {
            var error = failure ?? lostConnection(handle)
            error.kind = .connection
            dropBrokenConnection()
            pipelinedCommit.record(error)
            throw error
        }
        return failure
    }
}
