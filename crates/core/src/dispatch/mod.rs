//! Asynchronous, FIFO delivery of events to subscribers.
//!
//! ```text
//!  emitting threads                      dispatcher thread
//!  ───────────────                       ─────────────────
//!  build Event ──try_push──▶ [ bounded lock-free queue ] ──pop──▶ subscriber.on_event(&e)
//!    (never blocks;              (FIFO, capacity N)               … for each subscriber of
//!     full ⇒ drop + count)                                        the event's snapshot
//!                                  ▲ flush barrier                  on_batch_end() when the
//!                                  │ (waits until reached)          queue runs dry
//! ```
//!
//! * **Never blocks the agent.** Producers `try_push`; a full queue drops the
//!   event and counts it ([`DispatcherStats::dropped_full`]).
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

mod stats;
mod subscriber;
mod worker;

pub use stats::DispatcherStats;
pub(crate) use subscriber::Counted;
pub use subscriber::{subscriber_fn, FnSubscriber, Subscriber, SubscriberSet};
pub use worker::{Dispatcher, DEFAULT_QUEUE_CAPACITY};
