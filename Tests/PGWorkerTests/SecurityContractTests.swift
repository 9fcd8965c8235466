import Foundation
@testable import PGWorker
import PQClient
import XCTest

/// docs/security.md states what each role may do; its grants table must be exactly what a
/// migrated database grants.
final class SecurityContractTests: XCTestCase {
    /// Every right granted on schema pgworker's objects to PUBLIC or a pgworker role, one line per
    /// (role, object), as the table in docs/security.md writes it.
    static func grantedRights(_ connection: PQConnection) async throws -> [String] {
        try await connection.query("""
            WITH roles AS (
                SELECT 0::oid AS oid, 'PUBLIC'::text AS name
                UNION ALL
                SELECT r.oid, r.rolname::text FROM pg_roles r
                WHERE r.rolname IN ('pgworker_app', 'pgworker_worker', 'pgworker_admin', 'pgworker_stager', 'pgworker_enqueuer')
            ), rights AS (
                SELECT g.name, 'schema pgworker' AS object, a.privilege_type AS privilege, NULL::text AS column_name
                FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN roles g ON g.oid = a.grantee
                WHERE n.nspname = 'pgworker'
                UNION ALL
                SELECT g.name, CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'S' THEN 'sequence ' ELSE 'table ' END || c.relname,
                       a.privilege_type, NULL
                FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN roles g ON g.oid = a.grantee
                WHERE c.relnamespace = 'pgworker'::regnamespace
                UNION ALL
                SELECT g.name, 'table ' || c.relname, a.privilege_type, att.attname::text
                FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
                CROSS JOIN LATERAL aclexplode(att.attacl) a JOIN roles g ON g.oid = a.grantee
                WHERE c.relnamespace = 'pgworker'::regnamespace
                UNION ALL
                SELECT g.name, 'function ' || p.proname, a.privilege_type, NULL
                FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a JOIN roles g ON g.oid = a.grantee
                WHERE p.pronamespace = 'pgworker'::regnamespace
                UNION ALL
                SELECT g.name, 'member of ' || r.rolname, 'MEMBER', NULL
                FROM pg_auth_members m JOIN roles g ON g.oid = m.member JOIN pg_roles r ON r.oid = m.roleid
            ), per_privilege AS (
                SELECT name, object, privilege
                       || coalesce(' (' || string_agg(column_name, ', ' ORDER BY column_name) || ')', '') AS text
                FROM rights GROUP BY name, object, privilege
            )
            SELECT format('| %s | %s | %s |', name, object, string_agg(text, ', ' ORDER BY text)) AS line
            FROM per_privilege GROUP BY name, object ORDER BY name, object
            """).rows.map { try $0.decode("line") }
    }

    func testSecurityDocumentListsExactlyTheGrants() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        let actual = try await Self.grantedRights(connection)
        let document = try String(contentsOf: SchemaDump.repositoryRoot.appendingPathComponent("docs/security.md"), encoding: .utf8)
        guard let begin = document.range(of: "<!-- grants:begin -->"), let end = document.range(of: "<!-- grants:end -->") else {
            return XCTFail("docs/security.md has no grants table between <!-- grants:begin --> and <!-- grants:end -->")
        }
        let documented = document[begin.upperBound..<end.lowerBound].split(separator: "\n")
            .map(String.init).filter { $0.hasPrefix("| pgworker_") || $0.hasPrefix("| PUBLIC") }
        XCTAssertEqual(documented, actual, "docs/security.md should list:\n" + actual.joined(separator: "\n"))
        XCTAssertFalse(actual.contains { $0.hasPrefix("| PUBLIC") }, "nothing of pgworker is granted to PUBLIC")
    }
}
