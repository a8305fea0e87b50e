//! The dispatcher: a bounded lock-free queue drained by one worker thread.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::dispatch::audience::{Audience, QueuedAudience};
use crate::dispatch::graveyard::{self, Graveyard};
use crate::dispatch::ring::{Consumer, Ring};
use crate::dispatch::stats::Counters;
use crate::dispatch::{DispatcherStats, Subscriber, SubscriberSet};
use crate::error::{RelayError, Result};
use crate::event::Event;

/// Default queue capacity. Events are stored inline in the queue's slots
/// (256 bytes each, 4 MiB in all): boxing them would cost a malloc on the
/// emitting thread and a cross-thread free on the dispatcher for every event,
/// the single largest cost of emitting. 16 Ki events absorb a burst of
/// ~10 ms at full dispatcher speed; subscribers that batch (bindings,
/// exporters) drain the queue much faster than they process.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// How many events the worker delivers before it calls `on_batch_end` even
/// if the queue is not yet dry (bounds the latency of batching subscribers).
const MAX_BATCH: usize = 4096;

/// Rounds the worker lingers (half spinning, half yielding) before parking.
const LINGER_ROUNDS: usize = 64;

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const STOPPED: u8 = 2;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Id of the dispatcher whose worker runs on this thread (0 = none). Lets
    /// `flush` called from a subscriber return instead of waiting for itself.
    static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

// The size difference is the point: events live inline in the queue's slots
// so that emitting allocates nothing (see DEFAULT_QUEUE_CAPACITY).
#[allow(clippy::large_enum_variant)]
enum Item {
    Event {
        event: Event,
        audience: QueuedAudience,
    },
    /// Runs when the worker reaches it: everything queued before is delivered.
    Barrier(Box<dyn FnOnce() + Send>),
    Stop,
}

struct Shared {
    id: u64,
    queue: Ring<Item>,
    state: AtomicU8,
    /// Set by the worker just before it parks; producers unpark it only then.
    sleeping: CachePadded<AtomicBool>,
    thread: OnceLock<Thread>,
    join: Mutex<Option<JoinHandle<()>>>,
    counters: Counters,
    /// Pinned subscriber sets that are no longer published but may still be
    /// referenced by queued events; freed by the worker once it sees the
    /// queue empty (see [`audience`](crate::dispatch::audience)).
    retired: Mutex<Vec<SubscriberSet>>,
    retired_pending: AtomicBool,
    /// Set when the worker has delivered its last event: from then on no
    /// pinned pointer is dereferenced again.
    worker_done: AtomicBool,
    /// True while the worker is between taking events off the queue and
    /// finishing their delivery (cleared only between batches).
    busy: CachePadded<AtomicBool>,
    /// Delivered events on their way back to an emitting thread.
    graveyard: Graveyard,
}

/// Delivers events to subscribers on a background thread. See the
/// [module docs](crate::dispatch).
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// A dispatcher with a queue of at least `capacity` events (rounded up
    /// to a power of two; [`stats`](Self::stats) reports the real capacity).
    pub fn new(capacity: usize) -> Self {
        Dispatcher {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                queue: Ring::new(capacity),
                state: AtomicU8::new(RUNNING),
                sleeping: CachePadded::new(AtomicBool::new(false)),
                thread: OnceLock::new(),
                join: Mutex::new(None),
                counters: Counters::default(),
                retired: Mutex::new(Vec::new()),
                retired_pending: AtomicBool::new(false),
                worker_done: AtomicBool::new(false),
                busy: CachePadded::new(AtomicBool::new(false)),
                graveyard: Graveyard::default(),
            }),
        }
    }

    /// Queue `event` for `subscribers`. Never blocks: returns `false` (and
    /// counts a drop) when the queue is full or the dispatcher shut down.
    pub fn enqueue(&self, event: Event, subscribers: SubscriberSet) -> bool {
        self.enqueue_to(event, &Audience::Owned(subscribers))
    }

    /// [`enqueue`](Self::enqueue) for the runtime's own audiences, which may
    /// travel as a pinned pointer instead of a reference count.
    pub(crate) fn enqueue_to(&self, event: Event, audience: &Audience) -> bool {
        let s = &*self.shared;
        if s.state.load(Ordering::Acquire) != RUNNING {
            Counters::bump(&s.counters.dropped_closed);
            return false;
        }
        let item = Item::Event {
            event,
            audience: audience.queued(),
        };
        if s.queue.push(item).is_err() {
            Counters::bump(&s.counters.dropped_full);
            return false;
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
        self.wake_after_push();
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
    pub fn flush_timeout(&self, timeout: Option<Duration>) -> Result<()> {
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
        // A barrier must not be dropped: wait for room (the worker is
        // draining, so this only spins while the queue is full).
        loop {
            match s.queue.push(item) {
                Ok(()) => break,
                Err(back) => item = back,
            }
            if s.state.load(Ordering::Acquire) == STOPPED {
                if let Item::Barrier(cb) = item {
                    cb();
                }
                return;
            }
            self.wake();
            thread::yield_now();
        }
        self.wake();
    }

    /// Deliver everything queued, stop the worker and join it. Idempotent.
    /// Events emitted afterwards are dropped and counted.
    pub fn shutdown(&self) -> Result<()> {
        let s = &*self.shared;
        if s.state
            .compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(()); // already stopping or stopped
        }
        if s.thread.get().is_some() {
            let mut item = Item::Stop;
            while let Err(back) = s.queue.push(item) {
                item = back;
                self.wake();
                thread::yield_now();
            }
            self.wake();
            let in_worker = WORKER_OF.with(|w| w.get()) == s.id;
            let handle = s.join.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let (Some(h), false) = (handle, in_worker) {
                // The worker catches subscriber panics; a join error would be
                // a runtime bug, and we are shutting down anyway.
                let _ = h.join();
            }
        }
        s.state.store(STOPPED, Ordering::SeqCst);
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
        s.retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(set);
        s.retired_pending.store(true, Ordering::SeqCst);
        if s.worker_done.load(Ordering::Acquire) {
            // The worker finished while we were pushing (it sets the flag
            // before its final free, under the same lock we just released).
            free_retired(s);
            return;
        }
        // Let a parked worker free it now rather than at its next wake-up.
        self.wake();
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

    fn wake(&self) {
        self.wake_after_push();
    }

    /// Wake the worker if it sleeps. Called after a push (a SeqCst CAS) or
    /// after a SeqCst store of `retired_pending`; this SeqCst load of
    /// `sleeping` pairs with the worker's SeqCst store of `sleeping` followed
    /// by its SeqCst re-check of the queue and of `retired_pending`: either
    /// the worker sees our work, or we see it asleep and unpark it. (No
    /// fence needed: all four accesses are in the single SeqCst order.)
    fn wake_after_push(&self) {
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
        if self.shared.thread.get().is_some()
            || self.shared.state.load(Ordering::Acquire) == STOPPED
        {
            return;
        }
        let shared = self.shared.clone();
        let handle = thread::Builder::new()
            .name("nemo-relay-dispatch".into())
            .spawn(move || run(shared))
            .expect("failed to spawn the nemo-relay dispatcher thread");
        let _ = self.shared.thread.set(handle.thread().clone());
        *join = Some(handle);
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Subscribers that received events since the last `on_batch_end`, deduped
/// by pointer (consecutive events usually share one snapshot, so the common
/// case is a single pointer comparison).
///
/// `last` is only compared, never dereferenced; it is reset at every batch
/// end, which is also the only time retired sets are freed, so it cannot
/// alias a newer set allocated at the same address.
struct Touched {
    last: *const (),
    subs: Vec<Arc<dyn Subscriber>>,
}

impl Default for Touched {
    fn default() -> Self {
        Touched {
            last: std::ptr::null(),
            subs: Vec::new(),
        }
    }
}

impl Touched {
    fn note(&mut self, addr: *const (), set: &[Arc<dyn Subscriber>]) {
        if self.last == addr {
            return;
        }
        for s in set {
            if !self.subs.iter().any(|t| Arc::ptr_eq(t, s)) {
                self.subs.push(s.clone());
            }
        }
        self.last = addr;
    }

    fn end_batch(&mut self, shared: &Shared) {
        self.last = std::ptr::null();
        for s in self.subs.drain(..) {
            if catch_unwind(AssertUnwindSafe(|| s.on_batch_end())).is_err() {
                Counters::bump(&shared.counters.subscriber_panics);
            }
        }
    }
}

/// Free retired sets if every event that could point at them was delivered.
/// Worker only, between batches.
fn sweep_retired(shared: &Shared) {
    if !shared.retired_pending.load(Ordering::Acquire) {
        return;
    }
    let taken = {
        let mut retired = shared.retired.lock().unwrap_or_else(|p| p.into_inner());
        shared.retired_pending.store(false, Ordering::Relaxed);
        std::mem::take(&mut *retired)
    };
    // Everything pushed before these sets were retired is ahead of anything
    // pushed after; an empty queue (observed after taking them) means all of
    // it was delivered.
    if shared.queue.is_empty() {
        drop(taken); // outside the lock: dropping a subscriber runs user code
    } else {
        let mut retired = shared.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired.extend(taken);
        shared.retired_pending.store(true, Ordering::Release);
    }
}

/// Free every retired set (the worker will not deliver again).
fn free_retired(shared: &Shared) {
    let taken = std::mem::take(&mut *shared.retired.lock().unwrap_or_else(|p| p.into_inner()));
    shared.retired_pending.store(false, Ordering::Relaxed);
    drop(taken);
}

/// After shutdown: anything that raced past the state check is dropped
/// (and counted); barriers still fire so no flusher waits forever.
///
/// Needs the consumer token. If someone else holds it, they will look at the
/// queue again after releasing it (this loop, or the worker's exit path
/// which ends here too), so returning is safe: the token's SeqCst release
/// and re-check pair with our SeqCst push and failed take.
fn drain_closed(s: &Shared) {
    loop {
        let Some(mut consumer) = s.queue.try_consume() else {
            return;
        };
        loop {
            match consumer.pop() {
                Some(Item::Event { .. }) => Counters::bump(&s.counters.dropped_closed),
                Some(Item::Barrier(cb)) => cb(),
                Some(Item::Stop) => {}
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

/// Wait a little for more work; `true` if some arrived.
fn linger(consumer: &Consumer<'_, Item>) -> bool {
    for i in 0..LINGER_ROUNDS {
        if consumer.ready() {
            return true;
        }
        if i < LINGER_ROUNDS / 2 {
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
    false
}

fn run(shared: Arc<Shared>) {
    WORKER_OF.with(|w| w.set(shared.id));
    // Only post-shutdown drains compete for the token, and they cannot start
    // before this worker has been joined, so this succeeds at once.
    let mut consumer = loop {
        match shared.queue.try_consume() {
            Some(c) => break c,
            None => thread::yield_now(),
        }
    };
    deliver(&shared, &mut consumer);
    drop(consumer);
    // Events that raced in behind `Stop` (see `drain_closed`).
    drain_closed(&shared);
}

fn deliver(shared: &Shared, consumer: &mut Consumer<'_, Item>) {
    let mut touched = Touched::default();
    let mut dead = Vec::with_capacity(graveyard::BATCH);
    loop {
        let mut in_batch = 0usize;
        let mut busy = false;
        while consumer.ready() {
            // Announced before the event leaves the queue (see `retire`).
            if !busy {
                shared.busy.store(true, Ordering::SeqCst);
                busy = true;
            }
            let Some(item) = consumer.pop() else { break };
            match item {
                Item::Event {
                    mut event,
                    audience,
                } => {
                    // SAFETY: we are the worker, delivering a popped event;
                    // retired sets are freed only by `sweep_retired` below,
                    // between batches.
                    let subscribers = unsafe { audience.subscribers() };
                    for s in subscribers {
                        if catch_unwind(AssertUnwindSafe(|| s.on_event(&event))).is_err() {
                            Counters::bump(&shared.counters.subscriber_panics);
                        }
                    }
                    Counters::bump(&shared.counters.delivered);
                    touched.note(audience.addr(), subscribers);
                    graveyard::strip(&mut event, &mut dead);
                    drop(event);
                    if dead.len() >= graveyard::BATCH {
                        shared.graveyard.bury(&mut dead);
                    }
                    in_batch += 1;
                    if in_batch >= MAX_BATCH {
                        touched.end_batch(shared);
                        in_batch = 0;
                    }
                }
                Item::Barrier(cb) => {
                    touched.end_batch(shared);
                    // Everything before the barrier is delivered: idle as far
                    // as `retire` can tell, so a subscriber removed right
                    // after `flush` returns is released at once.
                    shared.busy.store(false, Ordering::SeqCst);
                    busy = false;
                    sweep_retired(shared);
                    in_batch = 0;
                    cb();
                }
                Item::Stop => {
                    touched.end_batch(shared);
                    // Events behind `Stop` are dropped undelivered, so no
                    // pinned pointer is read after this point.
                    shared.worker_done.store(true, Ordering::Release);
                    free_retired(shared);
                    return;
                }
            }
        }
        touched.end_batch(shared);
        shared.graveyard.bury(&mut dead);
        if busy {
            shared.busy.store(false, Ordering::SeqCst);
        }
        sweep_retired(shared);
        // Agents emit in bursts. Parking as soon as the queue is dry would
        // make the next producer pay a futex wake-up (~1 µs, more than the
        // whole emit), so linger briefly first: spin, then yield, then park.
        if linger(consumer) {
            continue;
        }
        // Emitters went quiet: free what they did not pick up.
        shared.graveyard.clear();
        // See `Dispatcher::wake_after_push` for the pairing.
        shared.sleeping.store(true, Ordering::SeqCst);
        if shared.queue.is_empty() && !shared.retired_pending.load(Ordering::SeqCst) {
            // The timeout is a safety net only; producers unpark us.
            thread::park_timeout(Duration::from_millis(100));
        }
        shared.sleeping.store(false, Ordering::Relaxed);
    }
}
