//! Who an event goes to, without per-event reference counting.
//!
//! Each queued event names the subscribers it must reach: the set visible
//! when it was emitted. The obvious encoding, an `Arc` clone per event, costs
//! more than the rest of emitting together on a multi-core machine: the
//! producer increments the count, the dispatcher decrements it, and the
//! cache line holding the count (and the set's first entries) bounces
//! between the two cores twice per event.
//!
//! So the runtime's global subscriber set is **pinned**: a [`PinnedSet`]
//! owns it on behalf of the dispatcher, and queued events carry a plain
//! pointer to it ([`QueuedAudience::Pinned`]). The pointer stays valid
//! because of two facts:
//!
//! 1. An emitter holds an `Arc<PinnedSet>` (through the registrations it
//!    read) until its event is in the queue. So every event that points at
//!    a set was pushed *before* that set's `PinnedSet` was dropped.
//! 2. Dropping a `PinnedSet` does not free the set: it hands it to the
//!    dispatcher ([`Dispatcher::retire`](super::Dispatcher)), which frees it
//!    only after it has seen the queue empty, i.e. after every event pushed
//!    before the hand-over was delivered (FIFO).
//!
//! Scope-local subscribers are rarer and merge with the global ones into a
//! fresh set per event; those travel as an owned `Arc`
//! ([`QueuedAudience::Owned`]).

use std::ptr::NonNull;
use std::sync::Arc;

use crate::dispatch::{Dispatcher, Subscriber, SubscriberSet};

/// A subscriber set whose lifetime the dispatcher manages (see the module
/// docs). Held by the global registrations that publish it.
pub(crate) struct PinnedSet {
    set: SubscriberSet,
    dispatcher: Dispatcher,
}

impl PinnedSet {
    pub(crate) fn new(set: SubscriberSet, dispatcher: Dispatcher) -> Arc<PinnedSet> {
        Arc::new(PinnedSet { set, dispatcher })
    }

    /// The pinned set.
    pub(crate) fn set(&self) -> &SubscriberSet {
        &self.set
    }

    /// The dispatcher the set belongs to.
    pub(crate) fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The form that travels in the queue. The caller must hold the
    /// registrations that publish this set (keeping it alive) until the
    /// event is in the queue, as an `Audience` would.
    pub(crate) fn queued(&self) -> QueuedAudience {
        QueuedAudience::Pinned(NonNull::from(&*self.set))
    }
}

impl Drop for PinnedSet {
    fn drop(&mut self) {
        self.dispatcher.retire(self.set.clone());
    }
}

/// The subscribers of an event being emitted, as the emitter holds them.
#[derive(Clone)]
pub(crate) enum Audience {
    /// The runtime's global set.
    Pinned(Arc<PinnedSet>),
    /// A set made for this emission (global plus scope-local subscribers).
    Owned(SubscriberSet),
}

impl Audience {
    /// The dispatcher a pinned set belongs to.
    pub(crate) fn pinned_to(&self) -> Option<&Dispatcher> {
        match self {
            Audience::Pinned(p) => Some(&p.dispatcher),
            Audience::Owned(_) => None,
        }
    }

    /// The form that travels in the queue.
    pub(crate) fn queued(&self) -> QueuedAudience {
        match self {
            Audience::Pinned(p) => p.queued(),
            Audience::Owned(s) => QueuedAudience::Owned(s.clone()),
        }
    }
}

/// The subscribers of a queued event.
pub(crate) enum QueuedAudience {
    /// Points into a pinned set, kept alive by the dispatcher until the
    /// event has been delivered (module docs).
    Pinned(NonNull<[Arc<dyn Subscriber>]>),
    Owned(SubscriberSet),
}

// SAFETY: `Pinned` points at `[Arc<dyn Subscriber>]`, which is `Send + Sync`
// (`Subscriber: Send + Sync`); the pointer is only dereferenced while the
// dispatcher keeps the set alive, as argued in the module docs.
unsafe impl Send for QueuedAudience {}

impl QueuedAudience {
    /// The subscribers.
    ///
    /// # Safety
    /// Only the dispatcher worker may call this, for an event it has popped
    /// and not yet finished delivering, before it next frees retired sets.
    pub(crate) unsafe fn subscribers(&self) -> &[Arc<dyn Subscriber>] {
        match self {
            // SAFETY: per the contract above and the module docs.
            QueuedAudience::Pinned(p) => unsafe { p.as_ref() },
            QueuedAudience::Owned(s) => s,
        }
    }

    /// Identity of the set (for "same set as the last event?" checks).
    pub(crate) fn addr(&self) -> *const () {
        match self {
            QueuedAudience::Pinned(p) => p.as_ptr() as *const (),
            QueuedAudience::Owned(s) => Arc::as_ptr(s) as *const (),
        }
    }
}
