//! [`AtifConfig`]: how trajectories are named and where they are written.
//!
//! JSON shape (every field optional):
//!
//! ```json
//! {
//!   "output_directory": "./trajectories",
//!   "filename_template": "{session_id}.json",
//!   "agent_name": "weather-agent",
//!   "agent_version": "1.2.0",
//!   "session_id": null,
//!   "include_raw_events": false
//! }
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use nemo_relay_core::Json;

use crate::config::{parse, ConfigError};

/// Settings of an [`AtifExporter`](super::AtifExporter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtifConfig {
    /// Write `<output_directory>/<filename_template>` when a root agent
    /// scope ends. `None` (default): only [`export`](super::AtifExporter::export).
    pub output_directory: Option<PathBuf>,
    /// File name; `{session_id}` (required) becomes the root scope's uuid.
    /// Default `{session_id}.json`.
    pub filename_template: Option<String>,
    /// `agent.name` of every trajectory. Default: the root scope's name.
    pub agent_name: Option<String>,
    /// `agent.version`. Default: this crate's version.
    pub agent_version: Option<String>,
    /// Which session `export()` returns: a root scope uuid or the root's
    /// `session_id` metadata. Default: the most recently started root.
    pub session_id: Option<String>,
    /// Keep every raw ATOF event of the trajectory under
    /// `extra.observed_events` (marks included). Default `false`.
    pub include_raw_events: bool,
}

impl AtifConfig {
    /// Parse and validate a JSON config section.
    pub fn from_json(value: Json) -> Result<Self, ConfigError> {
        let config: Self = parse(value)?;
        config.validate()?;
        Ok(config)
    }

    /// Check values that the types alone do not rule out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Absent means "write no files"; empty is a mistake, not the
        // working directory.
        if self
            .output_directory
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(ConfigError::at(
                "output_directory",
                "must not be empty (leave it out to write no files, or use \".\")",
            ));
        }
        let t = self.template();
        if !t.contains("{session_id}") {
            return Err(ConfigError::at(
                "filename_template",
                "must contain {session_id} (one file per session)",
            ));
        }
        if t.contains(['/', '\\']) {
            return Err(ConfigError::at(
                "filename_template",
                "must be a plain file name (no directory separators)",
            ));
        }
        Ok(())
    }

    pub(crate) fn template(&self) -> &str {
        self.filename_template
            .as_deref()
            .unwrap_or("{session_id}.json")
    }
}
