//! [`AtofConfig`]: where and how the ATOF stream is written.
//!
//! JSON shape (every field optional):
//!
//! ```json
//! {
//!   "output_directory": "./traces",
//!   "filename": "nemo-relay-events-{timestamp}.jsonl",
//!   "mode": "append",
//!   "rotation": {"max_bytes": 104857600, "max_files": 10},
//!   "sync_on_flush": false,
//!   "max_pending_batches": 256
//! }
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use nemo_relay_core::{Json, Timestamp};

use crate::config::{parse, ConfigError};

/// The largest `max_pending_batches` accepted: a writer that falls this far
/// behind needs a faster disk, not a longer queue.
pub const MAX_PENDING_BATCHES: usize = 1 << 16;

/// Settings of an [`AtofExporter`](super::AtofExporter).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtofConfig {
    /// Directory of the output file(s); created if missing. Default `"."`.
    pub output_directory: PathBuf,
    /// File name. `{timestamp}` is replaced by the exporter's start time
    /// (`YYYY-MM-DDTHH.MM.SSZ`); a name so made that another exporter of
    /// the process writes gets a suffix (`…Z-2.jsonl`). Default
    /// `nemo-relay-events-{timestamp}.jsonl`.
    pub filename: String,
    /// `append` (default) to an existing file, or `overwrite` it.
    pub mode: FileMode,
    /// Cut the stream into several files by size. Default: one file.
    pub rotation: Option<Rotation>,
    /// `fsync` on every flush (durability across power loss; slower).
    /// Default `false`: flush hands the bytes to the OS.
    pub sync_on_flush: bool,
    /// Batches waiting for the writer thread before the dispatcher thread
    /// waits for it (backpressure instead of silently losing records).
    /// Default 256.
    pub max_pending_batches: usize,
}

/// How an existing output file is treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// Keep existing records and add after them.
    #[default]
    Append,
    /// Start the stream anew: truncate the file and remove the rotated
    /// segments of an earlier run.
    Overwrite,
}

/// Size-based rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Start a new file before one would grow past this many bytes.
    pub max_bytes: u64,
    /// Delete the oldest files beyond this many. Default: keep all.
    #[serde(default)]
    pub max_files: Option<usize>,
}

impl Default for AtofConfig {
    fn default() -> Self {
        AtofConfig {
            output_directory: PathBuf::from("."),
            filename: "nemo-relay-events-{timestamp}.jsonl".into(),
            mode: FileMode::Append,
            rotation: None,
            sync_on_flush: false,
            max_pending_batches: 256,
        }
    }
}

impl AtofConfig {
    /// Parse and validate a JSON config section.
    pub fn from_json(value: Json) -> Result<Self, ConfigError> {
        let config: Self = parse(value)?;
        config.validate()?;
        Ok(config)
    }

    /// Check values that the types alone do not rule out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // An empty path would mean the process's working directory, which
        // moves with it: say "." to mean that.
        if self.output_directory.as_os_str().is_empty() {
            return Err(ConfigError::at(
                "output_directory",
                "must not be empty (use \".\" for the working directory)",
            ));
        }
        let name = self.filename.replace("{timestamp}", "");
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(ConfigError::at(
                "filename",
                "must be a plain file name (no directory separators)",
            ));
        }
        if let Some(r) = &self.rotation {
            if r.max_bytes == 0 {
                return Err(ConfigError::at("rotation.max_bytes", "must be positive"));
            }
            if r.max_files == Some(0) {
                return Err(ConfigError::at("rotation.max_files", "must be positive"));
            }
        }
        if self.max_pending_batches == 0 {
            return Err(ConfigError::at("max_pending_batches", "must be positive"));
        }
        // The hand-off to the writer thread is allocated up front, slot by
        // slot: an unbounded value would abort the process on allocation
        // (1e15 asked for 32 PB) instead of failing here.
        if self.max_pending_batches > MAX_PENDING_BATCHES {
            return Err(ConfigError::at(
                "max_pending_batches",
                format!("must be at most {MAX_PENDING_BATCHES}"),
            ));
        }
        Ok(())
    }

    /// Whether the file name is made per exporter (it has `{timestamp}`):
    /// then it is made unique within the process (see `claims`).
    pub(crate) fn generates_filename(&self) -> bool {
        self.filename.contains("{timestamp}")
    }

    /// The file name with `{timestamp}` filled in for `now`.
    pub(crate) fn resolved_filename(&self, now: Timestamp) -> String {
        // "2026-03-01T12:34:56.123456789Z" → "2026-03-01T12.34.56Z": colons
        // are not allowed in Windows file names.
        let s = now.to_string();
        let stamp = format!("{}Z", s[..19].replace(':', "."));
        self.filename.replace("{timestamp}", &stamp)
    }
}
