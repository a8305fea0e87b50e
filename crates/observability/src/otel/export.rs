//! The background exporter: bounded queue → batches → OTLP/HTTP with retries.
//!
//! ```text
//!  dispatcher thread            exporter thread
//!  ─────────────────            ───────────────
//!  finished span ──push──▶ [ queue ≤ max_queue_size ] ──▶ batch ≤ max_export_batch_size
//!     (full ⇒ drop + count)       ▲ wakes on a full batch,        │ encode (protobuf | JSON)
//!                                  │ a flush, or schedule_delay    ▼
//!                                  │                      POST endpoint ── 2xx ─▶ exported (spans a
//!                                  │                        │    partial success rejects: dropped + counted)
//!                                  │                        │ connection error, 429, 502-504
//!                                  │                        ▼
//!                                  │                 retry with doubling backoff
//!                                  │                 (Retry-After honoured, capped);
//!                                  │                 out of retries ⇒ batch dropped + counted
//! ```
//!
//! Nothing here blocks the dispatcher: pushing is one short lock, and a full
//! queue drops the span (counted in [`OtlpStats::dropped_queue_full`]) rather
//! than wait — a collector that is down must cost the agent nothing. During
//! shutdown each remaining batch gets one attempt, without backoff, so
//! shutting down never waits on a dead collector for long.
//!
//! The HTTP client is `ureq` (blocking, small): this thread is the only
//! one that talks to the network, so an async runtime would buy nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use parking_lot::{Condvar, Mutex};
use prost::Message;

use super::attrs::Attrs;
use super::config::{Mode, Protocol, Resolved};
use super::semconv::GENAI_SCHEMA_URL;

/// Counters of an OTLP exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because their batch failed after all retries, or the
    /// collector rejected them (an OTLP partial success).
    pub dropped_export_failed: u64,
    /// HTTP requests that succeeded.
    pub requests: u64,
    /// Retries made.
    pub retries: u64,
    /// The latest export failure, if any.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct QueueState {
    spans: VecDeque<Span>,
    /// Flush requests: answered once everything queued before them is sent.
    flushes: Vec<mpsc::Sender<Result<(), String>>>,
    /// The next drain is the last before the process exits (the runtime
    /// shut down): sent like a stop's, without the thread stopping.
    last_call: bool,
    stopping: bool,
}

/// State shared by the subscriber, the exporter handle and the thread.
pub(crate) struct Exporter {
    cfg: Resolved,
    queue: Mutex<QueueState>,
    wake: Condvar,
    exported: AtomicU64,
    dropped_full: AtomicU64,
    dropped_failed: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    last_error: Mutex<Option<String>>,
    agent: ureq::Agent,
}

enum Attempt {
    /// Accepted; the collector may have rejected some spans of the batch
    /// (OTLP "partial success": not to be retried).
    Sent(Rejected),
    Retry(Option<Duration>, String),
    Fail(String),
}

/// What a collector's partial success reports.
#[derive(Default)]
struct Rejected {
    spans: u64,
    message: String,
}

impl Exporter {
    pub(crate) fn new(cfg: Resolved) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("nemo-relay-otlp/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Exporter {
            cfg,
            queue: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            exported: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_failed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            last_error: Mutex::new(None),
            agent,
        }
    }

    /// Queue a finished span; never blocks beyond one short lock.
    pub(crate) fn push(&self, span: Span) {
        let mut q = self.queue.lock();
        if q.spans.len() >= self.cfg.max_queue_size || q.stopping {
            drop(q);
            self.dropped_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.spans.push_back(span);
        if q.spans.len() >= self.cfg.max_export_batch_size {
            self.wake.notify_one();
        }
    }

    /// Ask the thread to send everything queued; the receiver gets the outcome.
    pub(crate) fn request_flush(&self) -> mpsc::Receiver<Result<(), String>> {
        self.flush_request(false)
    }

    /// [`request_flush`](Self::request_flush) as a stop sends: one attempt
    /// per batch, and nothing more once one failed, so that a collector
    /// that never answers holds the caller for one request timeout at most.
    pub(crate) fn request_last_flush(&self) -> mpsc::Receiver<Result<(), String>> {
        self.flush_request(true)
    }

    fn flush_request(&self, last_call: bool) -> mpsc::Receiver<Result<(), String>> {
        let (tx, rx) = mpsc::channel();
        let mut q = self.queue.lock();
        if q.stopping {
            // The thread sends what is queued and ends, or has ended: no
            // one would answer a request queued now.
            let _ = tx.send(Ok(()));
            return rx;
        }
        q.flushes.push(tx);
        q.last_call |= last_call;
        drop(q);
        self.wake.notify_one();
        rx
    }

    /// How long a [`request_last_flush`](Self::request_last_flush) can
    /// take: one request, plus room for encoding.
    pub(crate) fn last_flush_bound(&self) -> Duration {
        self.cfg.timeout * 2 + Duration::from_secs(1)
    }

    pub(crate) fn stop(&self) {
        self.queue.lock().stopping = true;
        self.wake.notify_one();
    }

    pub(crate) fn stats(&self) -> OtlpStats {
        OtlpStats {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_export_failed: self.dropped_failed.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }

    /// The exporter thread's loop.
    pub(crate) fn run(&self) {
        let mut deadline = Instant::now() + self.cfg.schedule_delay;
        loop {
            let (batch, flushes, stopping, hurry) = {
                let mut q = self.queue.lock();
                while q.spans.len() < self.cfg.max_export_batch_size
                    && q.flushes.is_empty()
                    && !q.stopping
                    && Instant::now() < deadline
                {
                    self.wake.wait_until(&mut q, deadline);
                }
                let draining = !q.flushes.is_empty() || q.stopping;
                let n = if draining {
                    q.spans.len()
                } else {
                    q.spans.len().min(self.cfg.max_export_batch_size)
                };
                let batch: Vec<Span> = q.spans.drain(..n).collect();
                let hurry = q.stopping || std::mem::take(&mut q.last_call);
                (batch, std::mem::take(&mut q.flushes), q.stopping, hurry)
            };
            deadline = Instant::now() + self.cfg.schedule_delay;
            let mut outcome = Ok(());
            // Spans move into their request: encoding takes them by value,
            // so a batch is never copied (a deep copy per span is as many
            // allocations as building it took).
            let mut spans = batch.into_iter();
            loop {
                let chunk: Vec<Span> = spans
                    .by_ref()
                    .take(self.cfg.max_export_batch_size)
                    .collect();
                if chunk.is_empty() {
                    break;
                }
                match self.send(chunk, hurry) {
                    Ok(None) => {}
                    // The collector answered: the next batch may go on.
                    Ok(Some(rejected)) => outcome = Err(rejected),
                    Err(e) => {
                        outcome = Err(e);
                        if hurry {
                            // Stopping, or the last call before exit: the
                            // collector just failed (often a timeout), and
                            // every further batch would wait as long again.
                            let rest = spans.len() as u64;
                            self.dropped_failed.fetch_add(rest, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
            for f in flushes {
                let _ = f.send(outcome.clone());
            }
            if stopping && self.queue.lock().spans.is_empty() {
                // Late flush requests still get an answer.
                for f in std::mem::take(&mut self.queue.lock().flushes) {
                    let _ = f.send(Ok(()));
                }
                return;
            }
        }
    }

    /// Send one batch, retrying transient failures (once only when
    /// stopping). `Ok(Some(why))`: delivered, but the collector rejected
    /// some of its spans.
    fn send(&self, spans: Vec<Span>, stopping: bool) -> Result<Option<String>, String> {
        if spans.is_empty() {
            return Ok(None);
        }
        let count = spans.len() as u64;
        let body = self.encode(spans);
        let mut backoff = self.cfg.initial_backoff;
        let mut attempt = 0;
        loop {
            let err = match self.post(&body) {
                Attempt::Sent(rejected) => {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    let refused = rejected.spans.min(count);
                    self.exported.fetch_add(count - refused, Ordering::Relaxed);
                    if refused == 0 && rejected.message.is_empty() {
                        return Ok(None);
                    }
                    // Counted and reported as a failed export: those spans
                    // are lost, and a retry would be refused again.
                    self.dropped_failed.fetch_add(refused, Ordering::Relaxed);
                    let err = format!(
                        "{}: the collector rejected {refused} of {count} spans{}",
                        self.cfg.endpoint,
                        match rejected.message.as_str() {
                            "" => String::new(),
                            m => format!(": {m}"),
                        }
                    );
                    *self.last_error.lock() = Some(err.clone());
                    return Ok((refused > 0).then_some(err));
                }
                Attempt::Fail(e) => e,
                Attempt::Retry(after, e) => {
                    // Not once the exporter stops or the runtime shut down:
                    // the process is about to exit, and each retry would
                    // hold it for another timeout.
                    let hurry = stopping || {
                        let q = self.queue.lock();
                        q.stopping || q.last_call
                    };
                    if attempt < self.cfg.max_retries && !hurry {
                        attempt += 1;
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        let wait = after.unwrap_or(backoff).min(self.cfg.max_backoff);
                        std::thread::sleep(wait);
                        backoff = (backoff * 2).min(self.cfg.max_backoff);
                        continue;
                    }
                    e
                }
            };
            self.dropped_failed.fetch_add(count, Ordering::Relaxed);
            *self.last_error.lock() = Some(err.clone());
            return Err(err);
        }
    }

    fn post(&self, body: &[u8]) -> Attempt {
        let content_type = match self.cfg.protocol {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        };
        let mut req = self
            .agent
            .post(&self.cfg.endpoint)
            .header("Content-Type", content_type);
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Err(e) => Attempt::Retry(None, format!("{}: {e}", self.cfg.endpoint)),
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Read the (small) response so the connection can be reused.
                let body = resp.body_mut().read_to_vec().unwrap_or_default();
                match status {
                    200..=299 => Attempt::Sent(self.rejected(&body)),
                    429 | 502 | 503 | 504 => {
                        Attempt::Retry(retry_after, format!("{}: HTTP {status}", self.cfg.endpoint))
                    }
                    _ => Attempt::Fail(format!("{}: HTTP {status}", self.cfg.endpoint)),
                }
            }
        }
    }

    /// The partial success a collector's response reports, if any. An
    /// answer that cannot be read is taken as full success: the status said
    /// so, and some collectors answer with an empty body.
    fn rejected(&self, body: &[u8]) -> Rejected {
        let none = Rejected::default();
        match self.cfg.protocol {
            Protocol::HttpProtobuf => ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(none, |p| Rejected {
                    spans: u64::try_from(p.rejected_spans).unwrap_or(0),
                    message: p.error_message,
                }),
            Protocol::HttpJson => {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let p = &v["partialSuccess"];
                // OTLP/JSON writes 64-bit integers as strings or numbers.
                let spans = match &p["rejectedSpans"] {
                    serde_json::Value::String(s) => s.parse().unwrap_or(0),
                    n => n.as_u64().unwrap_or(0),
                };
                let message = p["errorMessage"].as_str().unwrap_or("").to_owned();
                Rejected { spans, message }
            }
        }
    }

    fn encode(&self, spans: Vec<Span>) -> Vec<u8> {
        let mut resource = Attrs::default();
        for (k, v) in &self.cfg.resource {
            resource.str(k, v.clone());
        }
        let schema_url = match self.cfg.mode {
            Mode::Genai => GENAI_SCHEMA_URL.to_owned(),
            Mode::Openinference => String::new(),
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource.0,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "nemo-relay".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url,
                }],
                schema_url: String::new(),
            }],
        };
        match self.cfg.protocol {
            Protocol::HttpProtobuf => request.encode_to_vec(),
            // The proto types' serde mapping is OTLP/JSON: camelCase names,
            // hex trace/span ids, integer enums.
            Protocol::HttpJson => {
                serde_json::to_vec(&request).expect("OTLP messages always serialize")
            }
        }
    }
}
