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
public actor PQConnection {
    private let executor: ThreadExecutor
    private var connection: ConnectionHandle?
    var handle: OpaquePointer? { connection?.raw }
    private let wakePipe = WakePipe()
    private let cancelHandle = CancelHandle()
    /// Prepared statements on this connection: SQL text to statement name.
    var preparedStatements: [String: String] = [:]
    /// When false, ``queryPrepared(_:_:)`` behaves like ``query(_:_:)``.
    var usesPreparedStatements = true
    /// The commit of the last ``queryPreparedBeforeCommit(_:_:)`` (PQConnection+PipelinedCommit.swift).
    var pipelinedCommit = PipelinedCommit()

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
    public static func connect(_ conninfo: String, name: String = "pgworker") async throws -> PQConnection {
        let connection = PQConnection(name: name)
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
            let error = PQError.connection(connection, context: "cannot connect to PostgreSQL")
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
        abandonPendingCommit()
    }

    /// Runs one statement with bound parameters (`$1`, `$2`, ...), sent separately from the SQL text.
    ///
    /// `nil` parameters are sent as SQL NULL.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PQEncodable)?] = []) throws -> PQResult {
        let handle = try requireHandle()
        let result = withParameterPointers(parameters) { values, count in
            // Types inferred by the server, text-format parameters and results.
            PQexecParams(handle, sql, count, nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Like ``query(_:_:)``, but prepares the statement once per connection and reuses the plan.
    ///
    /// Use it for statements the caller runs many times with different parameters.
    @discardableResult
    public func queryPrepared(_ sql: String, _ parameters: [(any PQEncodable)?] = []) throws -> PQResult {
        guard usesPreparedStatements else { return try query(sql, parameters) }
        let handle = try requireHandle()
        let name = try preparedName(for: sql, parameterCount: parameters.count, handle)
        let result = withParameterPointers(parameters) { values, count in
            // Text-format parameters and results.
            PQexecPrepared(handle, name, count, values, nil, nil, 0)
        }
        return try consume(result)
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

    /// Brings the session back to the state of a new connection: rolls back an open
    /// transaction, then `DISCARD ALL` (settings, role, temporary tables, session advisory
    /// locks, LISTENs, prepared statements, cached plans). Prepared statements are prepared again
    /// on their next use.
    public func resetSession() throws {
        try resetSession(keepingCachedPlans: false)
    }

    /// Like ``resetSession()``, but with `keepingCachedPlans` the server keeps the plans it
    /// cached for PL/pgSQL functions (which the session cannot change), so their next calls need
    /// no new plans: everything `DISCARD ALL` does but `DISCARD PLANS`. Prepared statements are
    /// deallocated either way, since code run in the session could have replaced them.
    public func resetSession(keepingCachedPlans: Bool) throws {
        let handle = try requireHandle()
        if PQtransactionStatus(handle) != PQTRANS_IDLE { try execute("ROLLBACK") }
        preparedStatements.removeAll()
        try execute(keepingCachedPlans
            ? "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; "
                + "SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES"
            : "DISCARD ALL")
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`, rolling back if it throws.
    ///
    /// The body is synchronous and isolated to this connection, so no other caller's statement
    /// can slip into the transaction.
    public func withTransaction<T: Sendable>(_ body: @Sendable (isolated PQConnection) throws -> T) throws -> T {
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
            throw PQError.connection(handle, context: "cannot quote identifier")
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
    public func waitForNotifications(timeout: Duration) throws -> [PQNotification] {
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
            throw PQError(kind: .connection, message: "poll() failed: errno \(errno)")
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

    /// The connection, ready for a new statement: a pipelined commit still under way is read first.
    func requireHandle() throws -> OpaquePointer {
        let handle = try openHandle()
        try settlePendingCommitIfAny(handle)
        return handle
    }

    /// The open connection, as it is (a pipelined commit may still be under way).
    func openHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PQError(kind: .connection, message: "connection is closed")
        }
        return handle
    }

    /// Forgets the connection after it broke: its prepared statements and cancel handle go with it.
    func dropBrokenConnection() {
        preparedStatements.removeAll()
        connection = nil
        cancelHandle.replace(with: nil)
    }

    /// The name of `sql`'s prepared statement on this connection, preparing it on first use.
    func preparedName(for sql: String, parameterCount: Int, _ handle: OpaquePointer) throws -> String {
        if let existing = preparedStatements[sql] { return existing }
        let name = "pgworker_\(preparedStatements.count + 1)"
        _ = try consume(PQprepare(handle, name, sql, Int32(parameterCount), nil))
        preparedStatements[sql] = name
        return name
    }

    func lostConnection(_ handle: OpaquePointer) -> PQError {
        PQError.connection(handle, context: "connection to PostgreSQL lost")
    }

    private func drainNotifications(_ handle: OpaquePointer) -> [PQNotification] {
        var notifications: [PQNotification] = []
        while let notify = PQnotifies(handle) {
            let value = notify.pointee
            notifications.append(PQNotification(
                channel: String(cString: value.relname),
                payload: value.extra.map { String(cString: $0) } ?? "",
                senderPID: value.be_pid
            ))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Turns a libpq result into rows, or into a ``PQError``; always frees the result.
    func consume(_ result: OpaquePointer?) throws -> PQResult {
        guard let result else {
            throw PQError.connection(handle, context: "no result from PostgreSQL")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PQResult(rows: [], affectedRows: affectedRows(result))
        case PGRES_TUPLES_OK:
            return PQResult(rows: readRows(result), affectedRows: affectedRows(result))
        default:
            var error = PQError(result: result, connection: handle)
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

    private func readRows(_ result: OpaquePointer) -> [PQRow] {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = PQColumns(names: (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) })
        var rows: [PQRow] = []
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
            rows.append(PQRow(columns: columns, values: values))
        }
        return rows
    }
}

/// Calls `body` with a C array of parameter strings (`nil` for NULL) that lives for the call.
func withParameterPointers<R>(
    _ parameters: [(any PQEncodable)?],
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
