//! The dispatcher: a bounded queue (a lock-free ring and its overflow)
//! drained by one worker thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::dispatch::audience::{Audience, QueuedAudience};
use crate::dispatch::delivery;
use crate::dispatch::graveyard::Graveyard;
use crate::dispatch::queue::Queue;
use crate::dispatch::stats::Counters;
use crate::dispatch::{DispatcherStats, SubscriberSet};
use crate::error::{RelayError, Result};
use crate::event::Event;

/// Default queue capacity. Events are stored inline in the queue's slots
/// (256 bytes each, 4 MiB in all): boxing them would cost a malloc on the
/// emitting thread and a cross-thread free on the dispatcher for every event,
/// the single largest cost of emitting. 16 Ki events absorb a burst of
/// ~10 ms at full dispatcher speed; subscribers that batch (bindings,
/// exporters) drain the queue much faster than they process.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// Default overflow capacity: events that may wait beyond the ring, in
/// memory allocated only while a burst lasts (at most ~64 MiB). A burst
/// of 100k events from one thread fills a 16 Ki ring whenever the
/// dispatcher loses its core for a few milliseconds; dropping them then
/// would lose events that memory easily holds.
pub const DEFAULT_OVERFLOW_CAPACITY: usize = 1 << 18;

/// How many events the worker delivers before it calls `on_batch_end` even
/// if the queue is not yet dry (bounds the latency of batching subscribers).
pub(super) const MAX_BATCH: usize = 4096;

/// How long the worker naps when the queue runs dry, and how many naps it
/// takes before it parks (see `delivery::linger`). Naps bound how late an
/// event is delivered while emitters are busy; parking after ~1 ms of quiet
/// keeps an idle process idle.
pub(super) const LINGER_NAP: Duration = Duration::from_micros(20);
pub(super) const LINGER_NAPS: usize = 16;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const STOPPED: u8 = 2;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Id of the dispatcher whose worker runs on this thread (0 = none). Lets
    /// `flush` called from a subscriber return instead of waiting for itself.
    pub(super) static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

// The size difference is the point: events live inline in the queue's slots
// so that emitting allocates nothing (see DEFAULT_QUEUE_CAPACITY).
#[allow(clippy::large_enum_variant)]
pub(super) enum Item {
    Event {
        event: Event,
        audience: QueuedAudience,
    },
    /// Runs when the worker reaches it: everything queued before is delivered.
    Barrier(Box<dyn FnOnce() + Send>),
    Stop,
}

pub(super) struct Shared {
    pub(super) id: u64,
    pub(super) queue: Queue<Item>,
    pub(super) state: AtomicU8,
    /// Set by the worker just before it parks; producers unpark it only then.
    pub(super) sleeping: CachePadded<AtomicBool>,
    pub(super) thread: OnceLock<Thread>,
    pub(super) join: Mutex<Option<JoinHandle<()>>>,
    /// The process the worker was started in (0: not started). A child
    /// made by `fork()` inherits this state but not the thread.
    pub(super) worker_pid: AtomicU32,
    pub(super) counters: Counters,
    /// Pinned subscriber sets that are no longer published but may still be
    /// referenced by queued events (see `audience.rs`), each with the queue
    /// position it was retired at: the worker frees it once it has consumed
    /// everything before that position.
    pub(super) retired: Mutex<Vec<(SubscriberSet, usize)>>,
    pub(super) retired_pending: AtomicBool,
    /// Set when the worker has delivered its last event: from then on no
    /// pinned pointer is dereferenced again.
    pub(super) worker_done: AtomicBool,
    /// True while the worker is between taking events off the queue and
    /// finishing their delivery (cleared only between batches).
    pub(super) busy: CachePadded<AtomicBool>,
    /// Delivered events on their way back to an emitting thread.
    pub(super) graveyard: Graveyard,
    /// Queue position at which the worker stops, when `shutdown` was called
    /// from one of its own subscribers (it cannot wait for room for `Stop`
    /// in a queue only it drains). `usize::MAX`: not requested.
    pub(super) stop_at: AtomicUsize,
}

/// Delivers events to subscribers on a background thread. See the
/// [module docs](crate::dispatch).
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// A dispatcher with a ring of at least `capacity` events (rounded up
    /// to a power of two; [`stats`](Self::stats) reports the real capacity)
    /// and an overflow of at most `overflow` events (0: a full ring drops).
    pub fn new(capacity: usize, overflow: usize) -> Self {
        Dispatcher {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                queue: Queue::new(capacity, overflow),
                state: AtomicU8::new(RUNNING),
                sleeping: CachePadded::new(AtomicBool::new(false)),
                thread: OnceLock::new(),
                join: Mutex::new(None),
                worker_pid: AtomicU32::new(0),
                counters: Counters::default(),
                retired: Mutex::new(Vec::new()),
                retired_pending: AtomicBool::new(false),
                worker_done: AtomicBool::new(false),
                busy: CachePadded::new(AtomicBool::new(false)),
                graveyard: Graveyard::default(),
                stop_at: AtomicUsize::new(usize::MAX),
            }),
        }
    }

    /// Queue `event` for `subscribers`. Never blocks: returns `false` (and
    /// counts a drop) when the ring and its overflow are full or the
    /// dispatcher shut down.
    ///
    /// `true` means the queue took the event, not that it will be
    /// delivered: one that races with a [`shutdown`](Self::shutdown) can
    /// land behind the stop point and is then counted in
    /// [`DispatcherStats::dropped_closed`] instead. Either way it is
    /// accounted for exactly once.
    pub fn enqueue(&self, event: Event, subscribers: SubscriberSet) -> bool {
        self.enqueue_to(event, &Audience::Owned(subscribers))
    }

    /// [`enqueue`](Self::enqueue) for the runtime's own audiences, which may
    /// travel as a pinned pointer instead of a reference count.
    pub(crate) fn enqueue_to(&self, event: Event, audience: &Audience) -> bool {
        debug_assert!(
            audience
                .pinned_to()
                .is_none_or(|d| Arc::ptr_eq(&d.shared, &self.shared)),
            "a pinned subscriber set travels only through its own dispatcher"
        );
        self.enqueue_queued(event, || audience.queued())
    }

    /// Whether `other` is this dispatcher (a handle to the same one).
    pub(crate) fn is(&self, other: &Dispatcher) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// [`enqueue_to`](Self::enqueue_to) with the queued form of the
    /// audience, made only once the event is accepted.
    pub(crate) fn enqueue_queued(
        &self,
        event: Event,
        audience: impl FnOnce() -> QueuedAudience,
    ) -> bool {
        let s = &*self.shared;
        if s.state.load(Ordering::Acquire) != RUNNING {
            Counters::bump(&s.counters.dropped_closed);
            return false;
        }
        let item = Item::Event {
            event,
            audience: audience(),
        };
        match s.queue.push(item) {
            Ok(false) => {}
            Ok(true) => Counters::bump(&s.counters.overflowed),
            Err(_) => {
                Counters::bump(&s.counters.dropped_full);
                return false;
            }
        }
        // The push claimed its slot with a SeqCst CAS, so this SeqCst load is
        // ordered after it, against shutdown's SeqCst `STOPPED` store and its
        // final drain: either the drain sees our event, or we see `STOPPED`
        // and drain it ourselves. An event racing with shutdown can thus
        // never sit in the queue forever, neither delivered nor counted.
        if s.state.load(Ordering::SeqCst) == STOPPED {
            drain_closed(s);
            return false;
        }
        self.wake();
        s.graveyard.collect();
        true
    }

    /// Block until every event queued before this call has been delivered.
    ///
    /// Returns at once when called from one of this dispatcher's subscribers.
    pub fn flush(&self) -> Result<()> {
        self.flush_timeout(None)
    }

    /// [`flush`](Self::flush) with an upper bound; `Err(Timeout)` if the
    /// queue did not drain in time (nothing is lost: delivery continues).
    /// Nothing left to deliver is `Ok` at once, even with a zero timeout.
    pub fn flush_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let s = &*self.shared;
        // Everything queued was taken and delivered (the worker sets `busy`
        // before it takes events and clears it once it delivered them), and
        // no removed subscriber waits for the worker to release it (a flush
        // promises that too: the barrier path sweeps them first).
        if s.queue.is_empty()
            && !s.busy.load(Ordering::SeqCst)
            && !s.retired_pending.load(Ordering::SeqCst)
        {
            return Ok(());
        }
        if orphaned(s) {
            return Err(RelayError::Forked);
        }
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = done.clone();
        self.on_drained(Box::new(move || {
            *signal.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            signal.1.notify_all();
        }));
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut flag = done.0.lock().unwrap_or_else(|p| p.into_inner());
        while !*flag {
            match deadline {
                None => flag = done.1.wait(flag).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(RelayError::Timeout);
                    }
                    flag = done
                        .1
                        .wait_timeout(flag, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        Ok(())
    }

    /// Run `callback` once everything queued before this call has been
    /// delivered (on the dispatcher thread, or right away if there is nothing
    /// to wait for). The non-blocking building block of `flush`, for bindings
    /// that must not block their own thread.
    pub fn on_drained(&self, callback: Box<dyn FnOnce() + Send>) {
        let s = &*self.shared;
        let in_worker = WORKER_OF.with(|w| w.get()) == s.id;
        if in_worker || s.thread.get().is_none() || s.state.load(Ordering::Acquire) == STOPPED {
            callback();
            return;
        }
        let mut item = Item::Barrier(callback);
        // Counted before the push, so the worker never takes it uncounted.
        Counters::bump(&s.counters.control);
        // A barrier must not be dropped: wait for room (the worker is
        // draining, so this only spins while the queue is full).
        loop {
            match s.queue.push(item) {
                Ok(_) => break,
                Err(back) => item = back,
            }
            if s.state.load(Ordering::Acquire) == STOPPED {
                Counters::unbump(&s.counters.control);
                if let Item::Barrier(cb) = item {
                    cb();
                }
                return;
            }
            self.wake();
            thread::yield_now();
        }
        // As in `enqueue_to`: if shutdown's final drain may have missed our
        // barrier, run the drain ourselves (it fires barriers).
        if s.state.load(Ordering::SeqCst) == STOPPED {
            drain_closed(s);
            return;
        }
        self.wake();
    }

    /// Deliver everything queued, stop the worker and join it. Idempotent:
    /// a later or concurrent call also returns only once the worker has
    /// delivered what was queued and stopped, except from inside a
    /// subscriber, which returns at once (the worker finishes after it).
    /// Events emitted afterwards are dropped and counted.
    pub fn shutdown(&self) -> Result<()> {
        let s = &*self.shared;
        if s.state
            .compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            if WORKER_OF.with(|w| w.get()) != s.id && !orphaned(s) {
                wait_for_worker(s);
            }
            return Ok(());
        }
        // In a forked child there is no worker to stop: what is queued stays
        // undelivered (the parent delivers its own copy).
        if worker_started(s) && !orphaned(s) {
            if WORKER_OF.with(|w| w.get()) == s.id {
                // Called by a subscriber, on the worker: it finishes what is
                // queued up to here once this callback returns, and only
                // then marks the dispatcher stopped (see `delivery::run`):
                // a flush meanwhile must wait for those events.
                s.stop_at.store(s.queue.claimed(), Ordering::SeqCst);
                return Ok(());
            } else {
                let mut item = Item::Stop;
                Counters::bump(&s.counters.control);
                while let Err(back) = s.queue.push(item) {
                    item = back;
                    self.wake();
                    thread::yield_now();
                }
                self.wake();
                join_worker(s);
            }
        }
        mark_stopped(s);
        drain_closed(s);
        Ok(())
    }

    /// Take back a pinned set that is no longer published (its `PinnedSet`
    /// was dropped). Queued events may still point at it, so it is freed
    /// only once no event pushed before now can still be delivered.
    pub(crate) fn retire(&self, set: SubscriberSet) {
        let s = &*self.shared;
        // Nothing dereferences pinned pointers before the worker starts or
        // after it finished. (An event pushed before this call made its
        // producer start the worker before releasing the set, so "not
        // started" really means no event can point here.)
        if s.thread.get().is_none() || s.worker_done.load(Ordering::Acquire) {
            drop(set);
            return;
        }
        // The common case, removing a subscriber while the dispatcher is
        // idle: every event pushed before now was taken off the queue (it is
        // empty) and fully delivered (the worker is not mid-batch), so free
        // it now, and its listener count falls before we return. The worker
        // sets `busy` before it takes events and clears it after delivering
        // them; reading the queue's `head` first synchronizes with the first.
        if s.queue.is_empty() && !s.busy.load(Ordering::SeqCst) {
            drop(set);
            return;
        }
        // Every event that may point at `set` was pushed before its last
        // holder let go, i.e. before now: below this position.
        let position = s.queue.claimed();
        s.retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((set, position));
        s.retired_pending.store(true, Ordering::SeqCst);
        if s.worker_done.load(Ordering::Acquire) {
            // The worker finished while we were pushing (it sets the flag
            // before its final free, under the same lock we just released).
            delivery::free_retired(s);
            return;
        }
        // Let a parked worker free it now rather than at its next wake-up.
        self.wake();
    }

    /// Whether the calling thread is this dispatcher's worker (inside one of
    /// its subscribers).
    pub fn on_worker_thread(&self) -> bool {
        WORKER_OF.with(|w| w.get()) == self.shared.id
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) != RUNNING
    }

    /// Current counters.
    pub fn stats(&self) -> DispatcherStats {
        let s = &*self.shared;
        s.counters.read(s.queue.len(), s.queue.capacity())
    }

    /// Wake the worker if it sleeps. Called after a push (a SeqCst CAS) or
    /// after a SeqCst store of `retired_pending`; this SeqCst load of
    /// `sleeping` pairs with the worker's SeqCst store of `sleeping` followed
    /// by its SeqCst re-check of the queue and of `retired_pending`: either
    /// the worker sees our work, or we see it asleep and unpark it. (No
    /// fence needed: all four accesses are in the single SeqCst order.)
    fn wake(&self) {
        let s = &*self.shared;
        match s.thread.get() {
            None => self.start(),
            Some(t) => {
                if s.sleeping.load(Ordering::SeqCst) {
                    t.unpark();
                }
            }
        }
    }

    #[cold]
    fn start(&self) {
        let mut join = self.shared.join.lock().unwrap_or_else(|p| p.into_inner());
        // Not once shutdown began: it decided, under this lock, that there
        // is no worker to stop.
        if self.shared.thread.get().is_some()
            || self.shared.state.load(Ordering::Acquire) != RUNNING
        {
            return;
        }
        let shared = self.shared.clone();
        self.shared
            .worker_pid
            .store(std::process::id(), Ordering::Release);
        let handle = thread::Builder::new()
            .name("nemo-relay-dispatch".into())
            .spawn(move || delivery::run(shared))
            .expect("failed to spawn the nemo-relay dispatcher thread");
        let _ = self.shared.thread.set(handle.thread().clone());
        *join = Some(handle);
    }
}

/// Wait for the worker to stop, once this (the winning) shutdown told it
/// to. Only the winner joins, and not under the lock: a loser holding the
/// lock while it joined would keep the winner from pushing the stop item
/// it joins for, and both would wait forever.
fn join_worker(s: &Shared) {
    let handle = s.join.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(h) = handle {
        // The worker catches every user callback's panic; a join error
        // would be a runtime bug, and we are stopping.
        let _ = h.join();
    }
}

/// Nothing more will be delivered. A producer that sees this after its
/// push drains the queue itself (see `enqueue_queued`), so it must be
/// stored before the final [`drain_closed`].
pub(super) fn mark_stopped(s: &Shared) {
    s.state.store(STOPPED, Ordering::SeqCst);
}

/// Whether this process is a `fork()` child of the one whose worker
/// started: the worker thread did not come along, so nothing here delivers
/// (or can be waited for). Costs a `getpid`: for flush and shutdown only.
fn orphaned(s: &Shared) -> bool {
    let pid = s.worker_pid.load(Ordering::Acquire);
    pid != 0 && pid != std::process::id()
}

/// Whether the worker was started, once shutdown began. Read under the lock
/// `start` holds while it checks the state and spawns: either the worker
/// exists now, or it never will.
fn worker_started(s: &Shared) -> bool {
    let _join = s.join.lock().unwrap_or_else(|p| p.into_inner());
    s.thread.get().is_some()
}

/// A shutdown that lost the race to another one: return once the worker
/// delivered what was queued, as the winner does.
///
/// Polls, on purpose: shutdown is rare and brief, and a condition variable
/// would put a lock on the worker's exit path for this one caller.
fn wait_for_worker(s: &Shared) {
    if worker_started(s) {
        while !s.worker_done.load(Ordering::Acquire) {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &self.stats())
            .finish()
    }
}

/// After shutdown: anything that raced past the state check is dropped
/// (and counted); barriers still fire so no flusher waits forever.
///
/// Needs the consumer token. If someone else holds it, they will look at the
/// queue again after releasing it (this loop, or the worker's exit path
/// which ends here too), so returning is safe: the token's SeqCst release
/// and re-check pair with our SeqCst push and failed take.
pub(super) fn drain_closed(s: &Shared) {
    loop {
        let Some(mut consumer) = s.queue.try_consume() else {
            return;
        };
        loop {
            match consumer.pop() {
                Some(Item::Event { .. }) => Counters::bump(&s.counters.dropped_closed),
                Some(Item::Barrier(cb)) => {
                    Counters::unbump(&s.counters.control);
                    cb()
                }
                Some(Item::Stop) => Counters::unbump(&s.counters.control),
                // A push may have claimed its slot and still be writing it.
                None if !s.queue.is_empty() => thread::yield_now(),
                None => break,
            }
        }
        drop(consumer);
        if s.queue.is_empty() {
            return;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::Item;

    /// An event travels inline in a ring slot (with an 8-byte stamp, aligned
    /// to 64 bytes), and every line of the slot crosses from the emitting
    /// core to the dispatcher's. A field that pushes `Item` past 248 bytes
    /// makes every event cost a fifth line: box rare fields instead.
    #[test]
    fn a_queued_event_fits_four_cache_lines_with_its_stamp() {
        assert!(
            std::mem::size_of::<Item>() + 8 <= 256,
            "Item is {} bytes",
            std::mem::size_of::<Item>()
        );
    }
}
