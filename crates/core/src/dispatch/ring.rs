//! The dispatcher's queue: a bounded multi-producer, single-consumer ring.
//!
//! Why not a general MPMC queue: on the emit path the expensive operations
//! are not instructions but cache lines that move between the producing core
//! and the dispatcher's core (~100 ns a trip on the machines we measure on).
//! An MPMC array queue makes consumers read the shared `tail` and producers
//! read the consumer's per-slot stamps, so every event moves three or four
//! lines. This ring is arranged so that, in the steady state, one event moves
//! only the lines of its own slot:
//!
//! * `tail` is touched only by producers (a CAS claims a position). The
//!   consumer never reads it while events flow, only when it is about to
//!   sleep or must tell "empty" from "a push is in progress".
//! * Producers learn that a slot is free from `head`, the consumer's count
//!   of released positions, but through `cached_head`, a copy they refresh
//!   only when the ring looks full (once per lap at worst).
//! * The consumer waits on the stamp of the slot it reads next, which the
//!   producer writes once, together with the value.
//!
//! Positions are `usize` counters that never wrap in practice (2^64 events);
//! a slot is `position & mask`, the capacity a power of two.
//!
//! Consumption needs the consumer token ([`Ring::try_consume`]): the
//! dispatcher's worker holds it for its whole life; after shutdown, whoever
//! drains the leftovers takes it briefly.
//!
//! The ring can be *sealed* ([`Ring::seal`]): a flag in the top bit of
//! `tail` that makes every later claim fail. Because it lives in the word
//! producers compare-and-swap, a claim either happened before the seal or
//! fails; there is no producer that checked a separate flag and claims a
//! slot afterwards. The overflow queue (`queue.rs`) relies on that to keep
//! one order across the ring and its overflow.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Largest ring (16 Mi slots; 4 GiB of 256-byte events).
pub(crate) const MAX_CAPACITY: usize = 1 << 24;

/// The seal flag in `tail` (positions never reach 2^63).
const SEALED: usize = 1 << (usize::BITS - 1);

// On a 32-bit target positions would reach the flag after 2^31 events and
// every push would look sealed: the seal needs a 64-bit claim counter.
const _: () = assert!(usize::BITS == 64, "the event ring needs 64-bit positions");

// One slot per cache-line group: an event slot then never shares a line with
// its neighbours, so producer and consumer touch only the lines of their own
// slot (a 248-byte event item makes the slot exactly four lines).
#[repr(align(64))]
struct Slot<T> {
    /// `position + 1` once the value for `position` is written.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// See the [module docs](self).
pub(crate) struct Ring<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    /// Next position to claim (producers).
    tail: CachePadded<AtomicUsize>,
    /// A recent value of `head`, read by producers instead of `head`.
    cached_head: CachePadded<AtomicUsize>,
    /// Positions below this are consumed and their slots free (consumer).
    head: CachePadded<AtomicUsize>,
    /// The consumer token.
    consuming: CachePadded<AtomicBool>,
}

// SAFETY: values move between threads through the ring (hence `T: Send`);
// slot access is arbitrated by the position protocol described above.
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding at least `capacity` values (rounded up to a power of
    /// two, between 2 and [`MAX_CAPACITY`]).
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = capacity.clamp(2, MAX_CAPACITY).next_power_of_two();
        let slots = (0..cap)
            .map(|_| Slot {
                stamp: AtomicUsize::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            slots,
            mask: cap - 1,
            tail: CachePadded::new(AtomicUsize::new(0)),
            cached_head: CachePadded::new(AtomicUsize::new(0)),
            head: CachePadded::new(AtomicUsize::new(0)),
            consuming: CachePadded::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Number of values pushed and not yet consumed (approximate while
    /// other threads push or consume).
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::SeqCst);
        (self.tail.load(Ordering::SeqCst) & !SEALED).saturating_sub(head)
    }

    /// Positions claimed so far: every value pushed before this call has a
    /// position below the result (SeqCst, like [`is_empty`](Self::is_empty)).
    pub(crate) fn claimed(&self) -> usize {
        self.tail.load(Ordering::SeqCst) & !SEALED
    }

    /// Make every later [`push`](Self::push) fail until
    /// [`unseal`](Self::unseal). The ring stops at [`claimed`](Self::claimed):
    /// claims below it happened before the seal (some may still be writing
    /// their slot), none are made while sealed.
    pub(crate) fn seal(&self) {
        self.tail.fetch_or(SEALED, Ordering::SeqCst);
    }

    /// Let pushes claim positions again, from where the seal stopped them.
    pub(crate) fn unseal(&self) {
        self.tail.fetch_and(!SEALED, Ordering::SeqCst);
    }

    /// Whether the ring is sealed.
    #[cfg(test)]
    pub(crate) fn is_sealed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & SEALED != 0
    }

    /// Whether every value pushed so far (including pushes still writing
    /// their slot) has been consumed.
    ///
    /// Sequentially consistent: a producer's claim (a SeqCst CAS on `tail`)
    /// and this load are totally ordered, which the dispatcher's sleep and
    /// shutdown protocols rely on.
    pub(crate) fn is_empty(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & !SEALED == self.head.load(Ordering::SeqCst)
    }

    /// Append `value`, or give it back if the ring is full or sealed. Never
    /// blocks.
    ///
    /// The claim is a SeqCst CAS: a caller may follow it with a SeqCst load
    /// (of the dispatcher's `sleeping` flag) and rely on the two being
    /// ordered against the consumer's SeqCst store-then-[`is_empty`](Self::is_empty).
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let cap = self.mask + 1;
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            if pos & SEALED != 0 {
                return Err(value);
            }
            // Acquire pairs with the Release below and, transitively, with
            // the consumer's Release store of `head`: once we see a slot as
            // free, the consumer's reads of its old value happened before.
            let mut head = self.cached_head.load(Ordering::Acquire);
            if pos.wrapping_sub(head) >= cap {
                head = self.head.load(Ordering::Acquire);
                self.cached_head.fetch_max(head, Ordering::AcqRel);
                if pos.wrapping_sub(head) >= cap {
                    // Full, unless another producer's claim made `pos` stale.
                    let now = self.tail.load(Ordering::Relaxed);
                    if now == pos {
                        return Err(value);
                    }
                    pos = now;
                    continue;
                }
            }
            match self.tail.compare_exchange_weak(
                pos,
                pos.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => pos = now,
            }
        }
        let slot = &self.slots[pos & self.mask];
        // SAFETY: we own position `pos` (claimed above) and its slot is free
        // (`pos - head < cap`): no one else reads or writes it until we
        // publish the stamp.
        unsafe { (*slot.value.get()).write(value) };
        slot.stamp.store(pos.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Take the consumer token, if no one holds it.
    pub(crate) fn try_consume(&self) -> Option<Consumer<'_, T>> {
        self.consuming
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Consumer { ring: self })
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut() & !SEALED;
        for pos in head..tail {
            let slot = &mut self.slots[pos & self.mask];
            if *slot.stamp.get_mut() == pos.wrapping_add(1) {
                // SAFETY: published and never consumed.
                unsafe { slot.value.get_mut().assume_init_drop() };
            }
        }
    }
}

/// The right to consume (see [`Ring::try_consume`]); released on drop.
pub(crate) struct Consumer<'a, T> {
    ring: &'a Ring<T>,
}

impl<T> Consumer<'_, T> {
    /// The next value, or `None` if none is ready (the ring is empty or the
    /// next push has claimed its slot but not finished writing it).
    pub(crate) fn pop(&mut self) -> Option<T> {
        let ring = self.ring;
        let head = ring.head.load(Ordering::Relaxed);
        let slot = &ring.slots[head & ring.mask];
        if slot.stamp.load(Ordering::Acquire) != head.wrapping_add(1) {
            return None;
        }
        // SAFETY: the stamp says the value for `head` is written (Acquire
        // pairs with the producer's Release); only the token holder reads.
        let value = unsafe { (*slot.value.get()).assume_init_read() };
        ring.head.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }

    /// Values consumed so far (the position of the next one).
    pub(crate) fn position(&self) -> usize {
        self.ring.head.load(Ordering::Relaxed)
    }

    /// Whether the next value is ready (a cheap check for spinning: reads
    /// only the next slot's stamp).
    pub(crate) fn ready(&self) -> bool {
        let ring = self.ring;
        let head = ring.head.load(Ordering::Relaxed);
        ring.slots[head & ring.mask].stamp.load(Ordering::Acquire) == head.wrapping_add(1)
    }
}

impl<T> Drop for Consumer<'_, T> {
    fn drop(&mut self) {
        self.ring.consuming.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_full_ring_gives_the_value_back_and_accepts_again_after_a_pop() {
        let ring = Ring::new(3);
        assert_eq!(ring.capacity(), 4);
        for i in 0..4 {
            ring.push(i).unwrap();
        }
        assert_eq!(ring.push(9), Err(9));
        let mut c = ring.try_consume().unwrap();
        assert_eq!(c.pop(), Some(0));
        ring.push(4).unwrap();
        assert_eq!(
            (1..=4).map(|_| c.pop().unwrap()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(c.pop(), None);
        assert!(ring.is_empty());
    }

    #[test]
    fn only_one_consumer_at_a_time() {
        let ring = Ring::<u8>::new(2);
        let c = ring.try_consume().unwrap();
        assert!(ring.try_consume().is_none());
        drop(c);
        assert!(ring.try_consume().is_some());
    }

    #[test]
    fn unconsumed_values_are_dropped_with_the_ring() {
        let probe = Arc::new(());
        let ring = Ring::new(8);
        for _ in 0..5 {
            ring.push(probe.clone()).unwrap();
        }
        drop(ring.try_consume().unwrap().pop());
        drop(ring);
        assert_eq!(Arc::strong_count(&probe), 1);
    }

    #[test]
    fn four_producers_wrapping_many_laps_keep_each_producers_order() {
        const PER: usize = 50_000;
        let ring = Arc::new(Ring::new(64));
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let mut v = (p, i);
                        while let Err(back) = ring.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0usize; 4];
        let mut c = ring.try_consume().unwrap();
        let mut got = 0;
        while got < 4 * PER {
            match c.pop() {
                Some((p, i)) => {
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(ring.is_empty());
    }
}
