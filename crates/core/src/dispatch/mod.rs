//! Asynchronous, FIFO delivery of events to subscribers.
//!
//! ```text
//!  emitting threads                      dispatcher thread
//!  ───────────────                       ─────────────────
//!  build Event ──try_push──▶ [ lock-free ring | overflow ] ──pop──▶ subscriber.on_event(&e)
//!    (never blocks;              (one FIFO, bounded)              … for each subscriber of
//!     full ⇒ drop + count)                                        the event's snapshot
//!                                  ▲ flush barrier                  on_batch_end() when the
//!                                  │ (waits until reached)          queue runs dry
//! ```
//!
//! * **Never blocks the agent.** Producers `try_push`. A burst the ring
//!   cannot hold waits in a growable overflow (`queue.rs`,
//!   [`DispatcherStats::overflowed`]); only when that is full too is the
//!   event dropped and counted ([`DispatcherStats::dropped_full`]).
//! * **FIFO.** One queue, one worker: events are delivered in enqueue order,
//!   so one thread's events arrive in the order it emitted them.
//! * **Snapshots.** Each event carries the subscriber set visible when it was
//!   emitted; deregistering later does not un-deliver queued events.
//! * **Isolation.** A panicking subscriber is caught and counted
//!   ([`DispatcherStats::subscriber_panics`]); delivery goes on.
//! * **Flush.** [`Dispatcher::flush`] returns once everything queued before it
//!   was delivered. Called from inside a subscriber it returns at once (it
//!   would otherwise wait for itself).
//! * **Shutdown.** [`Dispatcher::shutdown`] delivers what is queued, stops the
//!   worker and is idempotent; later events are counted as dropped.
//!
//! The worker thread starts lazily on the first enqueue, so a runtime nobody
//! subscribes to never spawns a thread.
//!
//! What emitting costs is mostly cache lines moving between the emitting
//! core and the dispatcher's core, so the pieces are built to move few:
//! the queue is a purpose-built MPSC ring (`ring.rs`) whose producers and
//! consumer share only the slot being handed over, events travel inline in
//! their slots (no per-event allocation), names are interned
//! ([`crate::name`]), and the subscriber snapshot travels as a plain pointer
//! to a set the dispatcher keeps alive (`audience.rs`) instead of a
//! reference count bumped on one core and dropped on the other. When the
//! queue runs dry the worker naps instead of polling it (`delivery.rs`), so
//! it does not pull the lines an emitter is about to write, and takes what
//! accumulated as one batch. Delivered events are freed back on an emitting
//! thread (`graveyard.rs`), where their memory came from.

pub(crate) mod audience;
mod delivery;
mod graveyard;
mod queue;
pub(crate) mod ring;
mod stats;
mod subscriber;
mod worker;

pub use stats::DispatcherStats;
pub(crate) use subscriber::Counted;
pub use subscriber::{subscriber_fn, FnSubscriber, Subscriber, SubscriberSet};
pub use worker::{Dispatcher, DEFAULT_OVERFLOW_CAPACITY, DEFAULT_QUEUE_CAPACITY};
