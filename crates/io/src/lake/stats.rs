//! `SinkStats`: counters of what a `ParquetSink` did since it was opened.

/// Counters of what the sink did since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Rows accepted (buffered or written).
    pub rows_accepted: u64,
    /// Records skipped because the lake already held their source offset.
    pub duplicates_skipped: u64,
    /// Events of datasets this sink does not write.
    pub passed_over: u64,
    /// Files committed (renamed into place).
    pub files_committed: u64,
    /// Temporary (local) or staging (object store) files of interrupted writes removed on open.
    pub temp_files_removed: u64,
    /// Interrupted compactions (or segment merges) completed or rolled back on open.
    pub compactions_resolved: u64,
    /// Files written by merging a partition's segments at a roll.
    pub segments_merged: u64,
}
