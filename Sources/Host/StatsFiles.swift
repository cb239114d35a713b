import MmStatsCore

/// Finding stats files under paths: the listing of `StatsScanner` (MmStatsCore), for the
/// commands that read each file once.
enum StatsFiles {
    /// How many levels of directories below a directory given on the command line are searched.
    static let maximumDepth = StatsScanner.maximumDepth

    /// Files as given, directories expanded recursively to their `*.mmstats` files sorted by
    /// path (`StatsScanner.files(onError:)`): a file reached under several paths is listed once,
    /// and whatever cannot be searched is reported to `onError` while the rest is listed.
    static func expand(_ paths: [String], onError: (MmStatsError) -> Void) -> [String] {
        StatsScanner(paths: paths, maximumReaders: 0).files(onError: onError)
    }
}
