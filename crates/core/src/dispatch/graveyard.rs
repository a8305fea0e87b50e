//! Delivered events go back to an emitting thread to be freed.
//!
//! An event's payloads (`data`, `metadata`: JSON maps and strings) are
//! allocated by the thread that emits it and, naively, freed by the
//! dispatcher thread after delivery. glibc's malloc handles that pattern
//! badly: blocks freed by a foreign thread larger than its per-thread cache
//! go back to the owning arena under its lock, which the emitting thread
//! takes on its next allocation, and the emitter's cache runs dry, so every
//! allocation takes the slow path. Measured on a managed tool call with a
//! subscriber, that was more than half of the caller's cost.
//!
//! So the dispatcher does not free the payloads it delivered: it hands
//! batches of them (only the JSON values that own heap memory; the event
//! structs themselves stay put, moving them back would cost as many cache
//! lines as sending them did) to the graveyard, and emitting threads pick
//! them up and free a few per emit, on their own thread, where (for the
//! usual single agent thread) the memory came from. Bounds, so nothing is
//! retained for long:
//!
//! * a batch holds at most [`BATCH`] values, and at most one batch waits:
//!   if no emitter took the previous one, the dispatcher frees it itself;
//! * before the dispatcher sleeps (emitters went quiet) it frees the waiting
//!   batch;
//! * an emitting thread keeps what it picked up in a thread-local stash
//!   (one batch at most), freed [`PER_EMIT`] values per emit (so no emit
//!   pays for a whole batch) and when the thread exits;
//! * the dispatcher frees the waiting batch when it stops.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crossbeam_utils::CachePadded;

use crate::event::{Event, Json};

/// Payloads per batch handed back.
pub(crate) const BATCH: usize = 64;
/// Payloads an emit frees from its thread's stash.
const PER_EMIT: usize = 4;

thread_local! {
    static STASH: RefCell<Vec<Json>> = const { RefCell::new(Vec::new()) };
}

/// Dispatcher: move the heap-owning payloads of a delivered event to `dead`.
pub(crate) fn strip(event: &mut Event, dead: &mut Vec<Json>) {
    for slot in [
        &mut event.data,
        &mut event.metadata,
        &mut event.category_profile,
    ] {
        if slot.as_ref().is_some_and(owns_heap) {
            dead.extend(slot.take());
        }
    }
}

fn owns_heap(j: &Json) -> bool {
    match j {
        Json::Object(m) => !m.is_empty(),
        Json::Array(v) => v.capacity() > 0,
        Json::String(s) => s.capacity() > 0,
        _ => false,
    }
}

#[derive(Default)]
pub(crate) struct Graveyard {
    /// A batch waits (read by every emit: kept on its own line).
    waiting: CachePadded<AtomicBool>,
    batch: Mutex<Vec<Json>>,
}

impl Graveyard {
    /// Dispatcher: hand over `dead` (emptied). Frees an earlier batch that
    /// nobody took, outside the lock.
    pub(crate) fn bury(&self, dead: &mut Vec<Json>) {
        if dead.is_empty() {
            return;
        }
        let stale = {
            let mut b = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *b, std::mem::take(dead))
        };
        self.waiting.store(true, Ordering::Release);
        // Reuse the stale batch's buffer for the next one.
        let mut stale = stale;
        stale.clear();
        *dead = stale;
    }

    /// Dispatcher, before it sleeps: free the waiting batch.
    pub(crate) fn clear(&self) {
        if !self.waiting.swap(false, Ordering::AcqRel) {
            return;
        }
        let batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(|p| p.into_inner()));
        drop(batch);
    }

    /// Emitting thread, after an emit: take a waiting batch into this
    /// thread's stash and free a few stashed events.
    #[inline]
    pub(crate) fn collect(&self) {
        let waiting = self.waiting.load(Ordering::Relaxed);
        let _ = STASH.try_with(|stash| {
            let Ok(mut stash) = stash.try_borrow_mut() else {
                return;
            };
            if !waiting && stash.is_empty() {
                return;
            }
            // Only an empty stash takes a batch, so a stash never holds more
            // than one batch (a thread that emits rarely leaves batches to
            // the dispatcher, which frees them itself).
            if waiting && stash.is_empty() && self.waiting.swap(false, Ordering::Acquire) {
                let mut b = self.batch.lock().unwrap_or_else(|p| p.into_inner());
                std::mem::swap(&mut *stash, &mut *b);
            }
            let keep = stash.len().saturating_sub(PER_EMIT);
            stash.truncate(keep);
        });
    }
}
