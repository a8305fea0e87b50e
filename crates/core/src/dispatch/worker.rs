//! The dispatcher: a bounded lock-free queue drained by one worker thread.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use crate::dispatch::stats::Counters;
use crate::dispatch::{DispatcherStats, Subscriber, SubscriberSet};
use crate::error::{RelayError, Result};
use crate::event::Event;

/// Default queue capacity. Events are stored inline in the queue's slots
/// (~240 bytes each, ~4 MiB in all): boxing them would cost a malloc on the
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
        subscribers: SubscriberSet,
    },
    /// Runs when the worker reaches it: everything queued before is delivered.
    Barrier(Box<dyn FnOnce() + Send>),
    Stop,
}

struct Shared {
    id: u64,
    queue: ArrayQueue<Item>,
    state: AtomicU8,
    /// Set by the worker just before it parks; producers unpark it only then.
    sleeping: CachePadded<AtomicBool>,
    thread: OnceLock<Thread>,
    join: Mutex<Option<JoinHandle<()>>>,
    counters: Counters,
}

/// Delivers events to subscribers on a background thread. See the
/// [module docs](crate::dispatch).
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// A dispatcher with a queue of `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Dispatcher {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                queue: ArrayQueue::new(capacity.max(1)),
                state: AtomicU8::new(RUNNING),
                sleeping: CachePadded::new(AtomicBool::new(false)),
                thread: OnceLock::new(),
                join: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// Queue `event` for `subscribers`. Never blocks: returns `false` (and
    /// counts a drop) when the queue is full or the dispatcher shut down.
    pub fn enqueue(&self, event: Event, subscribers: SubscriberSet) -> bool {
        let s = &*self.shared;
        if s.state.load(Ordering::Acquire) != RUNNING {
            Counters::bump(&s.counters.dropped_closed);
            return false;
        }
        let item = Item::Event { event, subscribers };
        if s.queue.push(item).is_err() {
            Counters::bump(&s.counters.dropped_full);
            return false;
        }
        // The fence orders our push before the state re-check below, against
        // shutdown's `STOPPED` store followed by its final drain: either the
        // drain sees our event, or we see `STOPPED` and drain it ourselves.
        // Without this, an event racing with shutdown could sit in the queue
        // forever, neither delivered nor counted.
        fence(Ordering::SeqCst);
        if s.state.load(Ordering::Relaxed) == STOPPED {
            self.drain_closed();
            return false;
        }
        self.wake_after_fence();
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
        self.drain_closed();
        Ok(())
    }

    /// After shutdown: anything that raced past the state check is dropped
    /// (and counted); barriers still fire so no flusher waits forever.
    fn drain_closed(&self) {
        let s = &*self.shared;
        while let Some(item) = s.queue.pop() {
            match item {
                Item::Event { .. } => Counters::bump(&s.counters.dropped_closed),
                Item::Barrier(cb) => cb(),
                Item::Stop => {}
            }
        }
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
        fence(Ordering::SeqCst);
        self.wake_after_fence();
    }

    /// Wake the worker if it sleeps. The caller has issued a SeqCst fence
    /// after its push; it pairs with the fence in the worker: either the
    /// worker sees our item when it re-checks the queue, or we see
    /// `sleeping == true` and unpark it.
    fn wake_after_fence(&self) {
        let s = &*self.shared;
        match s.thread.get() {
            None => self.start(),
            Some(t) => {
                if s.sleeping.load(Ordering::Relaxed) {
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
#[derive(Default)]
struct Touched {
    last: Option<SubscriberSet>,
    subs: Vec<Arc<dyn Subscriber>>,
}

impl Touched {
    fn note(&mut self, set: &SubscriberSet) {
        if self.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, set)) {
            return;
        }
        for s in set.iter() {
            if !self.subs.iter().any(|t| Arc::ptr_eq(t, s)) {
                self.subs.push(s.clone());
            }
        }
        self.last = Some(set.clone());
    }

    fn end_batch(&mut self, shared: &Shared) {
        self.last = None;
        for s in self.subs.drain(..) {
            if catch_unwind(AssertUnwindSafe(|| s.on_batch_end())).is_err() {
                Counters::bump(&shared.counters.subscriber_panics);
            }
        }
    }
}

/// Wait a little for more work; `true` if some arrived.
fn linger(queue: &ArrayQueue<Item>) -> bool {
    for i in 0..LINGER_ROUNDS {
        if !queue.is_empty() {
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
    let mut touched = Touched::default();
    loop {
        let mut in_batch = 0usize;
        while let Some(item) = shared.queue.pop() {
            match item {
                Item::Event { event, subscribers } => {
                    for s in subscribers.iter() {
                        if catch_unwind(AssertUnwindSafe(|| s.on_event(&event))).is_err() {
                            Counters::bump(&shared.counters.subscriber_panics);
                        }
                    }
                    Counters::bump(&shared.counters.delivered);
                    touched.note(&subscribers);
                    in_batch += 1;
                    if in_batch >= MAX_BATCH {
                        touched.end_batch(&shared);
                        in_batch = 0;
                    }
                }
                Item::Barrier(cb) => {
                    touched.end_batch(&shared);
                    in_batch = 0;
                    cb();
                }
                Item::Stop => {
                    touched.end_batch(&shared);
                    return;
                }
            }
        }
        touched.end_batch(&shared);
        // Agents emit in bursts. Parking as soon as the queue is dry would
        // make the next producer pay a futex wake-up (~1 µs, more than the
        // whole emit), so linger briefly first: spin, then yield, then park.
        if linger(&shared.queue) {
            continue;
        }
        shared.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if shared.queue.is_empty() {
            // The timeout is a safety net only; producers unpark us.
            thread::park_timeout(Duration::from_millis(100));
        }
        shared.sleeping.store(false, Ordering::Relaxed);
    }
}
