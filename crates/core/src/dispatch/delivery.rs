//! The dispatcher's worker thread: take events off the queue, hand them to
//! their subscribers, tell batching subscribers when a batch ends, and free
//! what is no longer needed.
//!
//! Every user callback the worker runs (`on_event`, `on_batch_end`, flush
//! barriers, the `Drop` of a removed subscriber) runs under `catch_unwind`:
//! a panic is counted and delivery goes on, because a dead worker would
//! leave every later `flush` waiting forever.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::dispatch::audience::QueuedAudience;
use crate::dispatch::graveyard;
use crate::dispatch::queue::Consumer;
use crate::dispatch::stats::Counters;
use crate::dispatch::worker::{
    drain_closed, mark_stopped, Item, Shared, LINGER_NAP, LINGER_NAPS, MAX_BATCH, WORKER_OF,
};
use crate::dispatch::{Subscriber, SubscriberSet};

/// Run `f`, counting a panic instead of unwinding out of the worker.
fn guarded(shared: &Shared, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        Counters::bump(&shared.counters.subscriber_panics);
    }
}

/// Subscribers that received events since the last `on_batch_end`, deduped
/// by set (consecutive events usually share one, so the common case is a
/// single pointer comparison).
///
/// Subscribers are held by pointer, not by `Arc` clone: cloning would touch
/// each subscriber's reference count for every batch, and batches are a few
/// events long when the worker keeps up, so that cache line (and whatever
/// the allocator put next to it, e.g. an agent's scope frames) would bounce
/// between the worker's core and the emitting one. The pointers stay valid
/// because every set they come from outlives the batch: pinned sets are
/// freed only between batches (after `end_batch`), and owned sets are kept
/// in `owned` until `end_batch`.
///
/// `last` is compared, never dereferenced. It cannot alias a newer set
/// allocated at a freed set's address for the same reasons.
struct Touched {
    last: *const (),
    owned: Vec<SubscriberSet>,
    subs: Vec<NonNull<dyn Subscriber>>,
}

impl Touched {
    fn new() -> Self {
        Touched {
            last: std::ptr::null(),
            owned: Vec::new(),
            subs: Vec::new(),
        }
    }

    fn note(&mut self, audience: &QueuedAudience, set: &[Arc<dyn Subscriber>]) {
        let addr = audience.addr();
        if self.last == addr {
            return;
        }
        for s in set {
            let p = NonNull::from(&**s);
            if !self.subs.iter().any(|t| t.cast::<()>() == p.cast::<()>()) {
                self.subs.push(p);
            }
        }
        self.last = addr;
        if let QueuedAudience::Owned(set) = audience {
            self.owned.push(set.clone());
        }
    }

    fn end_batch(&mut self, shared: &Shared) {
        self.last = std::ptr::null();
        for s in self.subs.drain(..) {
            // SAFETY: the set `s` came from is still alive (type docs).
            let s = unsafe { s.as_ref() };
            guarded(shared, || s.on_batch_end());
        }
        // May drop the last reference to a scope-local subscriber: user code.
        let owned = &mut self.owned;
        guarded(shared, || owned.clear());
    }
}

/// Free the retired sets whose events have all been consumed (`consumed`:
/// the worker's queue position). Worker only, between batches.
fn sweep_retired(shared: &Shared, consumed: usize) {
    if !shared.retired_pending.load(Ordering::Acquire) {
        return;
    }
    let done: Vec<SubscriberSet> = {
        let mut retired = shared.retired.lock().unwrap_or_else(|p| p.into_inner());
        let (done, waiting): (Vec<_>, Vec<_>) =
            retired.drain(..).partition(|(_, at)| *at <= consumed);
        *retired = waiting;
        shared
            .retired_pending
            .store(!retired.is_empty(), Ordering::Release);
        done.into_iter().map(|(set, _)| set).collect()
    };
    // Outside the lock: dropping a subscriber runs user code.
    guarded(shared, || drop(done));
}

/// Free every retired set (the worker will not deliver again).
pub(super) fn free_retired(shared: &Shared) {
    let taken = std::mem::take(&mut *shared.retired.lock().unwrap_or_else(|p| p.into_inner()));
    shared.retired_pending.store(false, Ordering::Relaxed);
    guarded(shared, || drop(taken));
}

/// Wait a little for more work; `true` if some arrived.
///
/// The worker naps rather than spins. A worker polling the queue keeps
/// pulling the cache lines the emitting thread is about to write (the tail,
/// the next slots) to its own core, so every emit pays a cross-core transfer
/// for each of them, which costs the agent more than the whole enqueue.
/// Napping lets events accumulate while the emitter owns those lines; the
/// worker then takes them as one batch, which the hardware streams well.
fn linger(consumer: &Consumer<'_, Item>) -> bool {
    for _ in 0..LINGER_NAPS {
        thread::sleep(LINGER_NAP);
        if consumer.ready() {
            return true;
        }
    }
    false
}

/// Sets `worker_done` if the worker unwinds: a shutdown that lost the race
/// waits for that flag, and must not wait forever on a dead worker.
struct DoneOnUnwind<'a>(&'a Shared);

impl Drop for DoneOnUnwind<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.worker_done.store(true, Ordering::Release);
        }
    }
}

pub(super) fn run(shared: Arc<Shared>) {
    let _done = DoneOnUnwind(&shared);
    WORKER_OF.with(|w| w.set(shared.id));
    // Only post-shutdown drains compete for the token, and a shutdown joins
    // this worker before it drains, so this succeeds at once.
    let mut consumer = loop {
        match shared.queue.try_consume() {
            Some(c) => break c,
            None => thread::yield_now(),
        }
    };
    deliver(&shared, &mut consumer);
    // Events behind the stop point are dropped undelivered, so no pinned
    // pointer is read after this point.
    shared.worker_done.store(true, Ordering::Release);
    free_retired(&shared);
    shared.graveyard.clear();
    // Only now, when a shutdown came from a subscriber: until here a flush
    // had to wait for the events before the stop point.
    mark_stopped(&shared);
    drop(consumer);
    // Events that raced in behind the stop point (see `drain_closed`).
    drain_closed(&shared);
}

/// Whether `shutdown` was called from a subscriber and everything queued
/// before that call has been consumed.
fn stop_reached(shared: &Shared, consumer: &Consumer<'_, Item>) -> bool {
    consumer.position() >= shared.stop_at.load(Ordering::Acquire)
}

/// Deliver until `Stop` (or the stop point); returns with the batch ended.
fn deliver(shared: &Shared, consumer: &mut Consumer<'_, Item>) {
    let mut touched = Touched::new();
    let mut dead = graveyard::Partial::new();
    loop {
        let mut in_batch = 0usize;
        let mut busy = false;
        while consumer.ready() && !stop_reached(shared, consumer) {
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
                    // retired sets are freed only by `sweep_retired`, between
                    // batches, once the worker consumed past their position.
                    let subscribers = unsafe { audience.subscribers() };
                    for s in subscribers {
                        guarded(shared, || s.on_event(&event));
                    }
                    Counters::bump(&shared.counters.delivered);
                    touched.note(&audience, subscribers);
                    dead.strip(&mut event, &shared.graveyard);
                    drop(event);
                    in_batch += 1;
                    if in_batch >= MAX_BATCH {
                        touched.end_batch(shared);
                        sweep_retired(shared, consumer.position());
                        in_batch = 0;
                    }
                }
                Item::Barrier(cb) => {
                    Counters::unbump(&shared.counters.control);
                    touched.end_batch(shared);
                    // Everything before the barrier is delivered: idle as far
                    // as `retire` can tell, so a subscriber removed right
                    // after `flush` returns is released at once.
                    shared.busy.store(false, Ordering::SeqCst);
                    busy = false;
                    sweep_retired(shared, consumer.position());
                    in_batch = 0;
                    guarded(shared, cb);
                }
                Item::Stop => {
                    Counters::unbump(&shared.counters.control);
                    touched.end_batch(shared);
                    return;
                }
            }
        }
        touched.end_batch(shared);
        dead.bury_if_old(&shared.graveyard);
        if busy {
            shared.busy.store(false, Ordering::SeqCst);
        }
        sweep_retired(shared, consumer.position());
        if stop_reached(shared, consumer) {
            return;
        }
        // Agents emit in bursts. Parking as soon as the queue is dry would
        // make the next producer pay a futex wake-up (~1 µs, more than the
        // whole emit), so linger first: nap a few times, then park.
        if linger(consumer) {
            continue;
        }
        // Emitters went quiet: free what they did not pick up, and the
        // partial batch they never will.
        shared.graveyard.clear();
        dead.free();
        // See `Dispatcher::wake` for the pairing.
        shared.sleeping.store(true, Ordering::SeqCst);
        if shared.queue.is_empty() && !shared.retired_pending.load(Ordering::SeqCst) {
            // The timeout is a safety net only; producers unpark us.
            thread::park_timeout(Duration::from_millis(100));
        }
        shared.sleeping.store(false, Ordering::Relaxed);
    }
}
