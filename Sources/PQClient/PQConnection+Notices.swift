import CLibPQ

/// The server's notices (`RAISE NOTICE`, `auto_explain` at log level notice, warnings) sent
/// while one block of work runs on the connection.
extension PQConnection {
    /// Runs `body` and returns what it returned with the text of every notice the server sent
    /// meanwhile, in order. Outside such a block, notices are dropped (a library must not print
    /// them).
    public func collectingNotices<T: Sendable>(_ body: @Sendable (isolated PQConnection) throws -> T) throws -> (T, [String]) {
        let handle = try requireHandle()
        let collector = NoticeCollector()
        let context = Unmanaged.passRetained(collector)
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            Unmanaged<NoticeCollector>.fromOpaque(context).takeUnretainedValue().notices.append(String(cString: message))
        }, context.toOpaque())
        defer {
            PQsetNoticeProcessor(handle, { _, _ in }, nil)
            context.release()
        }
        let result = try body(self)
        return (result, collector.notices)
    }
}

/// Where the notice processor writes. libpq calls the processor on the thread that reads the
/// server's reply, which is this connection's own executor thread, while `body` runs there: the
/// collector is only ever touched from that one thread, so it needs no lock.
private final class NoticeCollector {
    var notices: [String] = []
}
