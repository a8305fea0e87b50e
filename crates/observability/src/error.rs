//! Errors reported by exporters' `flush`, `shutdown` and `export`.

/// Why an exporter could not finish what it was asked to do.
///
/// Errors never reach the agent's calls: exporters run on the dispatcher
/// thread or their own threads, store the first failure, and report it when
/// the application asks (`flush`, `shutdown`, `export`).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ExportError {
    /// Configuration was rejected (see [`crate::ConfigError`]).
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::ConfigError),
    /// A file could not be created or written.
    #[error("i/o error: {0}")]
    Io(String),
    /// The destination did not accept the data (after retries).
    #[error("export failed: {0}")]
    Export(String),
    /// The operation did not finish within its timeout (nothing is lost:
    /// work continues in the background).
    #[error("timed out")]
    Timeout,
    /// The exporter was shut down.
    #[error("this exporter has been shut down; create a new one")]
    ShutDown,
    /// Registering with the runtime failed: the runtime's own error (the
    /// name is taken, the runtime was shut down, …), so that bindings can
    /// report its stable code.
    #[error("registration failed: {0}")]
    Register(nemo_relay_core::RelayError),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Io(e.to_string())
    }
}
