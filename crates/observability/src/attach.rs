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

use nemo_relay_core::{Family, Middleware, Registration, Runtime, Subscriber};

use crate::ExportError;

/// The runtimes (and registration names) an exporter is attached to.
#[derive(Default)]
pub(crate) struct Attachments(Mutex<Vec<(Runtime, String)>>);

impl Attachments {
    /// Register `sub` on `rt` as global subscriber `name`.
    pub(crate) fn attach(
        &self,
        rt: &Runtime,
        name: &str,
        sub: Arc<dyn Subscriber>,
    ) -> Result<(), ExportError> {
        rt.register(Registration::new(name, Middleware::Subscriber(sub)))
            .map_err(ExportError::Register)?;
        self.0.lock().push((rt.clone(), name.to_owned()));
        Ok(())
    }

    /// Flush every attached runtime (delivers queued events to us).
    pub(crate) fn flush_runtimes(&self) {
        for rt in self.runtimes() {
            // A shut-down runtime has nothing queued; errors only mean that.
            let _ = rt.flush();
        }
    }

    /// Deregister from every attached runtime, then flush it: events
    /// emitted before the deregistration carry us in their subscriber
    /// snapshot, and the flush waits until they have all been delivered.
    pub(crate) fn detach_all(&self) {
        let all = std::mem::take(&mut *self.0.lock());
        for (rt, name) in all {
            rt.deregister(Family::Subscriber, &name);
            let _ = rt.flush();
        }
    }

    fn runtimes(&self) -> Vec<Runtime> {
        self.0.lock().iter().map(|(rt, _)| rt.clone()).collect()
    }
}
