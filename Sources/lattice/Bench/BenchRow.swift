/// One measured figure of `lattice bench`.
struct BenchRow: Sendable {
    /// The workload key, for example `w1_batch` or `seal_1024`.
    var workload: String
    /// The metric key within the workload, for example `ops_per_s`.
    var metric: String
    /// The measured value.
    var value: Double
    /// A unit for the human table, for example `ops/s`, `MB/s`, `B`.
    var unit: String
}
