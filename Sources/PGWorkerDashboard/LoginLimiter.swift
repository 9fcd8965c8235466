import Hummingbird
import NIOCore
import Synchronization

/// How many wrong tokens the dashboard accepts before it answers 429 (with `Retry-After`): a
/// token bucket per client address, and one shared by all clients (which caps guessing from
/// many addresses).
public struct LoginLimits: Sendable {
    /// A token bucket: `burst` attempts at once, then one more each `refill`.
    public struct Bucket: Sendable {
        /// Failed attempts allowed at once.
        public var burst: Int
        /// How often one more attempt is allowed.
        public var refill: Duration

        /// A bucket of `burst` attempts regaining one each `refill`.
        public init(burst: Int, refill: Duration) {
            self.burst = burst
            self.refill = refill
        }
    }

    /// Per client address: 5 at once, then one every 12 s.
    public var perClient = Bucket(burst: 5, refill: .seconds(12))
    /// All clients together: 30 at once, then one every 2 s.
    public var overall = Bucket(burst: 30, refill: .seconds(2))

    /// The defaults.
    public init() {}
}

/// Counts token attempts against ``LoginLimits``. An attempt takes one from the client's bucket
/// and from the overall one before the token is compared, and is given back when the token was
/// right, so only failures use the buckets up, and concurrent guesses cannot overshoot them.
final class LoginLimiter: Sendable {
    private struct Bucket {
        var available: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var overall: Bucket
        var clients: [String: Bucket] = [:]
    }

    /// Clients remembered at most; beyond it, those whose buckets are full again are forgotten
    /// first, then all (the overall bucket still holds).
    static let maximumClients = 10_000

    private let limits: LoginLimits
    private let state: Mutex<State>

    init(limits: LoginLimits) {
        self.limits = limits
        state = Mutex(State(overall: Bucket(available: Double(limits.overall.burst), updated: .now)))
    }

    /// Takes one attempt for `client`. Returns nil when it may go ahead, or the whole seconds to
    /// wait (for `Retry-After`) when its bucket or the overall one is empty; then nothing is taken.
    func attempt(client: String, now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            var overall = Self.refilled(state.overall, limits.overall, now)
            var own = Self.refilled(state.clients[client] ?? Bucket(available: Double(limits.perClient.burst), updated: now),
                                    limits.perClient, now)
            let wait = max(Self.wait(own, limits.perClient), Self.wait(overall, limits.overall))
            if wait > 0 { return wait }
            overall.available -= 1
            own.available -= 1
            state.overall = overall
            if state.clients[client] == nil && state.clients.count >= Self.maximumClients {
                state.clients = state.clients.filter { Self.refilled($0.value, limits.perClient, now).available < Double(limits.perClient.burst) }
                if state.clients.count >= Self.maximumClients { state.clients = [:] }
            }
            state.clients[client] = own
            return nil
        }
    }

    /// Gives back the attempt of a client whose token was right.
    func succeeded(client: String) {
        state.withLock { state in
            state.overall.available = min(state.overall.available + 1, Double(limits.overall.burst))
            if let own = state.clients[client] {
                state.clients[client]?.available = min(own.available + 1, Double(limits.perClient.burst))
            }
        }
    }

    private static func refilled(_ bucket: Bucket, _ limit: LoginLimits.Bucket, _ now: ContinuousClock.Instant) -> Bucket {
        let elapsed = max(now - bucket.updated, .zero)
        let gained = elapsed / limit.refill
        return Bucket(available: min(bucket.available + gained, Double(limit.burst)), updated: now)
    }

    /// Whole seconds until `bucket` holds one attempt again (0 when it does now).
    private static func wait(_ bucket: Bucket, _ limit: LoginLimits.Bucket) -> Int {
        guard bucket.available < 1 else { return 0 }
        let seconds = (1 - bucket.available) * (Double(limit.refill.components.seconds) + Double(limit.refill.components.attoseconds) / 1e18)
        return max(1, Int(seconds.rounded(.up)))
    }
}

/// The dashboard's request context: Hummingbird's basic one plus the client's address, which the
/// login limits count by.
struct DashboardRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The TCP peer (a reverse proxy, when there is one).
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address as text, for the login limits.
    var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}
