import Foundation
import XCTest

/// A test "host": a network namespace joined to this machine by a veth pair, with its own address.
/// Programs run in it with their own hostname (a UTS namespace). Removed when the test ends.
struct NetworkHost: Sendable {
    /// The namespace's name (`ip netns`).
    let namespace: String
    /// The hostname programs see in it.
    let hostname: String
    /// This machine's address on the link, which the host reaches.
    let gatewayAddress: String

    /// Creates the namespace and its link; skips the test where namespaces cannot be made.
    static func create(named hostname: String, for testCase: XCTestCase) async throws -> NetworkHost {
        guard geteuid() == 0, let ip = installedProgram("ip") else { throw XCTSkip("network namespaces need root and iproute2") }
        let tag = String(UInt32.random(in: 0...0xFFFFFF), radix: 16)
        let namespace = "pgw-\(tag)", outside = "pgw\(tag)o", inside = "pgw\(tag)i"
        // A /30 of its own; random so concurrent runs do not collide.
        let subnet = "10.213.\(Int.random(in: 1...250)).\(Int.random(in: 0...63) * 4)"
        let parts = subnet.split(separator: ".").map { Int($0)! }
        let gateway = "\(parts[0]).\(parts[1]).\(parts[2]).\(parts[3] + 1)", address = "\(parts[0]).\(parts[1]).\(parts[2]).\(parts[3] + 2)"
        let steps: [[String]] = [
            ["netns", "add", namespace],
            ["link", "add", outside, "type", "veth", "peer", "name", inside],
            ["link", "set", inside, "netns", namespace],
            ["addr", "add", "\(gateway)/30", "dev", outside],
            ["link", "set", outside, "up"],
            ["-n", namespace, "addr", "add", "\(address)/30", "dev", inside],
            ["-n", namespace, "link", "set", inside, "up"],
            ["-n", namespace, "link", "set", "lo", "up"],
        ]
        testCase.addTeardownBlock {
            _ = try? await runProcess(ip, ["link", "del", outside])
            _ = try? await runProcess(ip, ["netns", "del", namespace])
        }
        for step in steps {
            let result = try await runProcess(ip, step)
            if result.status != 0 {
                if step == steps[0] { throw XCTSkip("cannot create network namespaces here: \(result.stderr)") }
                XCTFail("ip \(step.joined(separator: " ")) failed: \(result.stderr)")
                throw CancellationError()
            }
        }
        return NetworkHost(namespace: namespace, hostname: hostname, gatewayAddress: gateway)
    }

    /// Starts `pgworker` in this host, under its hostname.
    func runPgworker(_ arguments: [String], environment: [String: String] = [:]) throws -> TestProcess {
        // ip netns exec, unshare and `exec` replace themselves, so the process is pgworker itself.
        let script = "hostname \"$1\" && shift && exec \"$@\""
        return try TestProcess(executable: installedProgram("ip") ?? "/usr/sbin/ip",
                               ["netns", "exec", namespace, "unshare", "--uts", "/bin/sh", "-c", script, "sh", hostname,
                                BuiltProducts.pgworker] + arguments,
                               environment: environment)
    }
}
