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
//! faster than it delivers forever still has bounded memory.
//!
//! It is a list of fixed-size blocks behind a mutex. Blocks, because a
//! growing `VecDeque` would reallocate (and copy megabytes) while holding
//! the lock every other emitter waits on; a block is allocated outside the
//! lock and never grows. The consumer takes a whole block per lock and
//! pops it locally, so in a long overload each side takes the lock once
//! per block rather than once per event, and blocks go back and forth
//! between them (one spare) instead of being allocated. Both are freed once
//! the overflow drains.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::dispatch::ring::{self, Ring};

/// Values per overflow block (~64 KiB of 248-byte events: below the size
/// at which the allocator maps fresh pages for each block).
const BLOCK: usize = 256;

/// The overflow's blocks, oldest first, and a spare for the next one.
#[derive(Default)]
struct Blocks<T> {
    queue: VecDeque<VecDeque<T>>,
    spare: Option<VecDeque<T>>,
}

/// See the [module docs](self).
pub(crate) struct Queue<T> {
    ring: Ring<T>,
    overflow: Mutex<Blocks<T>>,
    /// The block the consumer took from the overflow and pops from: only
    /// the holder of the consumer token touches it.
    taken: UnsafeCell<VecDeque<T>>,
    /// Values in the overflow, `taken` included (SeqCst: part of the
    /// dispatcher's sleep protocol, like the ring's claims).
    spilled: CachePadded<AtomicUsize>,
    /// Values ever pushed to / taken from the overflow: with the ring's
    /// positions, the queue's positions.
    spilled_in: AtomicUsize,
    spilled_out: AtomicUsize,
    limit: usize,
}

// SAFETY: values move between threads through the queue (hence `T: Send`);
// `taken` is touched only by the holder of the ring's consumer token, and
// the rest is atomics, the ring, and a mutex.
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T> Queue<T> {
    /// A queue with a ring of at least `capacity` values and an overflow of
    /// at most `limit` (0: none, a full ring refuses values).
    pub(crate) fn new(capacity: usize, limit: usize) -> Self {
        Queue {
            ring: Ring::new(capacity),
            overflow: Mutex::new(Blocks {
                queue: VecDeque::new(),
                spare: None,
            }),
            taken: UnsafeCell::new(VecDeque::new()),
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

    /// Append `value`: `Ok(false)` when it went to the ring, `Ok(true)` when
    /// to the overflow; given back only when the ring and the overflow are
    /// both full. Never waits for the consumer: the overflow's lock is held
    /// to move one value or one block, never to allocate or free.
    pub(crate) fn push(&self, value: T) -> Result<bool, T> {
        match self.ring.push(value) {
            Ok(()) => Ok(false),
            Err(value) => self.spill(value).map(|()| true),
        }
    }

    #[cold]
    fn spill(&self, value: T) -> Result<(), T> {
        // Without the lock first: a full (or absent) overflow stays as
        // cheap to refuse as a full ring.
        if self.spilled.load(Ordering::Relaxed) >= self.limit {
            return Err(value);
        }
        let mut fresh = None;
        loop {
            let mut overflow = self.overflow.lock();
            if self.spilled.load(Ordering::SeqCst) >= self.limit {
                return Err(value);
            }
            let Blocks { queue, spare } = &mut *overflow;
            if queue.back().is_none_or(|b| b.len() == BLOCK) {
                match fresh.take().or_else(|| spare.take()) {
                    Some(block) => queue.push_back(block),
                    None => {
                        // Allocated outside the lock, then look again.
                        drop(overflow);
                        fresh = Some(VecDeque::with_capacity(BLOCK));
                        continue;
                    }
                }
            }
            // Sealed before the value goes in: from here on every push
            // lands behind it, in the overflow, until the consumer drains
            // it. (Usually sealed already; sealing an emptying ring only
            // sends a few values the longer way.)
            self.ring.seal();
            queue
                .back_mut()
                .expect("a block with room")
                .push_back(value);
            self.spilled_in.fetch_add(1, Ordering::SeqCst);
            self.spilled.fetch_add(1, Ordering::SeqCst);
            drop(overflow);
            // `fresh`, if another producer added a block meanwhile, is
            // freed here, outside the lock.
            return Ok(());
        }
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
        // SAFETY: we hold the consumer token, the only way to `taken`.
        let taken = unsafe { &mut *q.taken.get() };
        if taken.is_empty() {
            let used = {
                let mut overflow = q.overflow.lock();
                let block = overflow.queue.pop_front()?;
                let used = std::mem::replace(taken, block);
                if used.capacity() > 0 && overflow.spare.is_none() {
                    overflow.spare = Some(used);
                    None
                } else {
                    Some(used)
                }
            };
            drop(used); // outside the lock
        }
        let value = taken.pop_front();
        if value.is_some() {
            q.spilled_out.fetch_add(1, Ordering::Relaxed);
            q.spilled.fetch_sub(1, Ordering::SeqCst);
        }
        if taken.is_empty() {
            self.unseal_if_drained();
        }
        value
    }

    /// Let the ring take values again once the overflow is empty, and give
    /// its memory back.
    fn unseal_if_drained(&mut self) {
        let q = self.queue;
        let spare = {
            let mut overflow = q.overflow.lock();
            if !overflow.queue.is_empty() {
                return;
            }
            // Under the lock, so that no push put a value in since: the
            // next pushes go to the ring again, behind everything before.
            q.ring.unseal();
            overflow.spare.take()
        };
        drop(spare);
        // SAFETY: we hold the consumer token; `taken` is empty.
        unsafe { *q.taken.get() = VecDeque::new() };
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

    fn drain(q: &Queue<u32>) -> Vec<u32> {
        let mut c = q.try_consume().unwrap();
        std::iter::from_fn(|| c.pop()).collect()
    }

    /// Push each value; how many went to the overflow.
    fn push_all(q: &Queue<u32>, values: impl IntoIterator<Item = u32>) -> usize {
        values.into_iter().filter(|&v| q.push(v).unwrap()).count()
    }

    #[test]
    fn a_full_ring_overflows_in_order_and_pushes_go_back_to_the_ring_once_drained() {
        let q = Queue::new(4, 8);
        assert_eq!(push_all(&q, 0..12), 8);
        assert_eq!(q.push(99), Err(99), "ring and overflow full");
        assert_eq!(q.len(), 12);
        assert_eq!(drain(&q), (0..12).collect::<Vec<_>>());
        assert!(q.is_empty() && !q.ring.is_sealed());
        assert_eq!(push_all(&q, [12]), 0, "the ring takes values again");
        assert_eq!(drain(&q), [12]);
    }

    #[test]
    fn values_pushed_while_the_overflow_drains_queue_behind_it() {
        let q = Queue::new(2, 100);
        assert_eq!(push_all(&q, 0..5), 3);
        let mut c = q.try_consume().unwrap();
        assert_eq!((c.pop(), c.pop(), c.pop()), (Some(0), Some(1), Some(2)));
        // The ring has room now, but the overflow is not empty: behind it.
        assert_eq!(q.push(5), Ok(true));
        assert_eq!(
            std::iter::from_fn(|| c.pop()).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(c.position(), q.claimed());
    }

    #[test]
    fn an_overflow_of_many_blocks_drains_in_order_and_frees_its_memory() {
        let n = (BLOCK * 5 + 7) as u32;
        let q = Queue::new(2, n as usize);
        assert_eq!(push_all(&q, 0..n + 2), n as usize);
        let mut c = q.try_consume().unwrap();
        // Interleave: the consumer takes blocks while producers add more.
        let mut got: Vec<u32> = (0..BLOCK as u32).map(|_| c.pop().unwrap()).collect();
        assert_eq!(push_all(&q, n + 2..n + 100), 98);
        got.extend(std::iter::from_fn(|| c.pop()));
        assert_eq!(got, (0..n + 100).collect::<Vec<_>>());
        let overflow = q.overflow.lock();
        assert!(overflow.queue.is_empty() && overflow.spare.is_none());
        // SAFETY: we hold the consumer token.
        assert_eq!(unsafe { &*q.taken.get() }.capacity(), 0);
    }

    #[test]
    fn without_an_overflow_a_full_ring_refuses() {
        let q = Queue::new(2, 0);
        assert_eq!(push_all(&q, 0..2), 0);
        assert_eq!(q.push(2), Err(2));
    }
}
