import Logging
import PostgresNIO

/// The app's own tables, created when missing, with two products in stock. (A real app would
/// migrate them; pgworker's schema comes from `pgworker migrate`.)
enum Schema {
    static func create(on client: PostgresClient, logger: Logger) async throws {
        try await client.query("""
            CREATE TABLE IF NOT EXISTS stock (
                sku       text PRIMARY KEY,
                available integer NOT NULL CHECK (available >= 0))
            """, logger: logger)
        try await client.query("""
            CREATE TABLE IF NOT EXISTS orders (
                id              bigserial PRIMARY KEY,
                email           text NOT NULL,
                sku             text NOT NULL REFERENCES stock,
                quantity        integer NOT NULL CHECK (quantity > 0),
                receipt_sent_at timestamptz)
            """, logger: logger)
        try await client.query(
            "INSERT INTO stock (sku, available) VALUES ('widget', 100), ('gadget', 3) ON CONFLICT DO NOTHING",
            logger: logger)
    }
}
