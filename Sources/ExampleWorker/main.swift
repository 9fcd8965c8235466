// An example of running pgworker from your own Swift executable, with Swift handlers.
//
//     DATABASE_URL=postgresql://... swift run pgworker-example
//
// Settings come from the environment (all optional): DATABASE_URL, CONCURRENCY,
// POLL_SECONDS, HEARTBEAT_SECONDS, STALE_AFTER_SECONDS, GRACE_SECONDS. The fault-injection tests
// run this binary as a real worker process and kill it, restart the database under it, and so on.
import Foundation
import Logging
import PGWorker
import PQClient
import ServiceLifecycle

struct Greeting: Codable, Sendable { var name: String }
struct Nap: Codable, Sendable { var ms: Int }

let environment = ProcessInfo.processInfo.environment
func seconds(_ name: String, _ fallback: Double) -> Duration {
    .milliseconds(Int((environment[name].flatMap(Double.init) ?? fallback) * 1000))
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .notice
    return handler
}
let logger = Logger(label: "pgworker-example")
let conninfo = environment["DATABASE_URL"] ?? ""

/// The application's own connection for handlers that touch its tables; reopened when lost
/// (a database restart, say), so handlers fail one attempt at most and then work again.
actor AppDatabase {
    let conninfo: String
    var connection: PQConnection?

    init(conninfo: String) { self.conninfo = conninfo }

    func query(_ sql: String, _ parameters: [(any PQEncodable)?]) async throws {
        let connection: PQConnection
        if let existing = self.connection {
            connection = existing
        } else {
            connection = try await PQConnection.connect(conninfo, name: "app")
            self.connection = connection
        }
        do {
            try await connection.query(sql, parameters)
        } catch let error as PQError where error.isConnectionLoss {
            self.connection = nil
            throw error
        }
    }
}
let appConnection = AppDatabase(conninfo: conninfo)

var tasks = TaskRegistry()
tasks.register("greet", payload: Greeting.self) { greeting, _ in
    ["greeting": "hello \(greeting.name)"]
}
// Records every execution in the application's `executions` table, so duplicates can be counted.
tasks.register("record", payload: [String: Int].self) { _, job in
    try await appConnection.query("INSERT INTO executions (job_id, pid) VALUES ($1, $2)",
                                  [job.id, Int(ProcessInfo.processInfo.processIdentifier)])
}
tasks.register("sleep", payload: Nap.self) { nap, _ in
    try await Task.sleep(for: .milliseconds(nap.ms))
    return ["slept_ms": nap.ms]
}

var configuration = WorkerConfiguration()
configuration.concurrency = environment["CONCURRENCY"].flatMap(Int.init) ?? 10
configuration.pollInterval = seconds("POLL_SECONDS", 1)
configuration.heartbeatInterval = seconds("HEARTBEAT_SECONDS", 5)
configuration.staleAfter = seconds("STALE_AFTER_SECONDS", 25)
configuration.shutdownGracePeriod = seconds("GRACE_SECONDS", 30)

let worker = Worker(conninfo: conninfo, tasks: tasks, configuration: configuration, logger: logger)
let group = ServiceGroup(configuration: ServiceGroupConfiguration(
    services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
