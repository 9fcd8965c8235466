import Metrics
import Synchronization

/// How long this worker's claim turns take: the round trip of the statement that writes outcomes
/// and claims, from sending it to its rows. The turn loop records each; the heartbeat takes the
/// 99th percentile of those since its previous beat and writes it to the worker's row
/// (`claim_turn_p99_ms`), where `pgworker status` and the dashboard read it. Each turn is also
/// reported as the `pgworker_claim_turn_seconds` timer.
///
/// A claim that slows down while a snapshot is held open is the first sign of the trap that
/// ``QueueHealth`` describes. Public so other claim loops (`pgworker bench-sustained`'s bare SQL
/// consumer) measure theirs the same way.
public final class ClaimTurnTimes: Sendable {
    /// At most this many turns are kept between two beats (the latest ones); at a few hundred
    /// turns a second and a beat every few seconds that is all of them.
    static let capacity = 4096

    private struct Samples {
        var milliseconds: [Double] = []
        var next = 0
        var count = 0
    }

    private let samples = Mutex(Samples())

    /// An empty record.
    public init() {}

    /// Records one claim turn's round trip.
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        // Looked up per turn, as the engine's other metrics are, so a backend bootstrapped after the
        // worker was made still receives it.
        Timer(label: WorkerMetrics.Name.claimTurn).recordNanoseconds(nanoseconds)
        let milliseconds = Double(nanoseconds) / 1e6
        samples.withLock { samples in
            if samples.milliseconds.count < Self.capacity {
                samples.milliseconds.append(milliseconds)
            } else {
                samples.milliseconds[samples.next] = milliseconds
            }
            samples.next = (samples.next + 1) % Self.capacity
            samples.count += 1
        }
    }

    /// The turns recorded since the last call: how many, and their 99th percentile in
    /// milliseconds (nil when there were none). Starts a new interval.
    public func takeInterval() -> (turns: Int, p99Milliseconds: Double?) {
        let taken = samples.withLock { samples in
            defer { samples = Samples() }
            return samples
        }
        guard !taken.milliseconds.isEmpty else { return (0, nil) }
        let sorted = taken.milliseconds.sorted()
        let rank = Int((Double(sorted.count) * 0.99).rounded(.up)) - 1
        return (taken.count, sorted[min(max(rank, 0), sorted.count - 1)])
    }
}
