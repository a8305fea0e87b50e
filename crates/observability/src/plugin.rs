//! The `observability` plugin kind: exporters from a configuration document.
//!
//! ```toml
//! [[components]]
//! kind = "observability"
//! config = { atof = { path = "relay-output/events.jsonl" },
//!            atif = { dir = "relay-output/trajectories" },
//!            otlp = { endpoint = "http://127.0.0.1:4318", protocol = "http/protobuf", mode = "genai" } }
//! ```
//!
//! Sections are those of [`ObservabilityConfig`], with the short forms the
//! plugin document uses: `atof.path` (a file; sets `output_directory` and
//! `filename`), `atif.dir` (= `output_directory`) and `otlp` (=
//! `opentelemetry`). An absent section is off. Unknown fields follow the
//! document's `unknown_field` policy; wrong types and values are errors with
//! their field path.
//!
//! Exporters are registered through the [`PluginContext`], so they join the
//! activation transaction; teardown flushes the runtime (queued events still
//! reach the exporters) and then shuts the exporters down, which writes out
//! everything they hold.

use std::path::Path;
use std::sync::Arc;

use nemo_relay_core::plugin::{ConfigCheck, PluginContext, PluginHost, PluginKind};
use nemo_relay_core::{Json, Middleware, RelayError, Result};

use crate::atif::AtifExporter;
use crate::atof::AtofExporter;
use crate::config::ConfigError;
use crate::otel::OtlpExporter;
use crate::ObservabilityConfig;

/// The `observability` plugin kind.
pub struct ObservabilityKind;

/// Register the `observability` kind on `host` (bindings call this once).
pub fn register_kind(host: &PluginHost) -> Result<()> {
    host.register_kind(Arc::new(ObservabilityKind))
}

/// The plugin document rewritten into [`ObservabilityConfig`]'s shape, and
/// the short forms it used: diagnostics name a field as the user wrote it.
struct Normalized {
    doc: Json,
    /// `(long, short)` field path prefixes: `opentelemetry` written as
    /// `otlp`, say.
    aliases: Vec<(&'static str, &'static str)>,
}

impl Normalized {
    /// A field path of the normalized document, as the user wrote it.
    fn written(&self, path: &str) -> String {
        for (long, short) in &self.aliases {
            if let Some(rest) = path.strip_prefix(long) {
                if rest.is_empty() || rest.starts_with('.') {
                    return format!("{short}{rest}");
                }
            }
        }
        path.to_owned()
    }

    /// `e` with its path as the user wrote it.
    fn error(&self, e: ConfigError) -> ConfigError {
        ConfigError::at(self.written(&e.path), e.message)
    }
}

/// Rewrite the plugin document's short forms into [`ObservabilityConfig`]'s
/// shape. A short form beside the long one it stands for is an error (one
/// would silently win). Errors name the field.
fn normalize(config: &Json) -> std::result::Result<Normalized, ConfigError> {
    let mut c = config.clone();
    let mut aliases = Vec::new();
    let Some(obj) = c.as_object_mut() else {
        return Err(ConfigError::at("", "must be an object"));
    };
    if let Some(otlp) = obj.remove("otlp") {
        if obj.contains_key("opentelemetry") {
            return Err(ConfigError::at(
                "otlp",
                "give either 'otlp' or 'opentelemetry', not both",
            ));
        }
        obj.insert("opentelemetry".into(), otlp);
        aliases.push(("opentelemetry", "otlp"));
    }
    if let Some(atof) = obj.get_mut("atof").and_then(Json::as_object_mut) {
        if let Some(path) = atof.remove("path") {
            if atof.contains_key("output_directory") || atof.contains_key("filename") {
                return Err(ConfigError::at(
                    "atof.path",
                    "give either 'path' or 'output_directory' and 'filename', not both",
                ));
            }
            let p = path
                .as_str()
                .ok_or_else(|| ConfigError::at("atof.path", "must be a file path string"))?;
            let p = Path::new(p);
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ConfigError::at("atof.path", "must name a file"))?;
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            atof.insert(
                "output_directory".into(),
                Json::String(dir.to_string_lossy().into_owned()),
            );
            atof.insert("filename".into(), Json::String(name.to_owned()));
            aliases.extend([
                ("atof.output_directory", "atof.path"),
                ("atof.filename", "atof.path"),
            ]);
        }
    }
    if let Some(atif) = obj.get_mut("atif").and_then(Json::as_object_mut) {
        if let Some(dir) = atif.remove("dir") {
            if atif.contains_key("output_directory") {
                return Err(ConfigError::at(
                    "atif.dir",
                    "give either 'dir' or 'output_directory', not both",
                ));
            }
            atif.insert("output_directory".into(), dir);
            aliases.push(("atif.output_directory", "atif.dir"));
        }
    }
    Ok(Normalized { doc: c, aliases })
}

/// Parse, peeling off unknown fields one at a time (each is reported through
/// `unknown`) so that they follow the document's policy instead of failing
/// the parse outright.
fn parse(
    config: &Json,
    unknown: impl FnMut(String),
) -> std::result::Result<ObservabilityConfig, ConfigError> {
    let n = normalize(config)?;
    peel(n.doc.clone(), unknown).map_err(|e| n.error(e))
}

/// [`parse`] of a document already normalized.
fn peel(
    mut doc: Json,
    mut unknown: impl FnMut(String),
) -> std::result::Result<ObservabilityConfig, ConfigError> {
    // Every iteration removes one field, so this ends.
    loop {
        match ObservabilityConfig::from_json(doc.clone()) {
            Ok(c) => return Ok(c),
            Err(e) if e.message.starts_with("unknown field") => {
                let mut path: Vec<&str> = e.path.split('.').collect();
                let Some(field) = path.pop().map(str::to_owned) else {
                    return Err(e);
                };
                let parent = path.iter().try_fold(&mut doc, |v, k| v.get_mut(*k));
                match parent
                    .and_then(Json::as_object_mut)
                    .and_then(|o| o.remove(&field))
                {
                    Some(_) => unknown(e.path.clone()),
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

impl PluginKind for ObservabilityKind {
    fn kind(&self) -> &str {
        "observability"
    }

    fn description(&self) -> &str {
        "exporters: ATOF JSON Lines, ATIF trajectories, OTLP traces (GenAI or OpenInference)"
    }

    /// Each section is checked on its own, so that a document with a bad
    /// `atof` and a bad `atif` hears about both at once.
    fn validate(&self, check: &mut ConfigCheck<'_>) {
        let n = match normalize(check.config()) {
            Ok(n) => n,
            Err(e) => return check.error(&e.path, "observability.invalid_config", e.message),
        };
        let sections = n.doc.as_object().into_iter().flatten();
        for (key, value) in sections {
            let mut unknown = Vec::new();
            let section = Json::Object([(key.clone(), value.clone())].into_iter().collect());
            let result = peel(section, |p| unknown.push(p));
            for path in unknown {
                check.unknown_field(&n.written(&path));
            }
            if let Err(e) = result {
                let e = n.error(e);
                check.error(&e.path, "observability.invalid_config", e.message);
            }
        }
    }

    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        let cfg = parse(config, |_| {}).map_err(|e| RelayError::invalid(e.to_string()))?;
        // Name the section: a document may configure several exporters.
        let err = |section: &'static str| {
            move |e: crate::ExportError| RelayError::invalid(format!("{section}: {e}"))
        };
        let rt = ctx.runtime().clone();
        if let Some(c) = cfg.atof {
            let e = AtofExporter::new(c).map_err(err("atof"))?;
            ctx.register("atof", Middleware::Subscriber(e.subscriber()))?;
            let rt = rt.clone();
            ctx.on_teardown(move || {
                let _ = rt.flush();
                let _ = e.shutdown();
            });
        }
        if let Some(c) = cfg.atif {
            let e = AtifExporter::new(c).map_err(err("atif"))?;
            ctx.register("atif", Middleware::Subscriber(e.subscriber()))?;
            let rt = rt.clone();
            ctx.on_teardown(move || {
                let _ = rt.flush();
                let _ = e.shutdown();
            });
        }
        if let Some(c) = cfg.opentelemetry {
            let e = OtlpExporter::new(c).map_err(err("otlp"))?;
            ctx.register("otlp", Middleware::Subscriber(e.subscriber()))?;
            ctx.on_teardown(move || {
                let _ = rt.flush();
                let _ = e.shutdown();
            });
        }
        Ok(())
    }
}
