// An order service on Hummingbird and postgres-nio that enqueues pgworker jobs in its own
// transactions. POST /orders inserts the order, its `SendReceipt` job and the stock it takes in
// one postgres-nio transaction; the pgworker Worker in this process (or `pgworker run`
// elsewhere) runs the job. See README.md beside this file.
import Foundation
import Hummingbird
import Logging
import PGWorker
import PGWorkerNIO
import PQClient
import PostgresNIO
import ServiceLifecycle

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "orders-app")
let settings = Settings()
let client = PostgresClient(configuration: settings.postgres, backgroundLogger: logger)

var tasks = TaskRegistry()
tasks.register(SendReceipt.self) { receipt, job in
    // A real app would e-mail here; this one records that it did.
    logger.info("receipt for order \(receipt.orderID) sent to \(receipt.email) (job \(job.id))")
    try await client.query("UPDATE orders SET receipt_sent_at = now() WHERE id = \(receipt.orderID)", logger: logger)
}

let router = Router()
OrderRoutes(client: client).add(to: router)

var services: [any Service] = [client]
if settings.runsWorker {
    services.append(Worker(conninfo: settings.conninfo, tasks: tasks, logger: logger))
}
var app = Application(
    router: router,
    configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "orders-app"),
    services: services,
    onServerRunning: { channel in
        logger.notice("listening on \(settings.host):\(channel.localAddress?.port ?? settings.port)")
    },
    logger: logger)
app.beforeServerStarts {
    // pgworker's own libpq connection (PQConnection) beside postgres-nio's PostgresConnection:
    // the two libraries' names do not clash. It checks that `pgworker migrate` has run.
    let connection = try await PQConnection.connect(settings.conninfo, name: "orders-app")
    do {
        try await Migrator(connection: connection).requireCurrent()
    } catch {
        await connection.close()
        throw error
    }
    await connection.close()
    try await Schema.create(on: client, logger: logger)
}
try await app.runService()
