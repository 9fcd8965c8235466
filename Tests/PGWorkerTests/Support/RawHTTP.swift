import Foundation
import XCTest

/// HTTP/1.1 over a plain TCP socket, for what URLSession will not send: any `Host` header (or
/// none), a chosen source address on the loopback network (127.0.0.2 is another client), and
/// bodies of many megabytes that the server may refuse before reading them.
///
/// Each request uses a connection of its own and asks the server to close it. The socket work runs
/// on threads of its own, never on the cooperative pool the dashboard under test also uses.
enum RawHTTP {
    /// How the request body is framed.
    enum Framing: Sendable {
        /// `Content-Length`.
        case length
        /// `Transfer-Encoding: chunked`, in chunks of 16 KiB.
        case chunked
    }

    /// Sends one request to 127.0.0.1:`port` from `source` and reads the response.
    /// - Parameters:
    ///   - host: the `Host` header, or nil for none at all.
    ///   - headers: more header lines (name, value).
    static func request(
        port: Int, _ path: String, method: String = "GET", host: String?, headers: [(String, String)] = [],
        body: [UInt8] = [], framing: Framing = .length, from source: String = "127.0.0.1"
    ) async throws -> HTTPReply {
        var head = "\(method) \(path) HTTP/1.1\r\n"
        if let host { head += "Host: \(host)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        var payload: [UInt8]
        switch framing {
        case .length:
            if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
            head += "Connection: close\r\n\r\n"
            payload = Array(head.utf8) + body
        case .chunked:
            head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            payload = Array(head.utf8)
            var offset = 0
            while offset < body.count {
                let chunk = body[offset..<min(offset + 16_384, body.count)]
                payload += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
                offset += chunk.count
            }
            payload += Array("0\r\n\r\n".utf8)
        }
        let bytes = payload
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(port: port, source: source, payload: bytes) })
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects, writes `payload` on a second thread while this one reads the response, then closes.
    private static func exchange(port: Int, source: String, payload: [UInt8]) throws -> HTTPReply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = try address(source, port: 0)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
            throw Failure(description: "bind \(source): errno \(errno)")
        }
        var remote = try address("127.0.0.1", port: port)
        guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
            throw Failure(description: "connect to port \(port): errno \(errno)")
        }

        // The writer stops at the first error: a server that answered early may stop reading.
        let written = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            payload.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let sent = send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                    if sent <= 0 { break }
                    offset += sent
                }
            }
            written.signal()
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while parse(received) == nil {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        // Unblocks the writer if it is still sending; the descriptor stays ours until it is done.
        shutdown(fd, Int32(SHUT_RDWR))
        written.wait()
        guard let reply = parse(received, atEnd: true) else {
            throw Failure(description: "no complete HTTP response: \(String(decoding: received.prefix(300), as: UTF8.self))")
        }
        return reply
    }

    private static func address(_ text: String, port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, text, &address.sin_addr) == 1 else { throw Failure(description: "not an IPv4 address: \(text)") }
        return address
    }

    /// The response, once `bytes` hold all of it (by Content-Length, chunked framing, or the end
    /// of the connection when `atEnd`).
    private static func parse(_ bytes: [UInt8], atEnd: Bool = false) -> HTTPReply? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.dropLast(3).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[(end + 4)...])
        if let length = headers["content-length"].flatMap(Int.init) {
            guard body.count >= length else { return nil }
            body = Array(body.prefix(length))
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = [], rest = body[...]
            while true {
                guard let lineEnd = rest.indices.dropLast().first(where: { rest[$0] == 13 && rest[$0 + 1] == 10 }),
                      let size = Int(String(decoding: rest[..<lineEnd], as: UTF8.self), radix: 16) else { return nil }
                if size == 0 { break }
                let start = lineEnd + 2
                guard rest.endIndex >= start + size + 2 else { return nil }
                decoded += rest[start..<start + size]
                rest = rest[(start + size + 2)...]
            }
            body = decoded
        } else if !atEnd {
            return nil
        }
        return HTTPReply(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }
}
