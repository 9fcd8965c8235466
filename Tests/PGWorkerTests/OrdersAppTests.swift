import Foundation
import PGWorkerTesting
import PQClient
import XCTest

/// The example app (examples/OrdersApp, Hummingbird + postgres-nio + pgworker) as a real process:
/// an order and its job commit together and the in-process worker runs the job; a request that
/// fails after enqueueing rolls both back.
final class OrdersAppTests: XCTestCase {
    func testOrderAndItsJobCommitTogetherAndAFailedOrderLeavesNoJob() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try TestProcess("OrdersApp", environment: [
            "PGHOST": TestCluster.directory.appendingPathComponent("run").path, "PGPORT": "5432",
            "PGUSER": "postgres", "PGDATABASE": database.name, "ORDERS_APP_PORT": "0",
        ], removingEnvironment: ["PGPASSWORD", "DATABASE_URL", "ORDERS_APP_HOST", "ORDERS_APP_WORKER"])
        let listening = try await app.waitForLine { $0.contains("listening on 127.0.0.1:") }
        let port = try XCTUnwrap(listening.split(separator: ":").last.flatMap { Int($0) }, listening)

        let placed = try await postOrder(port: port, #"{"email": "ada@example.com", "sku": "gadget", "quantity": 2}"#)
        XCTAssertEqual(placed.status, 201, placed.body + app.output)
        let created = try JSONDecoder().decode(Created.self, from: Data(placed.body.utf8))

        let check = try await database.connect("check")
        try await eventually("the receipt job never succeeded:\n\(app.output)") {
            try await check.query("SELECT state FROM pgworker.jobs WHERE id = $1", [created.jobID])
                .rows.first?.decode("state", as: String.self) == "succeeded"
        }
        let order = try await check.query(
            "SELECT email, receipt_sent_at IS NOT NULL AS sent FROM orders WHERE id = $1", [created.orderID]).rows[0]
        XCTAssertEqual(try order.decode("email", as: String.self), "ada@example.com")
        XCTAssertTrue(try order.decode("sent", as: Bool.self))
        try await assertEnqueued(on: check, task: "send_receipt",
                                 json: #"{"orderID": \#(created.orderID), "email": "ada@example.com"}"#,
                                 queue: "mail", state: "succeeded", count: 1)

        // One gadget is left: the order's row and job were written, then the stock fell short.
        let refused = try await postOrder(port: port, #"{"email": "bob@example.com", "sku": "gadget", "quantity": 2}"#)
        XCTAssertEqual(refused.status, 409, refused.body)
        let unknown = try await postOrder(port: port, #"{"email": "eve@example.com", "sku": "nothing", "quantity": 1}"#)
        XCTAssertEqual(unknown.status, 404, unknown.body)
        let value1 = try await check.value("SELECT count(*) AS n FROM orders")
        XCTAssertEqual(value1, 1)
        let value2 = try await check.value("SELECT count(*) AS n FROM pgworker.jobs")
        XCTAssertEqual(value2, 1)
        let value3 = try await check.value("SELECT available FROM stock WHERE sku = 'gadget'", as: Int.self)
        XCTAssertEqual(value3, 1)

        let summary = try await RawHTTP.request(port: port, "/orders/\(created.orderID)", host: "127.0.0.1")
        XCTAssertEqual(summary.status, 200)
        XCTAssertTrue(summary.body.contains(#""receiptSent":true"#), summary.body)

        let status = await app.terminate()
        XCTAssertEqual(status, 0, app.output)
    }

    func testRefusesToStartOnADatabaseWithoutPGWorkersSchema() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let app = try TestProcess("OrdersApp", environment: environment(database),
                                  removingEnvironment: ["PGPASSWORD", "DATABASE_URL", "ORDERS_APP_HOST"])
        let status = try await app.waitForExit(timeout: .seconds(30))
        XCTAssertNotNil(status, "the app kept running:\n\(app.output)")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(app.output.contains("run `pgworker migrate` first"), app.output)
    }

    private func environment(_ database: TestDatabase) -> [String: String] {
        ["PGHOST": TestCluster.directory.appendingPathComponent("run").path, "PGPORT": "5432",
         "PGUSER": "postgres", "PGDATABASE": database.name, "ORDERS_APP_PORT": "0", "ORDERS_APP_WORKER": "0"]
    }

    private struct Created: Decodable {
        let orderID: Int64
        let jobID: Int64
    }

    private func postOrder(port: Int, _ json: String) async throws -> HTTPReply {
        try await RawHTTP.request(port: port, "/orders", method: "POST", host: "127.0.0.1",
                                  headers: [("Content-Type", "application/json")], body: Array(json.utf8))
    }
}
