import Foundation
import XCTest

/// The deployment files: docker-compose.yml (validated offline by docker-compose) and the systemd unit.
final class DeploymentTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testDockerComposeFileIsValidAndRequiresADashboardToken() async throws {
        guard let compose = installedProgram("docker-compose") else {
            throw XCTSkip("docker-compose is not installed (scripts/setup installs it)")
        }
        let file = root.appendingPathComponent("docker-compose.yml").path
        let environment = ["PGWORKER_DASHBOARD_TOKEN": "test-token"]
        let valid = try await runProcess(compose, ["-f", file, "config", "-q"], environment: environment)
        XCTAssertEqual(valid.status, 0, valid.stderr)

        let resolved = try await runProcess(compose, ["-f", file, "config", "--services"], environment: environment)
        XCTAssertEqual(Set(resolved.stdout.split(separator: "\n").map(String.init)), ["postgres", "migrate", "worker", "dashboard"])
        let full = try await runProcess(compose, ["-f", file, "config"], environment: environment)
        XCTAssertTrue(full.stdout.contains("PGWORKER_DASHBOARD_TOKEN: test-token"), full.stdout)
        XCTAssertTrue(full.stdout.contains("condition: service_completed_successfully"), "workers start after migrate")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("Dockerfile").path))

        let missingToken = try await runProcess(compose, ["-f", file, "config", "-q"], removingEnvironment: ["PGWORKER_DASHBOARD_TOKEN"])
        XCTAssertNotEqual(missingToken.status, 0, "the exposed dashboard must not start without a token")
        XCTAssertTrue(missingToken.stderr.contains("PGWORKER_DASHBOARD_TOKEN"), missingToken.stderr)
    }

    func testSystemdUnitVerifies() async throws {
        guard let analyze = installedProgram("systemd-analyze") else { throw XCTSkip("systemd-analyze is not installed") }
        // Point the unit at files that exist here; everything else is verified as shipped.
        let unit = try String(contentsOf: root.appendingPathComponent("deploy/pgworker.service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/pgworker", with: BuiltProducts.pgworker)
            .replacingOccurrences(of: "/etc/pgworker/pgworker.env", with: root.appendingPathComponent("deploy/pgworker.env").path)
            .replacingOccurrences(of: "User=pgworker", with: "User=root")
            .replacingOccurrences(of: "Group=pgworker", with: "Group=root")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("pgworker.service").path
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let verified = try await runProcess(analyze, ["verify", path])
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertEqual(verified.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "", "no warnings")
    }
}
