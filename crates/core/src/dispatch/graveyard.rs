//! Delivered events go back to an emitting thread to be freed.
//!
//! An event's payloads (the text of `data`; `metadata`: JSON maps) are
//! allocated by the thread that emits it and, naively, freed by the
//! dispatcher thread after delivery. glibc's malloc handles that pattern
//! badly: blocks freed by a foreign thread larger than its per-thread cache
//! go back to the owning arena under its lock, which the emitting thread
//! takes on its next allocation, and the emitter's cache runs dry, so every
//! allocation takes the slow path. Measured on a managed tool call with a
//! subscriber, that was more than half of the caller's cost.
//!
//! So the dispatcher does not free the payloads it delivered: it hands
//! batches of them (only the parts that own heap memory; the event
//! structs themselves stay put, moving them back would cost as many cache
//! lines as sending them did) to the graveyard, and emitting threads pick
//! them up and free a few per emit, on their own thread, where (for the
//! usual single agent thread) the memory came from. Bounds, so nothing is
//! retained for long:
//!
//! * the dispatcher hands over full batches of [`BATCH`] values (a batch
//!   per dry queue would mean tiny batches while it keeps up with the
//!   emitter, and the hand-over would cost more than the frees), and a
//!   partial batch once it is [`MAX_AGE`] old; at most [`MAX_WAITING`]
//!   batches wait, beyond that the dispatcher frees the oldest itself;
//! * before the dispatcher sleeps (emitters went quiet) it frees the waiting
//!   batches and its partial one;
//! * an emitting thread keeps what it picked up in a thread-local stash
//!   (one batch at most), freed [`PER_EMIT`] values per emit (so no emit
//!   pays for a whole batch, and a thread emitting one payload per event
//!   frees faster than it produces) and when the thread exits; a thread
//!   that stops emitting keeps the rest of its batch (at most [`BATCH`]
//!   values) until it emits again or exits;
//! * the dispatcher frees the waiting batches when it stops.
//!
//! The batches' buffers travel back too (emptied stashes become the
//! dispatcher's next batches), so the hand-over itself allocates nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::event::payload::Text;
use crate::event::{Event, Json};

/// The heap-owning part of a delivered event, on its way to be freed.
// Never read: held only to be dropped, on the emitting thread.
#[allow(dead_code)]
pub(crate) enum Dead {
    /// `metadata` or `category_profile`.
    Json(Json),
    /// The text of the `data` payload.
    Text(Box<str>),
}

/// Payloads per batch handed back.
pub(crate) const BATCH: usize = 64;
/// Longest a partial batch stays with the dispatcher while events flow.
const MAX_AGE: Duration = Duration::from_millis(2);
/// Batches that may wait for an emitter.
const MAX_WAITING: usize = 8;
/// Payloads an emit frees from its thread's stash.
const PER_EMIT: usize = 4;

thread_local! {
    static STASH: RefCell<Vec<Dead>> = const { RefCell::new(Vec::new()) };
}

/// The dispatcher's batch in the making: payloads of delivered events, and
/// when the oldest of them was added.
pub(crate) struct Partial {
    values: Vec<Dead>,
    since: Option<Instant>,
}

impl Partial {
    pub(crate) fn new() -> Self {
        Partial {
            values: Vec::with_capacity(BATCH),
            since: None,
        }
    }

    /// Move the heap-owning payloads of a delivered event here; hand the
    /// batch over once it is full.
    pub(crate) fn strip(&mut self, event: &mut Event, graveyard: &Graveyard) {
        if let Some(data) = event.data.take() {
            // Only a heap text goes back: a short one lives in the event.
            // The parse, if a subscriber asked for one, was made on this
            // thread and is freed here.
            if let (Text::Heap(text), _parsed) = data.into_parts() {
                self.add(Dead::Text(text));
            }
        }
        for slot in [&mut event.metadata, &mut event.category_profile] {
            if slot.as_ref().is_some_and(owns_heap) {
                self.add(Dead::Json(slot.take().expect("checked")));
            }
        }
        if self.values.len() >= BATCH {
            graveyard.bury(&mut self.values);
        }
    }

    fn add(&mut self, dead: Dead) {
        if self.values.is_empty() {
            self.since = Some(Instant::now());
        }
        self.values.push(dead);
    }

    /// When the queue ran dry: hand over a partial batch that is
    /// [`MAX_AGE`] old. Without this, events without payloads arriving
    /// faster than the worker parks would keep a delivered payload (of any
    /// size) alive for as long as they keep coming.
    pub(crate) fn bury_if_old(&mut self, graveyard: &Graveyard) {
        if self
            .since
            .is_some_and(|t| !self.values.is_empty() && t.elapsed() >= MAX_AGE)
        {
            graveyard.bury(&mut self.values);
        }
    }

    /// Before the worker sleeps: free the partial batch here.
    pub(crate) fn free(&mut self) {
        self.values.clear();
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
    /// Batches wait (read by every emit: kept on its own line).
    waiting: CachePadded<AtomicBool>,
    piles: Mutex<Piles>,
}

#[derive(Default)]
struct Piles {
    /// Batches handed over (full, or partial ones that aged), oldest first.
    waiting: VecDeque<Vec<Dead>>,
    /// Empty buffers for the dispatcher's next batches.
    spare: Vec<Vec<Dead>>,
}

impl Graveyard {
    fn piles(&self) -> std::sync::MutexGuard<'_, Piles> {
        self.piles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Dispatcher: hand over `dead` (left empty, with capacity for the next
    /// batch). When too many batches wait, the oldest is freed here, outside
    /// the lock.
    pub(crate) fn bury(&self, dead: &mut Vec<Dead>) {
        if dead.is_empty() {
            return;
        }
        let overflow = {
            let mut p = self.piles();
            let next = p.spare.pop().unwrap_or_default();
            p.waiting.push_back(std::mem::replace(dead, next));
            self.waiting.store(true, Ordering::Release);
            if p.waiting.len() > MAX_WAITING {
                p.waiting.pop_front()
            } else {
                None
            }
        };
        if dead.capacity() < BATCH {
            dead.reserve_exact(BATCH);
        }
        if let Some(mut stale) = overflow {
            stale.clear();
            if dead.capacity() < stale.capacity() {
                *dead = stale;
            }
        }
    }

    /// Dispatcher, before it sleeps: free the waiting batches.
    pub(crate) fn clear(&self) {
        if !self.waiting.swap(false, Ordering::AcqRel) {
            return;
        }
        let waiting = std::mem::take(&mut self.piles().waiting);
        drop(waiting);
    }

    /// Emitting thread, after an emit: take a waiting batch into this
    /// thread's stash when it is empty, and free a few stashed values.
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
            if waiting && stash.is_empty() {
                let mut p = self.piles();
                if let Some(batch) = p.waiting.pop_front() {
                    let empty = std::mem::replace(&mut *stash, batch);
                    if empty.capacity() > 0 && p.spare.len() < MAX_WAITING {
                        p.spare.push(empty);
                    }
                }
                if p.waiting.is_empty() {
                    self.waiting.store(false, Ordering::Relaxed);
                }
            }
            let keep = stash.len().saturating_sub(PER_EMIT);
            stash.truncate(keep);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Vec<Dead> {
        (0..n)
            .map(|i| Dead::Text(format!("payload {i}").into()))
            .collect()
    }

    fn stash_len() -> usize {
        STASH.with(|s| s.borrow().len())
    }

    #[test]
    fn an_emitter_takes_a_waiting_batch_only_into_an_empty_stash_and_frees_a_few_per_emit() {
        let g = Graveyard::default();
        let mut dead = batch(BATCH);
        g.bury(&mut dead);
        assert!(
            dead.is_empty() && dead.capacity() >= BATCH,
            "left ready for the next batch"
        );
        let mut second = batch(BATCH);
        g.bury(&mut second);

        g.collect();
        assert_eq!(
            stash_len(),
            BATCH - PER_EMIT,
            "took one batch, freed PER_EMIT"
        );
        assert_eq!(g.piles().waiting.len(), 1, "the second batch waits");
        g.collect();
        assert_eq!(
            stash_len(),
            BATCH - 2 * PER_EMIT,
            "a non-empty stash takes nothing"
        );
        while stash_len() > 0 {
            g.collect();
        }
        g.collect();
        assert_eq!(g.piles().waiting.len(), 0);
        assert!(!g.waiting.load(Ordering::Relaxed), "nothing waits any more");
        while stash_len() > 0 {
            g.collect();
        }
    }

    #[test]
    fn at_most_max_waiting_batches_wait_and_clear_frees_them() {
        let g = Graveyard::default();
        for _ in 0..MAX_WAITING + 3 {
            let mut dead = batch(BATCH);
            g.bury(&mut dead);
        }
        assert_eq!(g.piles().waiting.len(), MAX_WAITING);
        g.clear();
        assert_eq!(g.piles().waiting.len(), 0);
        g.collect();
        assert_eq!(stash_len(), 0, "nothing left to take");
    }

    #[test]
    fn emptied_stashes_come_back_as_buffers_for_the_next_batches() {
        let g = Graveyard::default();
        let mut dead = batch(BATCH);
        g.bury(&mut dead);
        // An empty stash with a buffer of its own, as after a thread's
        // earlier batches: swapped for the waiting batch, it becomes spare.
        STASH.with(|s| *s.borrow_mut() = Vec::with_capacity(BATCH));
        g.collect();
        assert_eq!(g.piles().spare.len(), 1);
        let mut next = batch(BATCH);
        g.bury(&mut next);
        assert_eq!(g.piles().spare.len(), 0, "the dispatcher reused it");
        STASH.with(|s| s.borrow_mut().clear());
    }
}
