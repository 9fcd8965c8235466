/// A fixed number of ``ManagedConnection``s, leased one caller at a time.
actor ConnectionPool {
    private var idle: [ManagedConnection]
    private var waiters: [CheckedContinuation<ManagedConnection, Never>] = []
    private let all: [ManagedConnection]
    /// How many connections it holds.
    nonisolated let size: Int

    init(conninfo: String, size: Int, name: String, preparedStatements: Bool = true) {
        all = (0..<max(1, size)).map {
            ManagedConnection(conninfo: conninfo, name: "\(name)-\($0 + 1)", preparedStatements: preparedStatements)
        }
        idle = all
        self.size = all.count
    }

    /// Runs `body` with a connection of its own, waiting for one to be free.
    func withConnection<T: Sendable>(_ body: @Sendable (ManagedConnection) async throws -> T) async throws -> T {
        let connection = await lease()
        defer { release(connection) }
        return try await body(connection)
    }

    private func lease() async -> ManagedConnection {
        if let connection = idle.popLast() { return connection }
        return await withCheckedContinuation { waiters.append($0) }
    }

    private func release(_ connection: ManagedConnection) {
        if waiters.isEmpty {
            idle.append(connection)
        } else {
            waiters.removeFirst().resume(returning: connection)
        }
    }

    /// Closes every connection.
    func close() async {
        for connection in all { await connection.close() }
    }
}
