//! The dispatcher's queue: the lock-free [`Ring`] plus an overflow that
//! holds a burst the ring cannot.
//!
//! The ring is preallocated (its slots hold events inline), so it is sized
//! for the usual bursts, not the worst one. When a burst outruns the
//! dispatcher (the emitting thread is fast, or the dispatcher lost its core
//! to other work), dropping what does not fit would lose events that memory
//! could easily hold. So a push that finds the ring full moves the queue
//! into *overflow mode*:
//!
//! ```text
//!  push ──▶ ring (lock-free)           ── full ──▶ seal the ring, then
//!                                                  overflow (mutex, grows)
//!  pop  ◀── ring up to the seal point, then the overflow, then unseal
//! ```
//!
//! One order for both parts, across producers: sealing sets a flag inside
//! the ring's claim counter, so every ring claim either happened before the
//! seal or fails and goes to the overflow. The consumer takes the ring up
//! to the seal point (waiting for claims still writing their slot), then
//! the overflow; it unseals the ring, under the overflow's lock, only when
//! the overflow is empty, and a producer that pushes to the overflow seals
//! the ring first, under the same lock. So the queue is one FIFO, and
//! positions (counted across both parts) mean what they meant for the ring
//! alone: [`Queue::claimed`] and [`Consumer::position`] order pushes and
//! consumption, which the dispatcher's retire and stop protocols rely on.
//!
//! The overflow is bounded too (`limit` values): past it, pushes fail and
//! the dispatcher drops and counts the event, so a process that emits
//! faster than it delivers forever still has bounded memory. It is a plain
//! `VecDeque` behind a mutex: it is used only while the ring is full, when
//! one lock per event is cheap next to what the burst already costs, and
//! its memory is given back once it drains.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::dispatch::ring::{self, Ring};

/// An overflow that grew past this many values is freed when it drains.
const KEEP: usize = 1024;

/// See the [module docs](self).
pub(crate) struct Queue<T> {
    ring: Ring<T>,
    overflow: Mutex<VecDeque<T>>,
    /// Values in the overflow (SeqCst: part of the dispatcher's sleep
    /// protocol, like the ring's claims).
    spilled: CachePadded<AtomicUsize>,
    /// Values ever pushed to / taken from the overflow: with the ring's
    /// positions, the queue's positions.
    spilled_in: AtomicUsize,
    spilled_out: AtomicUsize,
    limit: usize,
}

impl<T> Queue<T> {
    /// A queue with a ring of at least `capacity` values and an overflow of
    /// at most `limit` (0: none, a full ring refuses values).
    pub(crate) fn new(capacity: usize, limit: usize) -> Self {
        Queue {
            ring: Ring::new(capacity),
            overflow: Mutex::new(VecDeque::new()),
            spilled: CachePadded::new(AtomicUsize::new(0)),
            spilled_in: AtomicUsize::new(0),
            spilled_out: AtomicUsize::new(0),
            limit,
        }
    }

    /// The ring's capacity (the overflow's limit is separate).
    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Values pushed and not yet consumed (approximate while others push).
    pub(crate) fn len(&self) -> usize {
        self.ring.len() + self.spilled.load(Ordering::SeqCst)
    }

    /// Values pushed so far: every value pushed before this call has a
    /// position below the result.
    pub(crate) fn claimed(&self) -> usize {
        self.ring.claimed() + self.spilled_in.load(Ordering::SeqCst)
    }

    /// Whether every value pushed so far has been consumed (SeqCst, as
    /// [`Ring::is_empty`]).
    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty() && self.spilled.load(Ordering::SeqCst) == 0
    }

    /// Values that went to the overflow so far.
    pub(crate) fn overflowed(&self) -> usize {
        self.spilled_in.load(Ordering::Relaxed)
    }

    /// Append `value`; gives it back only when the ring and the overflow
    /// are both full. Never blocks on the consumer (the overflow's lock is
    /// held only to move one value).
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        match self.ring.push(value) {
            Ok(()) => Ok(()),
            Err(value) => self.spill(value),
        }
    }

    #[cold]
    fn spill(&self, value: T) -> Result<(), T> {
        let mut overflow = self.overflow.lock();
        if overflow.len() >= self.limit {
            return Err(value);
        }
        // Sealed before the value goes in: from here on every push lands
        // behind it, in the overflow, until the consumer drains it. (It may
        // already be sealed, or the ring may have room again: sealing an
        // emptying ring only sends a few values the longer way.)
        if overflow.is_empty() {
            self.ring.seal();
        }
        overflow.push_back(value);
        self.spilled_in.fetch_add(1, Ordering::SeqCst);
        self.spilled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Take the consumer token, if no one holds it.
    pub(crate) fn try_consume(&self) -> Option<Consumer<'_, T>> {
        self.ring
            .try_consume()
            .map(|ring| Consumer { queue: self, ring })
    }
}

/// The right to consume (see [`Queue::try_consume`]); released on drop.
pub(crate) struct Consumer<'a, T> {
    queue: &'a Queue<T>,
    ring: ring::Consumer<'a, T>,
}

impl<T> Consumer<'_, T> {
    /// The next value, or `None` if none is ready (the queue is empty, or
    /// the next value's push is still writing it).
    pub(crate) fn pop(&mut self) -> Option<T> {
        if let Some(value) = self.ring.pop() {
            return Some(value);
        }
        if !self.overflow_next() {
            return None;
        }
        let q = self.queue;
        let mut overflow = q.overflow.lock();
        let value = overflow.pop_front();
        if value.is_some() {
            q.spilled_out.fetch_add(1, Ordering::Relaxed);
            q.spilled.fetch_sub(1, Ordering::SeqCst);
        }
        if overflow.is_empty() {
            // Under the lock, so that no push put a value in since: the
            // next pushes go to the ring again, behind everything before.
            q.ring.unseal();
            if overflow.capacity() > KEEP {
                *overflow = VecDeque::new();
            }
        }
        value
    }

    /// Whether the overflow's front is the next value: the overflow is not
    /// empty (so the ring is sealed) and the ring is consumed up to the
    /// seal point.
    fn overflow_next(&self) -> bool {
        self.queue.spilled.load(Ordering::SeqCst) > 0
            && self.ring.position() == self.queue.ring.claimed()
    }

    /// Values consumed so far (the position of the next one).
    pub(crate) fn position(&self) -> usize {
        self.ring.position() + self.queue.spilled_out.load(Ordering::Relaxed)
    }

    /// Whether the next value is ready (cheap: for spinning).
    pub(crate) fn ready(&self) -> bool {
        self.ring.ready() || self.overflow_next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn drain(q: &Queue<u32>) -> Vec<u32> {
        let mut c = q.try_consume().unwrap();
        std::iter::from_fn(|| c.pop()).collect()
    }

    #[test]
    fn a_full_ring_overflows_in_order_and_pushes_go_back_to_the_ring_once_drained() {
        let q = Queue::new(4, 8);
        for i in 0..12 {
            q.push(i).unwrap();
        }
        assert_eq!(q.push(99), Err(99), "ring and overflow full");
        assert_eq!((q.len(), q.overflowed()), (12, 8));
        assert_eq!(drain(&q), (0..12).collect::<Vec<_>>());
        assert!(q.is_empty() && !q.ring.is_sealed());
        q.push(12).unwrap();
        assert_eq!(q.overflowed(), 8, "the ring takes values again");
        assert_eq!(drain(&q), [12]);
    }

    #[test]
    fn values_pushed_while_the_overflow_drains_queue_behind_it() {
        let q = Queue::new(2, 100);
        (0..5).for_each(|i| q.push(i).unwrap());
        let mut c = q.try_consume().unwrap();
        assert_eq!((c.pop(), c.pop(), c.pop()), (Some(0), Some(1), Some(2)));
        // The ring has room now, but the overflow is not empty: behind it.
        q.push(5).unwrap();
        assert_eq!(q.overflowed(), 4);
        assert_eq!(
            std::iter::from_fn(|| c.pop()).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(c.position(), q.claimed());
    }

    #[test]
    fn without_an_overflow_a_full_ring_refuses() {
        let q = Queue::new(2, 0);
        q.push(0).unwrap();
        q.push(1).unwrap();
        assert_eq!(q.push(2), Err(2));
        assert_eq!(q.overflowed(), 0);
    }

    #[test]
    fn four_producers_through_a_tiny_ring_and_its_overflow_keep_each_producers_order() {
        const PER: u32 = 50_000;
        let q = Arc::new(Queue::new(8, 64));
        let producers: Vec<_> = (0..4u32)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut v = (p, i);
                        while let Err(back) = q.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u32; 4];
        let mut c = q.try_consume().unwrap();
        let mut got = 0;
        while got < 4 * PER {
            match c.pop() {
                Some((p, i)) => {
                    assert_eq!(i, next[p as usize], "producer {p} out of order");
                    next[p as usize] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(q.is_empty());
        assert_eq!(c.position(), q.claimed());
        assert!(q.overflowed() > 0, "the overflow was exercised");
    }
}
