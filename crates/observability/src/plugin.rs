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
//!
//! A re-initialize that keeps a component's section exactly as it was (the
//! component in the same place among those of its kind) keeps that
//! section's exporter: the new activation's subscriber is the same exporter,
//! swapped in atomically with the old registration, and only the last
//! activation to let it go shuts it down. Otherwise an ATIF trajectory open
//! across the change would be cut in two (the old exporter writes its part,
//! the new one overwrites the file with the rest), and an ATOF file in
//! overwrite mode would be truncated.
//!
//! A re-initialize that changes a section replaces its exporter. Calls
//! running across the change still hold the old one in the subscriber
//! snapshot they started with, so their end events would reach an exporter
//! that has shut down and be lost. The plugin registers each exporter
//! behind a [`Handoff`]: once the exporter is replaced, the events that
//! still reach it go on to the exporter that took its place (the same
//! section of the component in the same place). A section the new document
//! drops has no successor: its late events are dropped, and counted as the
//! exporter counts events after its shutdown.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use nemo_relay_core::plugin::{ConfigCheck, PluginContext, PluginHost, PluginKind};
use nemo_relay_core::{Event, Json, Middleware, RelayError, Result, Subscriber};

use crate::atif::AtifExporter;
use crate::atof::AtofExporter;
use crate::config::ConfigError;
use crate::otel::OtlpExporter;
use crate::ObservabilityConfig;

/// The `observability` plugin kind.
#[derive(Default)]
pub struct ObservabilityKind {
    live: Arc<Mutex<Vec<Live>>>,
}

/// An exporter some activation uses, by the component instance and the
/// section config it was made from.
struct Live {
    section: &'static str,
    /// The component's instance number: two components of one activation
    /// never share an exporter (each would get every event twice).
    instance: usize,
    config: Json,
    exporter: Exporter,
    /// What the plugin registers for the exporter.
    handoff: Arc<Handoff>,
    /// Activations (active, or being activated) that use it.
    users: usize,
}

/// An exporter's subscriber, until the exporter is replaced; then the
/// subscriber of its successor (see the module docs). Costs one atomic load
/// per event while the exporter is live.
struct Handoff {
    exporter: Arc<dyn Subscriber>,
    /// Replaced: events go to `successor`.
    retired: AtomicBool,
    successor: Mutex<Option<Arc<Handoff>>>,
}

impl Handoff {
    fn new(exporter: Arc<dyn Subscriber>) -> Arc<Self> {
        Arc::new(Handoff {
            exporter,
            retired: AtomicBool::new(false),
            successor: Mutex::new(None),
        })
    }

    /// Where events go now: this exporter's subscriber, or (once it was
    /// replaced) its successor's.
    fn target(&self) -> Option<Arc<Handoff>> {
        match self.retired.load(Ordering::Acquire) {
            false => None,
            true => self.successor.lock().clone(),
        }
    }
}

impl Subscriber for Handoff {
    fn on_event(&self, event: &Event) {
        match self.target() {
            Some(next) => next.on_event(event),
            None => self.exporter.on_event(event),
        }
    }

    fn on_batch_end(&self) {
        match self.target() {
            Some(next) => next.on_batch_end(),
            None => self.exporter.on_batch_end(),
        }
    }

    fn on_shutdown(&self) {
        self.exporter.on_shutdown();
    }
}

/// Makes a section's exporter when no live one has its config.
type MakeExporter = Box<dyn FnOnce() -> std::result::Result<Exporter, crate::ExportError>>;

#[derive(Clone)]
enum Exporter {
    Atof(Arc<AtofExporter>),
    Atif(Arc<AtifExporter>),
    Otlp(Arc<OtlpExporter>),
}

impl Exporter {
    fn subscriber(&self) -> Arc<dyn nemo_relay_core::Subscriber> {
        match self {
            Exporter::Atof(e) => e.subscriber(),
            Exporter::Atif(e) => e.subscriber(),
            Exporter::Otlp(e) => e.subscriber(),
        }
    }

    fn shutdown(&self) -> std::result::Result<(), crate::ExportError> {
        match self {
            Exporter::Atof(e) => e.shutdown(),
            Exporter::Atif(e) => e.shutdown(),
            Exporter::Otlp(e) => e.shutdown(),
        }
    }

    /// Stopped for good: an ATOF file output stops at its first I/O error,
    /// so a re-initialize makes a new exporter rather than keep this one.
    fn failed(&self) -> bool {
        matches!(self, Exporter::Atof(e) if e.failed())
    }

    fn same(&self, other: &Exporter) -> bool {
        match (self, other) {
            (Exporter::Atof(a), Exporter::Atof(b)) => Arc::ptr_eq(a, b),
            (Exporter::Atif(a), Exporter::Atif(b)) => Arc::ptr_eq(a, b),
            (Exporter::Otlp(a), Exporter::Otlp(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl ObservabilityKind {
    /// The live exporter component `instance` made from `config` for
    /// `section` (in the activation being replaced), or a new one.
    fn acquire(
        &self,
        section: &'static str,
        instance: usize,
        config: &Json,
        make: MakeExporter,
    ) -> std::result::Result<(Exporter, Arc<Handoff>), crate::ExportError> {
        let mut live = self.live.lock();
        if let Some(l) = live.iter_mut().find(|l| {
            l.section == section
                && l.instance == instance
                && l.config == *config
                && !l.exporter.failed()
        }) {
            l.users += 1;
            return Ok((l.exporter.clone(), l.handoff.clone()));
        }
        let exporter = make()?;
        let handoff = Handoff::new(exporter.subscriber());
        live.push(Live {
            section,
            instance,
            config: config.clone(),
            exporter: exporter.clone(),
            handoff: handoff.clone(),
            users: 1,
        });
        Ok((exporter, handoff))
    }
}

/// An activation lets `exporter` go; the last one shuts it down, after the
/// runtime has delivered what is queued for it.
fn release(live: &Mutex<Vec<Live>>, exporter: &Exporter, rt: &nemo_relay_core::Runtime) {
    let (last, successor) = {
        let mut live = live.lock();
        let Some(at) = live.iter().position(|l| l.exporter.same(exporter)) else {
            return;
        };
        live[at].users -= 1;
        let last = (live[at].users == 0).then(|| live.remove(at));
        // The exporter that replaced this one, if the activation that let
        // it go made one (it is live by now: the swap comes first).
        let successor = last.as_ref().and_then(|gone| {
            live.iter()
                .find(|l| l.section == gone.section && l.instance == gone.instance)
                .map(|l| l.handoff.clone())
        });
        (last, successor)
    };
    if let Some(last) = last {
        *last.handoff.successor.lock() = successor;
        // What is queued reaches this exporter, which writes it; what
        // arrives later (from calls that started before the swap) goes on.
        // The second flush waits out a delivery that read "not retired"
        // just before: it finishes before the exporter shuts down.
        let _ = rt.flush();
        last.handoff.retired.store(true, Ordering::Release);
        let _ = rt.flush();
        // Nobody holds this exporter to ask it how it went, and a teardown
        // has no caller to tell: say it where an operator will see it,
        // rather than lose a failed trace silently.
        if let Err(e) = exporter.shutdown() {
            eprintln!(
                "nemo-relay: the observability plugin's {} exporter failed: {e}",
                last.section
            );
        }
    }
}

/// Register the `observability` kind on `host` (bindings call this once).
pub fn register_kind(host: &PluginHost) -> Result<()> {
    host.register_kind(Arc::new(ObservabilityKind::default()))
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

/// Parse a normalized document, peeling off unknown fields one at a time
/// (each is reported through `unknown`) so that they follow the document's
/// policy instead of failing the parse outright.
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
        let invalid = |e: ConfigError| RelayError::invalid(e.to_string());
        let n = normalize(config).map_err(invalid)?;
        let cfg = peel(n.doc.clone(), |_| {}).map_err(|e| invalid(n.error(e)))?;
        // Name the section: a document may configure several exporters.
        let err = |section: &'static str| {
            move |e: crate::ExportError| RelayError::invalid(format!("{section}: {e}"))
        };
        let section_config = |key: &str| n.doc.get(key).cloned().unwrap_or(Json::Null);
        let mut wanted: Vec<(&'static str, Json, MakeExporter)> = Vec::new();
        if let Some(c) = cfg.atof {
            let make = move || Ok(Exporter::Atof(Arc::new(AtofExporter::new(c)?)));
            wanted.push(("atof", section_config("atof"), Box::new(make)));
        }
        if let Some(c) = cfg.atif {
            let make = move || Ok(Exporter::Atif(Arc::new(AtifExporter::new(c)?)));
            wanted.push(("atif", section_config("atif"), Box::new(make)));
        }
        if let Some(c) = cfg.opentelemetry {
            let make = move || Ok(Exporter::Otlp(Arc::new(OtlpExporter::new(c)?)));
            wanted.push(("otlp", section_config("opentelemetry"), Box::new(make)));
        }
        for (section, config, make) in wanted {
            let (exporter, handoff) = self
                .acquire(section, ctx.instance(), &config, make)
                .map_err(err(section))?;
            // The teardown first: it must run even if registering fails.
            let (live, rt) = (self.live.clone(), ctx.runtime().clone());
            ctx.on_teardown(move || release(&live, &exporter, &rt));
            ctx.register(section, Middleware::Subscriber(handoff))?;
        }
        Ok(())
    }
}
