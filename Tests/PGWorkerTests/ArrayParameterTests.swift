import PQClient
import XCTest

/// Array parameters reach PostgreSQL element for element, whatever the elements contain.
final class ArrayParameterTests: XCTestCase {
    func testHostileElementsRoundTrip() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let elements = [
            "plain", "", "NULL", "a,b", "{braces}", "quote \" inside", "back \\ slash", "\\\"",
            "\"\u{301}combining mark after a quote", "\\\u{301}", "emoji 👩‍👩‍👧 and ünïcödé",
        ]
        let result = try await connection.query(
            "SELECT e, n FROM unnest($1::text[]) WITH ORDINALITY AS u(e, n) ORDER BY n", [elements])
        XCTAssertEqual(try result.rows.map { try $0.decode("e", as: String.self) }, elements)

        let nullable = try await connection.query(
            "SELECT e IS NULL AS missing, e FROM unnest($1::text[]) WITH ORDINALITY AS u(e, n) ORDER BY n",
            [PQNullableArray<String>(["x\"", nil, "y"])])
        XCTAssertEqual(try nullable.rows.map { try $0.decodeIfPresent("e", as: String.self) }, ["x\"", nil, "y"])
    }
}
