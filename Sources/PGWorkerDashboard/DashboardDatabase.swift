import PGWorker
import PQClient

/// The dashboard's one database connection, opened on first use and reopened after it is lost.
/// A dashboard's queries are small and few, so one connection (which serialises them) is enough.
actor DashboardDatabase {
    private let conninfo: String
    private var current: PQConnection?

    init(conninfo: String) {
        self.conninfo = conninfo
    }

    /// Runs one statement with bound parameters, reconnecting once if the connection was lost.
    func query(_ sql: String, _ parameters: [(any PQEncodable)?] = []) async throws -> PQResult {
        do {
            return try await connection().query(sql, parameters)
        } catch let error as PQError where error.isConnectionLoss {
            await drop()
            return try await connection().query(sql, parameters)
        }
    }

    /// The claim's health (``QueueHealth``), reconnecting once if the connection was lost.
    func health() async throws -> QueueHealth {
        do {
            return try await QueueHealth.read(connection())
        } catch let error as PQError where error.isConnectionLoss {
            await drop()
            return try await QueueHealth.read(connection())
        }
    }

    /// Closes the connection.
    func close() async {
        await drop()
    }

    private func connection() async throws -> PQConnection {
        if let current { return current }
        let connection = try await PQConnection.connect(conninfo, name: "dashboard")
        if let current {  // another request connected while this one waited
            await connection.close()
            return current
        }
        current = connection
        return connection
    }

    private func drop() async {
        if let current { await current.close() }
        current = nil
    }
}
