import MmStatsCore

/// Where an ``MmStatsMetricsFactory`` records and how it turns values into mmstats metrics.
///
/// ```swift
/// var options = MmStatsMetricsOptions(application: "web")
/// options.recorderResolution = 1e-6                  // aggregating recorders of seconds
/// options.recorderResolutions["response.bytes"] = 1   // …but this one counts bytes
/// MetricsSystem.bootstrap(MmStatsMetricsFactory(options: options))
/// ```
public struct MmStatsMetricsOptions: Sendable {
    /// The file's options: root, application, model, shards, size, permissions. Its `layout`
    /// is always `.word` (a page-flip file would need someone to call `publish()`), and the
    /// file is removed when the factory is closed or deinitialized (`removeOnClose`).
    public var writer: WriterOptions

    /// The value of one histogram unit for aggregating `Recorder`s (docs/FORMAT.md §11.2):
    /// values are counted in whole units, so percentiles are within 1 % from 50 units up and
    /// exact to half a unit below. The default, 0.001, suits values from 0.05 to 4.4 × 10⁹;
    /// larger values share the last bucket (their `min`, `max` and `sum` stay exact).
    public var recorderResolution: Double

    /// Resolutions of particular aggregating recorders, by label, instead of
    /// `recorderResolution`.
    public var recorderResolutions: [String: Double]

    /// Options for `<root>/<application>/<model>/<pid>-<tid>.mmstats`.
    ///
    /// - Parameters:
    ///   - application: the application directory; the program's name by default.
    ///   - model: the model directory; `SwiftMetrics` by default.
    ///   - root: the stats root; nil means the default one (`$MMSTATS_PATH`, else
    ///     `$XDG_RUNTIME_DIR/mmstats`, else `/dev/shm/mmstats-UID`).
    public init(application: String = ProcessIdentity.command, model: String = "SwiftMetrics", root: String? = nil) {
        var writer = WriterOptions(application: application, model: model)
        writer.root = root
        self.writer = writer
        self.recorderResolution = 0.001
        self.recorderResolutions = [:]
    }

    /// The resolution of the aggregating recorder `label`.
    func resolution(of label: String) -> Double {
        recorderResolutions[label] ?? recorderResolution
    }
}
