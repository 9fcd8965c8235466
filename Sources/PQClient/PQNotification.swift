/// A notification received on a channel this connection LISTENs to.
public struct PQNotification: Sendable, Equatable {
    /// The channel name.
    public var channel: String
    /// The payload given to `NOTIFY` or `pg_notify`; empty when none was given.
    public var payload: String
    /// The server process that sent it.
    public var senderPID: Int32

    /// Creates a notification value.
    public init(channel: String, payload: String, senderPID: Int32) {
        self.channel = channel
        self.payload = payload
        self.senderPID = senderPID
    }
}
