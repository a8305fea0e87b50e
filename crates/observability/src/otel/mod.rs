//! OpenTelemetry exporter: scopes as spans, sent over OTLP/HTTP.
//!
//! Every scope (agent, tool call, LLM call, function …) becomes one span;
//! marks become span events. Attributes follow either the OTel GenAI
//! semantic conventions or OpenInference ([`Mode`]); the names are pinned in
//! [`semconv`]. Ids are derived from event uuids ([`span_id`],
//! [`trace_id`]), so spans can be joined with ATOF and ATIF records.
//!
//! ```text
//!  dispatcher thread: events ─▶ spans::Tracker ─▶ finished Span ─▶ export queue
//!  exporter thread:   queue ─▶ batch ─▶ protobuf | JSON ─▶ POST /v1/traces (retries)
//! ```
//!
//! Delivery is best-effort by design: a full queue or a collector that
//! stays down drops spans, and [`OtlpExporter::stats`] counts every drop.
//! The agent never waits for telemetry.
//!
//! The message types come from `opentelemetry-proto` (prost + its OTLP/JSON
//! serde mapping); batching, retries and drop accounting are in
//! [`export`](self) so their semantics stay under this crate's control.

mod attrs;
mod config;
mod export;
mod oi_messages;
mod project;
pub mod semconv;
mod spans;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use nemo_relay_core::{Event, Runtime, Subscriber};

pub use attrs::{span_id, trace_id};
pub use config::{Mode, OtlpConfig, Protocol, Resolved};
pub use export::OtlpStats;

use crate::attach::Attachments;
use crate::ExportError;
use export::Exporter;
use spans::Tracker;

/// The registration name [`OtlpExporter::register`] uses.
pub const DEFAULT_NAME: &str = "nemo_relay.otlp";

struct Sub {
    tracker: Mutex<Tracker>,
    exporter: Arc<Exporter>,
}

impl Subscriber for Sub {
    fn on_event(&self, event: &Event) {
        let span = self.tracker.lock().on_event(event);
        if let Some(span) = span {
            self.exporter.push(span);
        }
    }

    /// The runtime shut down (the process is usually exiting): send the
    /// finished spans now rather than at the next scheduled export, which
    /// would never come. Bounded: the batch in flight, then one attempt for
    /// the rest, so two request timeouts at most.
    fn on_shutdown(&self) {
        let rx = self.exporter.request_last_flush();
        let _ = rx.recv_timeout(self.exporter.last_flush_bound());
    }
}

/// Exports spans to an OTLP/HTTP collector. See the [module docs](self).
///
/// ```no_run
/// use nemo_relay_core::Runtime;
/// use nemo_relay_observability::otel::{Mode, OtlpConfig, OtlpExporter};
///
/// let rt = Runtime::new();
/// let otlp = OtlpExporter::new(OtlpConfig {
///     endpoint: Some("http://localhost:4318".into()),
///     mode: Mode::Openinference,
///     ..Default::default()
/// })?;
/// otlp.register(&rt)?;
/// // … run the agent …
/// otlp.shutdown()?; // sends what is left
/// # Ok::<(), nemo_relay_observability::ExportError>(())
/// ```
pub struct OtlpExporter {
    sub: Arc<Sub>,
    exporter: Arc<Exporter>,
    thread: Mutex<Option<JoinHandle<()>>>,
    attachments: Attachments,
    resolved: Resolved,
}

impl OtlpExporter {
    /// Resolve `config` against the environment (see [`OtlpConfig`]) and
    /// start the exporter thread. Nothing is sent until spans finish.
    pub fn new(config: OtlpConfig) -> Result<Self, ExportError> {
        Self::with_resolved(config.resolve()?)
    }

    /// Start with fully resolved settings (no environment lookup).
    pub fn with_resolved(resolved: Resolved) -> Result<Self, ExportError> {
        let exporter = Arc::new(Exporter::new(resolved.clone()));
        let thread = {
            let exporter = exporter.clone();
            std::thread::Builder::new()
                .name("nemo-relay-otlp".into())
                .spawn(move || exporter.run())?
        };
        Ok(OtlpExporter {
            sub: Arc::new(Sub {
                tracker: Mutex::new(Tracker::new(resolved.clone())),
                exporter: exporter.clone(),
            }),
            exporter,
            thread: Mutex::new(Some(thread)),
            attachments: Attachments::default(),
            resolved,
        })
    }

    /// The settings in force (endpoint, protocol, headers …).
    pub fn settings(&self) -> &Resolved {
        &self.resolved
    }

    /// The subscriber to register by hand.
    pub fn subscriber(&self) -> Arc<dyn Subscriber> {
        self.sub.clone()
    }

    /// Register as global subscriber [`DEFAULT_NAME`] on `runtime`.
    pub fn register(&self, runtime: &Runtime) -> Result<(), ExportError> {
        self.register_as(runtime, DEFAULT_NAME)
    }

    /// Register as global subscriber `name` on `runtime`.
    pub fn register_as(&self, runtime: &Runtime, name: &str) -> Result<(), ExportError> {
        self.attachments.attach(runtime, name, self.subscriber())
    }

    /// Flush the registered runtimes, then send every finished span and wait
    /// for the outcome. `Err` when a batch could not be delivered (its spans
    /// are counted as dropped).
    pub fn flush(&self) -> Result<(), ExportError> {
        self.flush_inner(None)
    }

    /// [`flush`](Self::flush), waiting at most `timeout` for the exporter
    /// (`Err(Timeout)`: the export goes on in the background).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), ExportError> {
        self.flush_inner(Some(timeout))
    }

    fn flush_inner(&self, timeout: Option<Duration>) -> Result<(), ExportError> {
        self.attachments.flush_runtimes();
        if self.thread.lock().is_none() {
            // Shut down: nothing is left to send, and what the last send did
            // is what flush reports (as the ATOF and ATIF exporters do).
            return self.outcome();
        }
        let rx = self.exporter.request_flush();
        let outcome = match timeout {
            None => rx.recv().map_err(|_| ExportError::ShutDown)?,
            Some(t) => rx.recv_timeout(t).map_err(|e| match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => ExportError::Timeout,
                std::sync::mpsc::RecvTimeoutError::Disconnected => ExportError::ShutDown,
            })?,
        };
        outcome.map_err(ExportError::Export)
    }

    /// Deregister, send what is queued (one attempt per batch, no retries)
    /// and stop the exporter thread. Idempotent. Spans of scopes still open
    /// are not sent (a span is only complete at its end).
    pub fn shutdown(&self) -> Result<(), ExportError> {
        self.attachments.detach_all();
        {
            // Held until the thread is gone: a concurrent shutdown (or
            // flush) waits for the spans this one is sending, then reports
            // the same outcome.
            let mut thread = self.thread.lock();
            if let Some(thread) = thread.take() {
                self.exporter.stop();
                let _ = thread.join();
            }
        }
        self.outcome()
    }

    /// `Err` with the last failure when some batch could not be delivered.
    fn outcome(&self) -> Result<(), ExportError> {
        match self.exporter.stats().last_error {
            Some(e) if self.exporter.stats().dropped_export_failed > 0 => {
                Err(ExportError::Export(e))
            }
            _ => Ok(()),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> OtlpStats {
        self.exporter.stats()
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
