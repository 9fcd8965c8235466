import CLibPQ
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to PostgreSQL over libpq.
///
/// Every call runs on the connection's own thread (see ``ThreadExecutor``), so blocking libpq
/// calls never occupy Swift's cooperative thread pool, and the actor guarantees that the
/// underlying `PGconn` is used by one caller at a time. Methods are synchronous inside the
/// actor: a call such as ``withTransaction(_:)`` cannot be interleaved with another caller's
/// statements.
public actor PostgresConnection {
    private let executor: ThreadExecutor
    private var connection: ConnectionHandle?
    private var handle: OpaquePointer? { connection?.raw }
    private let wakePipe = WakePipe()
    private let cancelHandle = CancelHandle()
    private var preparedStatements: [String: String] = [:]
    /// When false, ``queryPrepared(_:_:)`` behaves like ``query(_:_:)``.
    private var usesPreparedStatements = true
    /// A statement of ``queryPreparedBeforeCommit(_:_:)`` whose commit has not been read yet.
    private var commitPending = false
    /// Why the last such commit failed, until ``confirmCommit()`` reports it.
    private var commitFailure: PostgresError?

    /// A short name used for the connection's thread; useful in debuggers and logs.
    public nonisolated let name: String

    /// Runs this actor's code on the connection's dedicated thread.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    private init(name: String) {
        self.name = name
        self.executor = ThreadExecutor(name: "pg:\(name)")
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - conninfo: a `postgresql://` URL or a `key=value` connection string; an empty string uses
    ///     libpq's defaults and the standard `PG*` environment variables.
    ///   - name: a label for the connection's thread and `application_name`.
    public static func connect(_ conninfo: String, name: String = "pgworker") async throws -> PostgresConnection {
        let connection = PostgresConnection(name: name)
        try await connection.open(conninfo)
        return connection
    }

    private func open(_ conninfo: String) throws {
        let keywords = ["dbname", "fallback_application_name", "client_encoding"]
        let values = [conninfo, "pgworker", "UTF8"]
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let error = PostgresError.connection(connection, context: "cannot connect to PostgreSQL")
            if let connection { PQfinish(connection) }
            throw error
        }
        // libpq prints server notices to stderr by default; a library must not.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = ConnectionHandle(connection)
        cancelHandle.replace(with: PQgetCancel(connection))
    }

    /// True while the connection is open and healthy as far as libpq knows.
    public var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server process id of this connection's backend (for `pg_terminate_backend`, logs).
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// Closes the connection. Further calls fail with a connection error.
    public func close() {
        cancelHandle.replace(with: nil)
        connection = nil
        preparedStatements.removeAll()
        if commitPending {
            commitPending = false
            recordCommitFailure(PostgresError(kind: .connection, message: "connection closed before its last commit was confirmed"))
        }
    }

    /// Runs one statement with bound parameters (`$1`, `$2`, ...), sent separately from the SQL text.
    ///
    /// `nil` parameters are sent as SQL NULL.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> PostgresResult {
        let handle = try requireHandle()
        let result = withParameterPointers(parameters) { values, count in
            PQexecParams(handle, sql, count, nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Like ``query(_:_:)``, but prepares the statement once per connection and reuses the plan.
    ///
    /// Use it for statements the caller runs many times with different parameters.
    @discardableResult
    public func queryPrepared(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> PostgresResult {
        guard usesPreparedStatements else { return try query(sql, parameters) }
        let handle = try requireHandle()
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle)
        let result = withParameterPointers(parameters) { values, count in
            PQexecPreparedSafe(handle, name, count, values)
        }
        return try consume(result)
    }

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
    public func queryPreparedBeforeCommit(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> PostgresResult {
        guard usesPreparedStatements else { return try query(sql, parameters) }
        let handle = try requireHandle()
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else {
            throw PostgresError(kind: .usage, message: "queryPreparedBeforeCommit runs its own transaction; one is already open")
        }
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle)
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError.connection(handle, context: "cannot enter pipeline mode")
        }
        let sent = withParameterPointers(parameters) { values, count in
            PQsendQueryPrepared(handle, name, count, values, nil, nil, 0)
        }
        guard sent == 1, PQsendFlushRequest(handle) == 1, PQpipelineSync(handle) == 1 else {
            // Nothing reliable was sent: the connection is unusable either way.
            var error = PostgresError.connection(handle, context: "cannot send a statement")
            error.kind = .connection
            preparedStatements.removeAll()
            connection = nil
            cancelHandle.replace(with: nil)
            throw error
        }
        commitPending = true
        let result: PostgresResult
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
        if commitPending { recordCommitFailure(try settlePendingCommit(try openHandle())) }
        if let failure = commitFailure {
            commitFailure = nil
            throw failure
        }
    }

    /// Turns named prepared statements on or off for this connection. Turn them off behind a
    /// transaction-pooling PgBouncer (before 1.21), where consecutive statements may reach different
    /// server connections, so a statement prepared on one is missing, or means something else, on another.
    public func setUsesPreparedStatements(_ enabled: Bool) {
        usesPreparedStatements = enabled
    }

    /// Runs one or more statements separated by semicolons, without parameters
    /// (the simple query protocol). Use it for scripts such as migrations.
    public func execute(_ sql: String) throws {
        let handle = try requireHandle()
        // PQexec returns only the last result; errors stop the script and are reported there.
        _ = try consume(PQexec(handle, sql))
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`, rolling back if it throws.
    ///
    /// The body is synchronous and isolated to this connection, so no other caller's statement
    /// can slip into the transaction.
    public func withTransaction<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isOpen { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Quotes an identifier (a table, column or channel name) for use in SQL text.
    public func quoteIdentifier(_ identifier: String) throws -> String {
        let handle = try requireHandle()
        guard let quoted = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
            throw PostgresError.connection(handle, context: "cannot quote identifier")
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// Starts listening on a channel. The name is quoted, so any string is safe.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try quoteIdentifier(channel))")
    }

    /// Returns notifications that have arrived, waiting up to `timeout` for the first one.
    ///
    /// The wait blocks only this connection's thread, in `poll(2)`, so an idle listener costs
    /// nothing. It returns early, possibly with no notifications, when ``interruptWait()`` is
    /// called. It throws when the connection is lost.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        let handle = try requireHandle()
        guard PQconsumeInput(handle) == 1 else { throw lostConnection(handle) }
        var notifications = drainNotifications(handle)
        if !notifications.isEmpty { return notifications }

        let socket = PQsocket(handle)
        guard socket >= 0 else { throw lostConnection(handle) }
        var descriptors = [
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakePipe.readDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&descriptors, 2, max(0, milliseconds))
        if ready < 0 && errno != EINTR {
            throw PostgresError(kind: .connection, message: "poll() failed: errno \(errno)")
        }
        if descriptors[1].revents != 0 { wakePipe.drain() }
        if descriptors[0].revents != 0 {
            guard PQconsumeInput(handle) == 1 else { throw lostConnection(handle) }
            notifications = drainNotifications(handle)
        }
        return notifications
    }

    /// Makes a pending or the next ``waitForNotifications(timeout:)`` return at once.
    /// Safe to call from any thread or task.
    public nonisolated func interruptWait() {
        wakePipe.wake()
    }

    /// Asks the server to cancel the statement this connection is running, if any.
    /// Safe to call from any thread or task; the cancelled statement fails with SQLSTATE 57014.
    public nonisolated func cancelRunningQuery() {
        cancelHandle.cancel()
    }

    // MARK: - Internals

    /// The connection, ready for a new statement: a commit still under way is waited for first.
    private func requireHandle() throws -> OpaquePointer {
        let handle = try openHandle()
        if commitPending { recordCommitFailure(try settlePendingCommit(handle)) }
        return handle
    }

    /// Keeps a failed commit for ``confirmCommit()``; an earlier one not yet reported stays first.
    private func recordCommitFailure(_ failure: PostgresError?) {
        if commitFailure == nil { commitFailure = failure }
    }

    private func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(kind: .connection, message: "connection is closed")
        }
        return handle
    }

    /// Reads the results up to the sync point of a pipelined statement -- the outcome of its
    /// commit -- and leaves pipeline mode. Returns why the commit failed, if it did. When the
    /// connection is lost it throws, and keeps that error for ``confirmCommit()`` as well: the
    /// commit's outcome is then unknown.
    private func settlePendingCommit(_ handle: OpaquePointer) throws -> PostgresError? {
        commitPending = false
        var failure: PostgresError?
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
                failure = PostgresError(result: result, connection: handle)
            }
            PQclear(result)
        }
        guard PQstatus(handle) == CONNECTION_OK, PQexitPipelineMode(handle) == 1 else {
            var error = failure ?? lostConnection(handle)
            error.kind = .connection
            preparedStatements.removeAll()
            connection = nil
            cancelHandle.replace(with: nil)
            recordCommitFailure(error)
            throw error
        }
        return failure
    }

    /// The name of `sql`'s prepared statement on this connection, preparing it on first use.
    private func preparedName(for sql: String, parameterCount: Int, _ handle: OpaquePointer) throws -> String {
        if let existing = preparedStatements[sql] { return existing }
        let name = "pgworker_\(preparedStatements.count + 1)"
        _ = try consume(PQprepare(handle, name, sql, Int32(parameterCount), nil))
        preparedStatements[sql] = name
        return name
    }

    private func lostConnection(_ handle: OpaquePointer) -> PostgresError {
        PostgresError.connection(handle, context: "connection to PostgreSQL lost")
    }

    private func drainNotifications(_ handle: OpaquePointer) -> [PostgresNotification] {
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let value = notify.pointee
            notifications.append(PostgresNotification(
                channel: String(cString: value.relname),
                payload: value.extra.map { String(cString: $0) } ?? "",
                senderPID: value.be_pid
            ))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Turns a libpq result into rows, or into a ``PostgresError``; always frees the result.
    private func consume(_ result: OpaquePointer?) throws -> PostgresResult {
        guard let result else {
            throw PostgresError.connection(handle, context: "no result from PostgreSQL")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresResult(rows: [], affectedRows: affectedRows(result))
        case PGRES_TUPLES_OK:
            return PostgresResult(rows: readRows(result), affectedRows: affectedRows(result))
        default:
            var error = PostgresError(result: result, connection: handle)
            if let handle, PQstatus(handle) != CONNECTION_OK {
                error.kind = .connection
            }
            if error.kind == .connection { preparedStatements.removeAll() }
            throw error
        }
    }

    private func affectedRows(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    private func readRows(_ result: OpaquePointer) -> [PostgresRow] {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = PostgresColumns(names: (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) })
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        return rows
    }
}

/// libpq's `PQexecPrepared` with text-format parameters and results.
private func PQexecPreparedSafe(
    _ handle: OpaquePointer, _ name: String, _ count: Int32,
    _ values: UnsafePointer<UnsafePointer<CChar>?>?
) -> OpaquePointer? {
    PQexecPrepared(handle, name, count, values, nil, nil, 0)
}

/// Calls `body` with a C array of parameter strings (`nil` for NULL) that lives for the call.
private func withParameterPointers<R>(
    _ parameters: [(any PostgresEncodable)?],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) -> R
) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = parameters.map { parameter in
        parameter.map { strdup($0.postgresText) }
    }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { buffer in
        body(buffer.baseAddress, Int32(parameters.count))
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Owns a `PGconn`; closing happens when the owning actor lets go of it.
private final class ConnectionHandle {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { PQfinish(raw) }
}

/// Holds libpq's `PGcancel` object, which may be used from any thread to cancel a running statement.
private final class CancelHandle: Sendable {
    /// The `PGcancel` pointer's address, 0 when there is none. `PGcancel` is documented as safe to
    /// use from a thread other than the connection's; the mutex orders replacing it against use.
    private let address = Mutex<UInt>(0)

    deinit { replace(with: nil) }

    func replace(with new: OpaquePointer?) {
        address.withLock { current in
            if let old = OpaquePointer(bitPattern: current) { PQfreeCancel(old) }
            current = new.map { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer($0))) } ?? 0
        }
    }

    func cancel() {
        address.withLock { current in
            guard let cancel = OpaquePointer(bitPattern: current) else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &buffer, Int32(buffer.count))
        }
    }
}
