//! Attaching an exporter's subscriber to a runtime, and detaching it.
//!
//! Every exporter keeps the [`Runtime`] it was registered with so that its
//! own `flush()` can first flush the runtime's dispatcher: then one call —
//! `exporter.flush()` — is enough to get every event emitted so far out.
//! The runtime is held by the exporter *handle*, never by the subscriber
//! (the runtime owns the subscriber, so the reverse link would be a cycle
//! that keeps both alive forever).

use std::sync::Arc;

use parking_lot::Mutex;

use nemo_relay_core::{Family, Middleware, Registration, RelayError, Runtime, Subscriber};

use crate::ExportError;

/// The runtimes (and registrations) an exporter is attached to.
///
/// Each attachment remembers its registration's serial, because the
/// registration's name is not the exporter's to keep: the application may
/// remove it (`unsubscribe(name)`) and register something else under that
/// name. Then the exporter may attach again, and its shutdown must not take
/// the newcomer with it.
#[derive(Default)]
pub(crate) struct Attachments {
    state: Mutex<State>,
    /// Held through a whole [`Attachments::detach_all`], flushes included.
    /// A lock of its own, never `state`'s: a subscriber may call the
    /// exporter's `flush()` (which reads `state`) on the dispatcher thread
    /// that such a flush waits for.
    detaching: Mutex<()>,
}

struct Attached {
    rt: Runtime,
    name: String,
    serial: u64,
}

impl Attached {
    /// Whether the registration is still ours on its runtime.
    fn live(&self) -> bool {
        self.rt.holds(Family::Subscriber, &self.name, self.serial)
    }
}

#[derive(Default)]
struct State {
    list: Vec<Attached>,
    /// Detached for good (the exporter shut down): no more attaching.
    closed: bool,
}

impl Attachments {
    /// Register `sub` on `rt` as global subscriber `name`.
    ///
    /// Refused once the exporter has shut down (its subscriber would take
    /// events nobody writes, under a name it holds forever), and on a
    /// runtime it is still attached to (every event would be written
    /// twice). An attachment someone else removed no longer counts.
    pub(crate) fn attach(
        &self,
        rt: &Runtime,
        name: &str,
        sub: Arc<dyn Subscriber>,
    ) -> Result<(), ExportError> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(ExportError::ShutDown);
        }
        state.list.retain(|a| !a.rt.same_as(rt) || a.live());
        if let Some(a) = state.list.iter().find(|a| a.rt.same_as(rt)) {
            return Err(ExportError::Register(RelayError::AlreadyExists(format!(
                "this exporter is registered with this runtime already, as '{}'",
                a.name
            ))));
        }
        let reg = Registration::new(name, Middleware::Subscriber(sub));
        let serial = reg.serial();
        rt.register(reg).map_err(ExportError::Register)?;
        state.list.push(Attached {
            rt: rt.clone(),
            name: name.to_owned(),
            serial,
        });
        Ok(())
    }

    /// Flush every attached runtime (delivers queued events to us).
    pub(crate) fn flush_runtimes(&self) {
        for rt in self.runtimes() {
            // A shut-down runtime has nothing queued; errors only mean that.
            let _ = rt.flush();
        }
    }

    /// Deregister from every attached runtime (only our own registration,
    /// never a newer one under the same name), then flush it: events
    /// emitted before the deregistration carry us in their subscriber
    /// snapshot, and the flush waits until they have all been delivered.
    ///
    /// Concurrent calls (two `shutdown()`s at once) run one after the
    /// other, so the second returns only once those events are delivered:
    /// otherwise it would find nothing to detach and let its caller close
    /// the files while they are still arriving.
    pub(crate) fn detach_all(&self) {
        let _one_at_a_time = self.detaching.lock();
        let all = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.list)
        };
        for a in all {
            a.rt.deregister_exact(Family::Subscriber, &a.name, a.serial);
            let _ = a.rt.flush();
        }
    }

    fn runtimes(&self) -> Vec<Runtime> {
        self.state
            .lock()
            .list
            .iter()
            .map(|a| a.rt.clone())
            .collect()
    }
}
