import Foundation
import PGWorker
import PQClient
import XCTest

/// Jobs as types: registered and enqueued without repeating the task name, with the type's default
/// options, and run by a real worker.
final class TypedJobTests: XCTestCase {
    struct SendReceipt: JobParameters {
        static let jobName = "send_receipt"
        static let defaultOptions = JobOptions(queue: "mail", priority: -1, maxAttempts: 3)
        let orderID: Int
        let email: String
    }

    struct Receipt: Codable, Sendable { let sent: String }

    func testTypedJobRunsWithItsDefaultOptionsAndDecodedPayload() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        let queued = try await client.add(SendReceipt(orderID: 7, email: "a@example.com"))
        XCTAssertEqual(queued.task, "send_receipt")
        XCTAssertEqual(queued.queue, "mail")
        XCTAssertEqual(queued.priority, -1)
        XCTAssertEqual(queued.maxAttempts, 3)
        // Options given for one job replace the type's.
        let urgent = try await client.add(SendReceipt(orderID: 8, email: "b@example.com"), options: JobOptions(queue: "urgent"))
        XCTAssertEqual(urgent.queue, "urgent")

        var tasks = TaskRegistry()
        tasks.register(SendReceipt.self) { receipt, _ in Receipt(sent: "\(receipt.orderID) to \(receipt.email)") }
        try await withTestWorker(database, tasks: tasks) { _ in
            let record = try await client.addAndWait(SendReceipt(orderID: 9, email: "c@example.com"), timeout: .seconds(20))
            XCTAssertEqual(record.state, .succeeded)
            XCTAssertEqual(record.result, #"{"sent": "9 to c@example.com"}"#)
            try await eventually { try await app.jobsAll([queued.id, urgent.id], in: "succeeded") }
        }
    }
}
