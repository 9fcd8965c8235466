import Foundation
import XCTest

/// A real PgBouncer in transaction pooling mode on a loopback port, in front of the test cluster's
/// Unix socket. Started per test and stopped when the test ends.
struct PgBouncer: Sendable {
    /// The port it listens on.
    let port: Int
    /// The address in ``conninfo(database:)``.
    var host = "127.0.0.1"

    /// The connection string for `database` through the pooler.
    func conninfo(database: String) -> String {
        "host=\(host) port=\(port) user=postgres dbname='\(database)'"
    }

    /// - Parameters:
    ///   - poolMode: `transaction` (LISTEN breaks) or `session`.
    ///   - addresses: where it listens; the first one is in ``conninfo(database:)``.
    static func start(for testCase: XCTestCase, poolMode: String = "transaction", addresses: [String] = ["127.0.0.1"]) async throws -> PgBouncer {
        guard let binary = installedProgram("pgbouncer") else {
            throw XCTSkip("pgbouncer is not installed (scripts/setup installs it)")
        }
        _ = try await TestCluster.start()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-pgbouncer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let socketDirectory = TestCluster.directory.appendingPathComponent("run").path
        let config = """
            [databases]
            * = host=\(socketDirectory) port=5432 user=postgres

            [pgbouncer]
            listen_addr = \(addresses.joined(separator: ","))
            listen_port = \(port)
            unix_socket_dir =
            auth_type = trust
            auth_file = \(folder.path)/users.txt
            pool_mode = \(poolMode)
            max_client_conn = 200
            default_pool_size = 4
            ignore_startup_parameters = extra_float_digits,options
            logfile = \(folder.path)/pgbouncer.log
            pidfile = \(folder.path)/pgbouncer.pid
            """
        try config.write(toFile: folder.path + "/pgbouncer.ini", atomically: true, encoding: .utf8)
        try "\"postgres\" \"\"\n".write(toFile: folder.path + "/users.txt", atomically: true, encoding: .utf8)
        // PgBouncer refuses to run as root.
        let asRoot = geteuid() == 0
        if asRoot {
            _ = try await runProcess("/bin/chown", ["-R", "postgres:postgres", folder.path])
        }
        // In the foreground, so killing the process stops it.
        // setpriv execs pgbouncer in place (runuser would stay in between as its parent).
        let command = asRoot ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", binary, folder.path + "/pgbouncer.ini"])
                             : (binary, [folder.path + "/pgbouncer.ini"])
        let process = try TestProcess(executable: command.0, command.1)
        testCase.addTeardownBlock {
            // SIGKILL: its state is throwaway.
            process.signal(SIGKILL)
            _ = try? await process.waitForExit(timeout: .seconds(5))
            try? FileManager.default.removeItem(at: folder)
        }
        let bouncer = PgBouncer(port: port, host: addresses[0])
        try await eventually("pgbouncer accepts connections") {
            (try? await PQConnectionProbe.canConnect(bouncer.conninfo(database: "postgres"))) ?? false
        }
        return bouncer
    }

    /// A loopback port nobody listens on right now.
    private static func freeLoopbackPort() throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) == 0 && getsockname(socketFD, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

import PQClient

enum PQConnectionProbe {
    static func canConnect(_ conninfo: String) async throws -> Bool {
        let connection = try await PQConnection.connect(conninfo, name: "probe")
        await connection.close()
        return true
    }
}
