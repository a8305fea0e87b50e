//! The [`Subscriber`] trait.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::event::Event;

/// Receives events on the dispatcher thread.
///
/// Callbacks run one at a time, in FIFO order, on the runtime's dispatcher
/// thread — never on the thread that emitted the event. Keep them short:
/// a slow subscriber delays every later event (and, once the queue is full,
/// makes the runtime drop new ones).
pub trait Subscriber: Send + Sync + 'static {
    /// Called once per delivered event.
    fn on_event(&self, event: &Event);

    /// Called after a run of events, when the queue ran dry (or a flush
    /// barrier was reached). Batching subscribers (exporters, language
    /// bindings) send what they accumulated here.
    fn on_batch_end(&self) {}

    /// Called when the runtime it is registered with (globally) has shut
    /// down and delivered its last event, on a thread of its own, alongside
    /// the other subscribers (see
    /// [`Runtime::notify_shutdown`](crate::Runtime::notify_shutdown)). An
    /// exporter that sends in the background sends what it holds now: the
    /// process is usually about to exit. Called again by a later
    /// `shutdown()`, which then finds nothing to send.
    fn on_shutdown(&self) {}
}

/// The subscribers an event is delivered to (a snapshot taken at emission).
pub type SubscriberSet = Arc<[Arc<dyn Subscriber>]>;

/// A [`Subscriber`] made from a closure; see [`subscriber_fn`].
pub struct FnSubscriber<F>(F);

impl<F: Fn(&Event) + Send + Sync + 'static> Subscriber for FnSubscriber<F> {
    fn on_event(&self, event: &Event) {
        (self.0)(event)
    }
}

/// Wrap a closure as a subscriber.
pub fn subscriber_fn<F: Fn(&Event) + Send + Sync + 'static>(f: F) -> Arc<dyn Subscriber> {
    Arc::new(FnSubscriber(f))
}

/// A registered subscriber that keeps its runtime's listener count up while
/// any snapshot still references it. This is what makes "is anybody
/// listening?" a single atomic load on the emit path.
pub(crate) struct Counted {
    inner: Arc<dyn Subscriber>,
    activity: Arc<crate::runtime::Activity>,
}

impl Counted {
    pub(crate) fn wrap(
        inner: Arc<dyn Subscriber>,
        activity: Arc<crate::runtime::Activity>,
    ) -> Arc<dyn Subscriber> {
        activity.listeners.fetch_add(1, Ordering::AcqRel);
        Arc::new(Counted { inner, activity })
    }
}

impl Subscriber for Counted {
    fn on_event(&self, event: &Event) {
        self.inner.on_event(event)
    }
    fn on_batch_end(&self) {
        self.inner.on_batch_end()
    }
    fn on_shutdown(&self) {
        self.inner.on_shutdown()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.activity.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}
