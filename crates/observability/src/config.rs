//! Configuration parsing shared by every exporter.
//!
//! Each exporter has a plain config struct (`AtofConfig`, `AtifConfig`,
//! `OtlpConfig`) that derives `Deserialize` with `deny_unknown_fields`, so a
//! plugin adapter can hand over the JSON (or TOML-turned-JSON) section of a
//! configuration document and get back either a config or a [`ConfigError`]
//! that names the offending field by its dotted path:
//!
//! ```
//! use nemo_relay_observability::atof::AtofConfig;
//! use serde_json::json;
//!
//! let err = AtofConfig::from_json(json!({"rotation": {"max_bytez": 10}})).unwrap_err();
//! assert_eq!(err.path, "rotation.max_bytez");
//! assert!(err.message.contains("unknown field"));
//! ```
//!
//! Parsing checks shapes and types; each config's `validate()` then checks
//! values (positive sizes, known placeholders …) and reports paths the same
//! way, so both kinds of mistake look alike to the user.

use serde::de::DeserializeOwned;

use nemo_relay_core::Json;

/// A configuration mistake, located by the dotted path of the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// Dotted path of the offending field (`""` for the section itself).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error, nested under `prefix` (for sections of a larger
    /// document: `atof` + `rotation.max_bytes` → `atof.rotation.max_bytes`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = if self.path.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

/// Deserialize `value` into `T`, reporting the path of the first error.
pub(crate) fn parse<T: DeserializeOwned>(value: Json) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        // serde_path_to_error renders the root as "."; we use "" for it.
        let path = if path == "." { String::new() } else { path };
        ConfigError::at(path, e.into_inner().to_string())
    })
}
