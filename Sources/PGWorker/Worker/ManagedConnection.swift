import Logging
import PQClient

/// A connection that is opened on first use and reopened after it is lost.
///
/// Callers report connection-loss errors with ``invalidate(after:)``; the next ``connection()``
/// connects again. Concurrent callers share one connection attempt.
actor ManagedConnection {
    private let conninfo: String
    private let name: String
    private var current: PQConnection?
    private var connecting: Task<PQConnection, any Error>?
    private let preparedStatements: Bool

    /// - Parameter preparedStatements: whether connections use named prepared statements
    ///   (see ``WorkerConfiguration/usesPreparedStatements``).
    init(conninfo: String, name: String, preparedStatements: Bool = true) {
        self.conninfo = conninfo
        self.name = name
        self.preparedStatements = preparedStatements
    }

    /// The open connection, connecting first if needed.
    func connection() async throws -> PQConnection {
        if let current { return current }
        if let connecting { return try await connecting.value }
        let conninfo = self.conninfo, name = self.name, preparedStatements = self.preparedStatements
        let task = Task {
            let connection = try await PQConnection.connect(conninfo, name: name)
            if !preparedStatements { await connection.setUsesPreparedStatements(false) }
            return connection
        }
        connecting = task
        defer { connecting = nil }
        let connection = try await task.value
        current = connection
        return connection
    }

    /// Drops the connection if `error` means it is unusable. Returns whether it did.
    @discardableResult
    func invalidate(after error: any Error) async -> Bool {
        guard let error = error as? PQError, error.isConnectionLoss else { return false }
        if let current { await current.close() }
        current = nil
        return true
    }

    /// Closes the connection.
    func close() async {
        if let current { await current.close() }
        current = nil
    }
}
