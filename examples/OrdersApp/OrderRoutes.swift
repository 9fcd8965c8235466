import Foundation
import Hummingbird
import PGWorkerNIO
import PostgresNIO

/// What `POST /orders` takes.
struct OrderRequest: Decodable {
    let email: String
    let sku: String
    let quantity: Int
}

/// What `POST /orders` answers (201).
struct CreatedOrder: ResponseEncodable {
    let orderID: Int64
    let jobID: Int64
}

/// What `GET /orders/:id` answers.
struct OrderSummary: ResponseEncodable {
    let id: Int64
    let email: String
    let sku: String
    let quantity: Int
    let receiptSent: Bool
}

/// The stock could not cover the order; the transaction rolls back.
struct OutOfStock: Error {}

/// `POST /orders` and `GET /orders/:id`.
struct OrderRoutes {
    let client: PostgresClient

    func add(to router: Router<BasicRequestContext>) {
        router.post("/orders") { request, context in
            let order = try await request.decode(as: OrderRequest.self, context: context)
            return EditedResponse(status: .created, response: try await place(order, logger: context.logger))
        }
        router.get("/orders/:id") { _, context in
            let id = try context.parameters.require("id", as: Int64.self)
            guard let summary = try await summary(id, logger: context.logger) else {
                throw HTTPError(.notFound)
            }
            return summary
        }
    }

    /// The order, its receipt job and the stock it takes, in one transaction: all or nothing.
    func place(_ order: OrderRequest, logger: Logger) async throws -> CreatedOrder {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let inserted = try await connection.query("""
                    INSERT INTO orders (email, sku, quantity)
                    VALUES (\(order.email), \(order.sku), \(order.quantity)) RETURNING id
                    """, logger: logger)
                var orderID: Int64 = 0
                for try await id in inserted.decode(Int64.self) { orderID = id }
                let job = try await connection.addJob(SendReceipt(orderID: orderID, email: order.email), logger: logger)
                // Taken last on purpose: when the stock is short, the order *and its job* roll back.
                let reserved = try await connection.query("""
                    UPDATE stock SET available = available - \(order.quantity)
                    WHERE sku = \(order.sku) AND available >= \(order.quantity) RETURNING sku
                    """, logger: logger).collect()
                guard !reserved.isEmpty else { throw OutOfStock() }
                return CreatedOrder(orderID: orderID, jobID: job.id)
            }
        } catch let error as PostgresTransactionError where error.closureError is OutOfStock {
            throw HTTPError(.conflict, message: "out of stock")
        } catch let error as PostgresTransactionError where (error.closureError as? PSQLError)?.serverInfo?[.sqlState] == "23503" {
            throw HTTPError(.notFound, message: "no such product")
        }
    }

    func summary(_ id: Int64, logger: Logger) async throws -> OrderSummary? {
        let rows = try await client.query(
            "SELECT id, email, sku, quantity, receipt_sent_at IS NOT NULL FROM orders WHERE id = \(id)", logger: logger)
        for try await (id, email, sku, quantity, sent) in rows.decode((Int64, String, String, Int, Bool).self) {
            return OrderSummary(id: id, email: email, sku: sku, quantity: quantity, receiptSent: sent)
        }
        return nil
    }
}
