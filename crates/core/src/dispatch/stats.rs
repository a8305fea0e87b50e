//! Observable dispatcher counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// A snapshot of the dispatcher's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatcherStats {
    /// Events handed to subscribers (each event counts once).
    pub delivered: u64,
    /// Events dropped because the queue was full: its overflow at its
    /// limit (or the ring full, with no overflow). While the overflow holds
    /// events, new ones queue behind them, so under a sustained overload
    /// the overflow's limit is the queue's capacity.
    pub dropped_full: u64,
    /// Events that waited in the overflow because the ring was full: a
    /// sign that `queue_capacity` is small for this program's bursts.
    pub overflowed: u64,
    /// Events dropped because the dispatcher was shut down.
    pub dropped_closed: u64,
    /// Subscriber callbacks that panicked (caught and isolated).
    pub subscriber_panics: u64,
    /// Events waiting in the queue right now (approximate).
    pub queued: u64,
    /// The ring's capacity (the overflow's is separate).
    pub capacity: u64,
}

/// Live counters. Each sits on its own cache line: producers bump the drop
/// counters while the worker bumps `delivered`, and sharing a line would make
/// every delivery invalidate the producers' cache.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) delivered: CachePadded<AtomicU64>,
    pub(crate) dropped_full: CachePadded<AtomicU64>,
    pub(crate) overflowed: CachePadded<AtomicU64>,
    pub(crate) dropped_closed: CachePadded<AtomicU64>,
    pub(crate) subscriber_panics: CachePadded<AtomicU64>,
    /// Queue items that are not events (flush barriers, the stop marker),
    /// so that `queued` counts events only.
    pub(crate) control: CachePadded<AtomicU64>,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Undo a [`bump`](Self::bump) (of `control`: its item left the queue).
    pub(crate) fn unbump(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, queued: usize, capacity: usize) -> DispatcherStats {
        DispatcherStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_full: self.dropped_full.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
            dropped_closed: self.dropped_closed.load(Ordering::Relaxed),
            subscriber_panics: self.subscriber_panics.load(Ordering::Relaxed),
            queued: (queued as u64).saturating_sub(self.control.load(Ordering::Relaxed)),
            capacity: capacity as u64,
        }
    }
}
