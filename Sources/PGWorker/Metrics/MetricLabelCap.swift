import Synchronization

/// Bounds how many distinct values a metric label takes. Task and queue names come from whoever
/// enqueues jobs, and every distinct value is a series of its own (a histogram is 19 of them), so
/// without a bound a flood of names makes `/metrics` grow without end: 3,000 queues made 9.4 MB.
///
/// Per label, the first ``limit`` distinct values are kept as they are; every later one is
/// reported as ``otherValue``, as the Prometheus instrumentation guidance suggests. A kept value
/// stays kept for the life of the process, so its series never changes name, and the values are
/// shared by every metric (a queue is either its own series everywhere or `other` everywhere).
/// Counts are not lost: what is folded adds up in the `other` series.
public final class MetricLabelCap: Sendable {
    /// The value reported for a label value beyond the limit.
    public static let otherValue = "other"
    /// The default number of distinct values kept per label.
    public static let defaultLimit = 100
    /// The cap the engine's metrics use, process-wide like the swift-metrics bootstrap itself.
    /// Set its ``limit`` before the worker starts (`pgworker run --metrics-label-limit`).
    public static let shared = MetricLabelCap()

    private struct State {
        var limit: Int
        var kept: [String: Set<String>] = [:]
    }

    private let state: Mutex<State>

    /// A cap keeping `limit` distinct values per label.
    public init(limit: Int = MetricLabelCap.defaultLimit) {
        state = Mutex(State(limit: max(limit, 0)))
    }

    /// Distinct values kept per label. Lowering it keeps the values already kept; it applies to
    /// values not seen yet.
    public var limit: Int {
        get { state.withLock { $0.limit } }
        set { state.withLock { $0.limit = max(newValue, 0) } }
    }

    /// The value to report for `value` of the label `label`: itself while the label has fewer than
    /// ``limit`` values (or it is one of them), else ``otherValue``.
    public func value(_ value: String, for label: String) -> String {
        state.withLock { state in
            if state.kept[label]?.contains(value) ?? false { return value }
            guard state.kept[label, default: []].count < state.limit else { return Self.otherValue }
            state.kept[label, default: []].insert(value)
            return value
        }
    }

    /// The `task` and `queue` dimensions of a job's metrics, capped.
    func jobDimensions(task: String, queue: String) -> [(String, String)] {
        [("task", value(task, for: "task")), ("queue", value(queue, for: "queue"))]
    }
}
