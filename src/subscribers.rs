//! JS subscribers: events delivered in batches, one N-API crossing each.
//!
//! ```text
//!  dispatcher thread                                JS thread
//!  on_event:     append the event's row to the open array of the outbox
//!  on_batch_end: post a delivery task ──realm.post──▶ take every array →
//!                (unless one is queued)                eventsOf → fan out
//!  flush barrier reached ─────realm.post──▶ resolve flush()   (same FIFO queue)
//! ```
//!
//! The dispatcher thread never blocks on JS: it writes each event once,
//! straight into the array the JS thread will parse, and posts at most one
//! task at a time through the realm's weak, non-blocking threadsafe function.
//!
//! What waits for the JS thread is bounded. A JS thread that never returns
//! to its event loop (a long loop of awaited calls that all complete
//! synchronously runs on microtasks only) cannot take batches, and without a
//! bound the waiting JSON grew by ~300 bytes per event, past a gigabyte in
//! the benchmarks. Once [`max_pending_bytes`] wait, a subscriber's new
//! events are dropped and counted (`stats().subscriberDropped`), like events
//! the core drops when its queue is full: the agent is never blocked and its
//! memory stays bounded. Because delivery tasks and flush completions travel
//! through that one FIFO queue, `flush()` resolves only after every event
//! delivered before it was handed to JS. Parsing, fan-out, error isolation
//! and waiting for asynchronous subscribers are the facade's job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use napi_derive::napi;
use nemo_relay_core::event::{Layout, ATOF_VERSION};
use nemo_relay_core::{Event, Middleware, Runtime, Subscriber};

use crate::js::{boundary, Arg, Js, Raw};
use crate::js_ref::JsRef;
use crate::registry::{registration, RegisterOptions};

struct JsSubscriber {
    /// The facade's batch handler for this subscription: `deliver(text)`.
    deliver: Arc<JsRef>,
    /// Events waiting for the JS thread.
    outbox: Arc<Mutex<Outbox>>,
}

/// Events waiting for the JS thread, as JSON arrays: `[atof_version, row,
/// …]`, each event a row ([`Layout::Row`]) that the facade's `eventsOf`
/// turns back into the event object. `JSON.parse` builds the rows in about
/// half the time it takes to build the keyed objects (a typical mark: 0.75
/// against 1.5 µs), and the facade makes each object from a literal. The dispatcher writes
/// each event straight into the open array (one copy of its text, into a
/// buffer sized from the last one, so it rarely grows) and ends a batch
/// whenever its queue runs dry; with a busy JS thread that means batches of
/// a few events, and posting each would cost a queue hop, a native-to-JS
/// call, a `JSON.parse` and an async-context switch per handful of events.
/// So at most one delivery task is queued at a time: it takes everything
/// that arrived until it runs.
#[derive(Default)]
struct Outbox {
    /// Sealed JSON arrays (`[…]` but for the `]`) followed by the open one.
    texts: Vec<Vec<u8>>,
    /// Total length of `texts`.
    bytes: usize,
    /// A delivery task is queued and has not taken `texts` yet.
    posted: bool,
    /// Capacity for the next array: the size the last one reached.
    hint: usize,
}

/// An open array is sealed at this size, so one delivery never builds a
/// string of unbounded size.
const MAX_TEXT: usize = 1 << 20;

/// Smallest capacity an array starts with.
const MIN_TEXT: usize = 4 << 10;

/// Events dropped because a JS subscriber's waiting batches were at their
/// bound (all subscribers of the process).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How much JSON may wait for the JS thread, per subscriber: 256 MiB, or
/// `NEMO_RELAY_SUBSCRIBER_BUFFER_BYTES`.
fn max_pending_bytes() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("NEMO_RELAY_SUBSCRIBER_BUFFER_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256 << 20)
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Subscriber for JsSubscriber {
    fn on_event(&self, event: &Event) {
        let mut out = lock(&self.outbox);
        let Outbox {
            texts, bytes, hint, ..
        } = &mut *out;
        // Checked before adding, so the event that reaches the bound is
        // still admitted: a subscriber always makes progress.
        if *bytes >= max_pending_bytes() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let open = match texts.last_mut() {
            Some(open) if open.len() < MAX_TEXT => {
                open.push(b',');
                open
            }
            _ => {
                let mut open = Vec::with_capacity((*hint).clamp(MIN_TEXT, MAX_TEXT + (64 << 10)));
                open.push(b'[');
                serde_json::to_writer(&mut open, ATOF_VERSION).expect("writing to a Vec");
                open.push(b',');
                texts.push(open);
                texts.last_mut().expect("just pushed")
            }
        };
        let before = open.len();
        event.write_with(Layout::Row, open);
        *bytes += open.len() - before + 1;
    }

    fn on_batch_end(&self) {
        {
            let mut out = lock(&self.outbox);
            if out.texts.is_empty() || std::mem::replace(&mut out.posted, true) {
                return; // nothing new, or the queued task takes it too
            }
        }
        let deliver = self.deliver.clone();
        let outbox = self.outbox.clone();
        // Dropped when the environment is gone: nobody is left to receive.
        // Batches and flush completions share the realm's FIFO queue, and a
        // batch that joined an already-queued task is delivered when that
        // task runs, so `flush()` still resolves after it.
        self.deliver.realm().post(Box::new(move |js: Js| {
            let texts = {
                let mut out = lock(&outbox);
                out.posted = false;
                out.bytes = 0;
                if let Some(last) = out.texts.last() {
                    out.hint = last.len() + last.len() / 4;
                }
                std::mem::take(&mut out.texts)
            };
            let Ok(f) = deliver.value(js) else { return };
            for mut text in texts {
                text.push(b']');
                // Mostly ASCII (names, ids, timestamps): then V8 copies it
                // as Latin-1 instead of decoding UTF-8, several times
                // faster on a megabyte batch. serde_json writes UTF-8 and
                // the event strings are UTF-8; the facade isolates
                // subscriber errors, so a failure here is one lost batch,
                // never the ones after it.
                let t = if text.is_ascii() {
                    // SAFETY: ASCII is UTF-8.
                    js.ascii(unsafe { std::str::from_utf8_unchecked(&text) })
                } else {
                    match std::str::from_utf8(&text) {
                        Ok(text) => js.string(text),
                        Err(_) => continue,
                    }
                };
                let _ = t.and_then(|t| js.call(f, &[t]));
            }
        }));
    }
}

/// Register subscriber `name`: `deliver(batchText)` receives each batch,
/// `[atof_version, row, …]` (each row an event's values in key order; the
/// facade's `eventsOf` makes the event objects).
#[napi(
    ts_args_type = "name: string, deliver: (batch: string) => void, options?: RegisterOptions | undefined | null"
)]
pub fn subscribe(
    env: napi::Env,
    name: String,
    deliver: Arg,
    options: Option<RegisterOptions>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let reg = registration(js, name, js_subscriber(js, deliver.0)?, options)?;
        Runtime::global().register(reg)
    })
}

/// A subscriber whose batches go to the facade's `deliver(text)` (also what
/// plugin contexts register).
pub(crate) fn js_subscriber(js: Js, deliver: crate::js::Value) -> crate::js::Result<Middleware> {
    Ok(Middleware::Subscriber(Arc::new(JsSubscriber {
        deliver: Arc::new(JsRef::new(js, deliver)?),
        outbox: Arc::default(),
    })))
}

/// A Promise and the function that resolves it from any thread, through
/// the realm's queue (after every batch posted before). The process stays
/// alive until it resolves.
fn settle_later(
    js: Js,
) -> crate::js::Result<(impl FnOnce() + Send + 'static, napi::sys::napi_value)> {
    let realm = crate::realm::Realm::of(js)?;
    let (deferred, promise) = js.promise()?;
    realm.hold(js);
    let resolve = move || {
        let r = realm.clone();
        realm.post(Box::new(move |js: Js| {
            r.release(js);
            if let Ok(u) = js.undefined() {
                let _ = deferred.resolve(js, u);
            }
        }));
    };
    Ok((resolve, promise))
}

/// Resolves once every event emitted before the call was handed to the JS
/// subscribers (the facade then also waits for their pending Promises).
/// Never blocks the JS thread.
#[napi(ts_return_type = "Promise<void>")]
pub fn flush(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let (resolve, promise) = settle_later(js)?;
        Runtime::global().dispatcher().on_drained(Box::new(resolve));
        Ok(Raw(promise))
    })
}

/// Deliver everything queued and stop delivery (later events are dropped
/// and counted) now; resolve once JS subscribers received the last batch
/// and exporters sent what they hold, which happens on another thread (an
/// exporter may wait on its collector). Idempotent.
#[napi(ts_return_type = "Promise<void>")]
pub fn shutdown(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let (resolve, promise) = settle_later(js)?;
        Runtime::global().stop_delivery()?;
        let resolve = Arc::new(Mutex::new(Some(resolve)));
        let notify = {
            let resolve = resolve.clone();
            move || {
                Runtime::global().notify_shutdown();
                if let Some(r) = lock(&resolve).take() {
                    r();
                }
            }
        };
        let spawned = std::thread::Builder::new()
            .name("nemo-relay-shutdown".into())
            .spawn(notify);
        if spawned.is_err() {
            // No thread to be had: finish here.
            Runtime::global().notify_shutdown();
            if let Some(r) = lock(&resolve).take() {
                r();
            }
        }
        Ok(Raw(promise))
    })
}

/// [`shutdown`], all of it on this thread: for the process's exit, when
/// nothing can be awaited any more.
#[napi]
pub fn shutdown_now(env: napi::Env) -> napi::Result<()> {
    boundary(env.raw(), |_| Runtime::global().shutdown())
}

/// Counters of the runtime.
#[napi(object)]
pub struct RelayStats {
    /// Events handed to subscribers.
    pub delivered: f64,
    /// Events dropped because the queue (its ring and overflow) was full.
    pub dropped_full: f64,
    /// Events that waited in the queue's overflow because its ring was full
    /// (`NEMO_RELAY_QUEUE_CAPACITY` may be small for this program's bursts).
    pub overflowed: f64,
    /// Events dropped because the runtime was shut down.
    pub dropped_closed: f64,
    /// Subscriber callbacks that panicked in native code.
    pub subscriber_panics: f64,
    /// Events waiting in the queue.
    pub queued: f64,
    /// Capacity of the queue's ring.
    pub capacity: f64,
    /// Sanitize guardrails that failed (their payload was omitted).
    pub sanitizer_failures: f64,
    /// Events dropped because a JS subscriber's batches waiting for the JS
    /// thread reached their bound (`NEMO_RELAY_SUBSCRIBER_BUFFER_BYTES`,
    /// default 256 MiB).
    pub subscriber_dropped: f64,
}

/// Current counters of the process-wide runtime.
#[napi]
pub fn stats() -> RelayStats {
    let s = Runtime::global().stats();
    let d = s.dispatcher;
    RelayStats {
        delivered: d.delivered as f64,
        dropped_full: d.dropped_full as f64,
        overflowed: d.overflowed as f64,
        dropped_closed: d.dropped_closed as f64,
        subscriber_panics: d.subscriber_panics as f64,
        queued: d.queued as f64,
        capacity: d.capacity as f64,
        sanitizer_failures: s.sanitizer_failures as f64,
        subscriber_dropped: DROPPED.load(Ordering::Relaxed) as f64,
    }
}
