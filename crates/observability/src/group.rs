//! [`ObservabilityConfig`]: all exporters from one configuration document.
//!
//! This is the shape a plugin of kind `observability` hands over, and
//! [`Observability::install`] is all such a plugin needs to call:
//!
//! ```json
//! {
//!   "atof": {"output_directory": "traces", "rotation": {"max_bytes": 104857600}},
//!   "atif": {"output_directory": "trajectories"},
//!   "opentelemetry": {"endpoint": "http://localhost:4318", "mode": "openinference"}
//! }
//! ```
//!
//! A section that is absent (or `null`) is off. Errors carry the full path
//! (`atof.rotation.max_bytes`).

use serde::Deserialize;

use nemo_relay_core::{Json, Runtime};

use crate::atif::{AtifConfig, AtifExporter};
use crate::atof::{AtofConfig, AtofExporter};
use crate::config::{parse, ConfigError};
use crate::otel::{OtlpConfig, OtlpExporter};
use crate::ExportError;

/// Which exporters to run, with their settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// ATOF JSON Lines files.
    pub atof: Option<AtofConfig>,
    /// ATIF trajectories.
    pub atif: Option<AtifConfig>,
    /// OTLP traces.
    pub opentelemetry: Option<OtlpConfig>,
}

impl ObservabilityConfig {
    /// Parse and validate a whole document.
    pub fn from_json(value: Json) -> Result<Self, ConfigError> {
        let c: Self = parse(value)?;
        c.validate()?;
        Ok(c)
    }

    /// Validate every present section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(a) = &self.atof {
            a.validate().map_err(|e| e.within("atof"))?;
        }
        if let Some(a) = &self.atif {
            a.validate().map_err(|e| e.within("atif"))?;
        }
        if let Some(o) = &self.opentelemetry {
            o.validate().map_err(|e| e.within("opentelemetry"))?;
        }
        Ok(())
    }
}

/// The running exporters of one [`ObservabilityConfig`].
#[derive(Default)]
pub struct Observability {
    /// ATOF exporter, if configured.
    pub atof: Option<AtofExporter>,
    /// ATIF exporter, if configured.
    pub atif: Option<AtifExporter>,
    /// OTLP exporter, if configured.
    pub otlp: Option<OtlpExporter>,
}

impl Observability {
    /// Create every configured exporter and register it on `runtime`. On
    /// error, the exporters created so far are shut down again.
    pub fn install(runtime: &Runtime, config: &ObservabilityConfig) -> Result<Self, ExportError> {
        config.validate()?;
        let mut o = Observability::default();
        let result = (|| {
            if let Some(c) = &config.atof {
                let e = AtofExporter::new(c.clone())?;
                e.register(runtime)?;
                o.atof = Some(e);
            }
            if let Some(c) = &config.atif {
                let e = AtifExporter::new(c.clone())?;
                e.register(runtime)?;
                o.atif = Some(e);
            }
            if let Some(c) = &config.opentelemetry {
                let e = OtlpExporter::new(c.clone()).map_err(|e| match e {
                    ExportError::Config(c) => ExportError::Config(c.within("opentelemetry")),
                    other => other,
                })?;
                e.register(runtime)?;
                o.otlp = Some(e);
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(o),
            Err(e) => {
                let _ = o.shutdown();
                Err(e)
            }
        }
    }

    /// Flush every exporter; the first error wins (all are flushed).
    pub fn flush(&self) -> Result<(), ExportError> {
        let results = [
            self.atof.as_ref().map(|e| e.flush()),
            self.atif.as_ref().map(|e| e.flush()),
            self.otlp.as_ref().map(|e| e.flush()),
        ];
        results
            .into_iter()
            .flatten()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }

    /// Shut every exporter down; the first error wins (all are shut down).
    pub fn shutdown(&self) -> Result<(), ExportError> {
        let results = [
            self.atif.as_ref().map(|e| e.shutdown()),
            self.otlp.as_ref().map(|e| e.shutdown()),
            self.atof.as_ref().map(|e| e.shutdown()),
        ];
        results
            .into_iter()
            .flatten()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }
}
