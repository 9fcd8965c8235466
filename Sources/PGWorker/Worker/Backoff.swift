import Synchronization

/// Capped exponential backoff with jitter, for reconnect loops.
final class Backoff: Sendable {
    private let initial: Duration
    private let maximum: Duration
    private let current: Mutex<Duration>

    init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
        self.current = Mutex(initial)
    }

    /// The next delay: doubles each time up to `maximum`, with ±25 % jitter.
    func next() -> Duration {
        current.withLock { current in
            let delay = current
            current = min(current * 2, maximum)
            return delay * Double.random(in: 0.75...1.25)
        }
    }

    /// Starts again from `initial`, after a success.
    func reset() {
        current.withLock { $0 = initial }
    }
}
