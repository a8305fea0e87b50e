//! ATOF exporter: every event, one canonical JSON object per line.
//!
//! ATOF (Agent Trajectory Observability Format) is the raw event stream: the
//! file is exactly what subscribers saw, in delivery order, each line being
//! [`Event::write_json`]'s canonical record. It is the embedded default
//! because it loses nothing and every other format can be derived from it.
//!
//! # Where the work happens
//!
//! ```text
//!  agent thread        dispatcher thread                 writer thread
//!  ────────────        ─────────────────                 ─────────────
//!  emit ─▶ queue ─▶ on_event: serialize into a buffer
//!                   on_batch_end: hand the buffer ──▶ channel ──▶ write + flush
//!                                                                  (rotate at
//!                                                                   line ends)
//! ```
//!
//! The agent's threads only enqueue events (that is the runtime's job). The
//! dispatcher thread serializes — cheap, and it needs the `&Event` — and
//! passes whole buffers on. File I/O runs on a writer thread of its own
//! rather than in `on_batch_end`: the dispatcher is shared by every
//! subscriber, so a slow disk, a rotation or an `fsync` there would delay
//! the OTLP exporter and the language bindings too, and once the runtime's
//! queue filled up the runtime would start dropping events. With the
//! handoff, the dispatcher pays one channel send per batch. If the writer
//! falls `max_pending_batches` behind, the dispatcher waits for it:
//! backpressure moves the loss to the runtime queue, where drops are
//! counted, instead of silently missing lines in the middle of a file.
//!
//! # Flush and shutdown
//!
//! [`AtofExporter::flush`] first flushes the runtimes the exporter is
//! registered with (so every event emitted before the call has been
//! delivered and its batch handed over), then sends a flush request through
//! the same FIFO channel and waits for the writer to reach it: when `flush`
//! returns `Ok`, every record is in the OS (and on disk with
//! `sync_on_flush`). [`AtofExporter::shutdown`] deregisters, writes
//! everything and joins the writer; dropping the exporter does the same.
//!
//! The first I/O error stops the file output (a file with a gap in the
//! middle is worse than a truncated one); `flush` and `shutdown` report it.

mod claims;
mod config;
mod segments;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use nemo_relay_core::{Event, Runtime, Subscriber, Timestamp};

pub use config::{AtofConfig, FileMode, Rotation};

use crate::attach::Attachments;
use crate::ExportError;
use segments::Segments;

/// A buffer is handed to the writer early once it grows past this, so one
/// long run of events does not hold megabytes on the dispatcher side.
const HANDOFF_BYTES: usize = 1 << 20;

/// The registration name [`AtofExporter::register`] uses.
pub const DEFAULT_NAME: &str = "nemo_relay.atof";

enum Msg {
    Write(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// Counters of an ATOF exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtofStats {
    /// Events serialized (each becomes one line).
    pub events: u64,
    /// Events that arrived after shutdown and were not written.
    pub dropped_after_shutdown: u64,
    /// Events not written because a write failed (those of the failed
    /// write, some of which may have reached the file, and every later
    /// one): the file stops at the first error.
    pub not_written: u64,
}

struct Pending {
    buf: Vec<u8>,
    /// `None` once shut down.
    tx: Option<SyncSender<Msg>>,
}

struct Shared {
    /// Touched by the dispatcher thread on every event and by `flush` /
    /// `shutdown` rarely, so the lock is practically uncontended. Sending
    /// under it keeps buffers and flush requests in event order.
    pending: Mutex<Pending>,
    error: Mutex<Option<String>>,
    paths: Mutex<Vec<PathBuf>>,
    events: AtomicU64,
    dropped: AtomicU64,
    not_written: AtomicU64,
}

impl Shared {
    fn hand_off(&self, p: &mut Pending) {
        if p.buf.is_empty() {
            return;
        }
        let Some(tx) = &p.tx else { return };
        let cap = p.buf.capacity();
        let buf = std::mem::replace(&mut p.buf, Vec::with_capacity(cap));
        if tx.send(Msg::Write(buf)).is_err() {
            self.fail("the ATOF writer thread stopped".into());
        }
    }

    fn fail(&self, message: String) {
        self.error.lock().get_or_insert(message);
    }

    fn result(&self) -> Result<(), ExportError> {
        match &*self.error.lock() {
            Some(e) => Err(ExportError::Io(e.clone())),
            None => Ok(()),
        }
    }

    /// Hand what is buffered to the writer and wait until it is written.
    fn write_out(&self) -> Result<(), ExportError> {
        let (reply, done) = mpsc::channel();
        {
            let mut p = self.pending.lock();
            self.hand_off(&mut p);
            let Some(tx) = &p.tx else {
                return self.result();
            };
            if tx.send(Msg::Flush(reply)).is_err() {
                self.fail("the ATOF writer thread stopped".into());
            }
        }
        // An error only means the writer is gone; `result` reports why.
        let _ = done.recv();
        self.result()
    }
}

impl Subscriber for Shared {
    fn on_event(&self, event: &Event) {
        let mut p = self.pending.lock();
        if p.tx.is_none() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        event.write_json(&mut p.buf);
        p.buf.push(b'\n');
        self.events.fetch_add(1, Ordering::Relaxed);
        if p.buf.len() >= HANDOFF_BYTES {
            self.hand_off(&mut p);
        }
    }

    fn on_batch_end(&self) {
        let mut p = self.pending.lock();
        self.hand_off(&mut p);
    }

    /// The runtime shut down (the process is usually exiting, and would
    /// take the writer thread's last buffers with it): write them now.
    fn on_shutdown(&self) {
        let _ = self.write_out();
    }
}

/// Writes every event it receives to JSON Lines files. See the
/// [module docs](self).
///
/// ```no_run
/// use nemo_relay_core::Runtime;
/// use nemo_relay_observability::atof::{AtofConfig, AtofExporter};
///
/// let rt = Runtime::new();
/// let atof = AtofExporter::new(AtofConfig {
///     output_directory: "traces".into(),
///     ..Default::default()
/// })?;
/// atof.register(&rt)?;
/// // … run the agent …
/// atof.flush()?; // every event so far is in the file
/// atof.shutdown()?;
/// # Ok::<(), nemo_relay_observability::ExportError>(())
/// ```
pub struct AtofExporter {
    shared: Arc<Shared>,
    /// The generated file name it holds, if it has one.
    claim: Mutex<Option<claims::Claim>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    attachments: Attachments,
}

impl AtofExporter {
    /// Validate `config`, open the first file and start the writer thread.
    /// File errors (permissions, missing volume) are reported here.
    pub fn new(config: AtofConfig) -> Result<Self, ExportError> {
        config.validate()?;
        let mut filename = config.resolved_filename(Timestamp::now());
        let claim = config.generates_filename().then(|| {
            let fresh = config.mode == FileMode::Overwrite;
            let (claim, unique) = claims::claim(&config.output_directory, &filename, fresh);
            filename = unique;
            claim
        });
        let segments = Segments::open(
            &config.output_directory,
            &filename,
            config.mode,
            config.rotation,
        )?;
        let (tx, rx) = mpsc::sync_channel(config.max_pending_batches);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(64 * 1024),
                tx: Some(tx),
            }),
            error: Mutex::new(None),
            paths: Mutex::new(segments.paths().to_vec()),
            events: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            not_written: AtomicU64::new(0),
        });
        let writer = {
            let shared = shared.clone();
            let sync = config.sync_on_flush;
            std::thread::Builder::new()
                .name("nemo-relay-atof".into())
                .spawn(move || write_loop(rx, segments, &shared, sync))?
        };
        Ok(AtofExporter {
            shared,
            claim: Mutex::new(claim),
            writer: Mutex::new(Some(writer)),
            attachments: Attachments::default(),
        })
    }

    /// The subscriber to register by hand (e.g. scope-locally). Prefer
    /// [`register`](Self::register), which also lets `flush` flush the runtime.
    pub fn subscriber(&self) -> Arc<dyn Subscriber> {
        self.shared.clone()
    }

    /// Register as global subscriber [`DEFAULT_NAME`] on `runtime`.
    pub fn register(&self, runtime: &Runtime) -> Result<(), ExportError> {
        self.register_as(runtime, DEFAULT_NAME)
    }

    /// Register as global subscriber `name` on `runtime`.
    pub fn register_as(&self, runtime: &Runtime, name: &str) -> Result<(), ExportError> {
        self.attachments.attach(runtime, name, self.subscriber())
    }

    /// Write every event delivered so far (flushing the registered runtimes
    /// first) and wait until the writer has handed it to the OS.
    pub fn flush(&self) -> Result<(), ExportError> {
        self.attachments.flush_runtimes();
        self.shared.write_out()
    }

    /// Deregister, write everything, close the files and stop the writer.
    /// Idempotent; later events are counted in
    /// [`AtofStats::dropped_after_shutdown`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        self.attachments.detach_all();
        {
            let mut p = self.shared.pending.lock();
            self.shared.hand_off(&mut p);
            p.tx = None; // closing the channel tells the writer to finish
        }
        if let Some(h) = self.writer.lock().take() {
            if h.join().is_err() {
                self.shared.fail("the ATOF writer thread panicked".into());
            }
        }
        self.claim.lock().take();
        self.shared.result()
    }

    /// Whether a write failed, which stopped the file output for good;
    /// waits until the writer has written what it was handed, to know.
    pub(crate) fn failed(&self) -> bool {
        self.shared.write_out().is_err()
    }

    /// The files written so far, oldest first (more than one with rotation).
    pub fn files(&self) -> Vec<PathBuf> {
        self.shared.paths.lock().clone()
    }

    /// Current counters.
    pub fn stats(&self) -> AtofStats {
        AtofStats {
            events: self.shared.events.load(Ordering::Relaxed),
            dropped_after_shutdown: self.shared.dropped.load(Ordering::Relaxed),
            not_written: self.shared.not_written.load(Ordering::Relaxed),
        }
    }
}

impl Drop for AtofExporter {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for AtofExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtofExporter")
            .field("files", &self.files())
            .field("stats", &self.stats())
            .finish()
    }
}

fn write_loop(rx: Receiver<Msg>, mut segments: Segments, shared: &Shared, sync: bool) {
    let mut failed = false;
    for msg in rx {
        match msg {
            Msg::Write(buf) => {
                let lost = || {
                    let lines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    shared.not_written.fetch_add(lines, Ordering::Relaxed);
                };
                if failed {
                    lost();
                    continue;
                }
                // Flushing after each batch makes records visible to readers
                // (`tail -f`) within one batch of being emitted.
                if let Err(e) = segments.write(&buf).and_then(|()| segments.flush(false)) {
                    failed = true;
                    shared.fail(e.to_string());
                    lost();
                }
                let mut paths = shared.paths.lock();
                if paths.as_slice() != segments.paths() {
                    *paths = segments.paths().to_vec();
                }
            }
            Msg::Flush(reply) => {
                if !failed {
                    if let Err(e) = segments.flush(sync) {
                        failed = true;
                        shared.fail(e.to_string());
                    }
                }
                let _ = reply.send(());
            }
        }
    }
    if !failed {
        if let Err(e) = segments.flush(sync) {
            shared.fail(e.to_string());
        }
    }
}
