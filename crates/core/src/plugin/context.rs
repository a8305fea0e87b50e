//! [`PluginContext`]: how one component instance installs its behaviour.

use std::collections::HashSet;

use crate::error::{RelayError, Result};
use crate::registry::{Family, Middleware, Registration};
use crate::runtime::Runtime;

/// Teardown work a component leaves behind (flush an exporter, stop a thread).
pub(crate) type Teardown = Box<dyn FnOnce() + Send>;

/// The component-scoped registration context handed to
/// [`PluginKind::register`](super::PluginKind::register).
///
/// Names are qualified per component instance — `"<kind>#<n>/<local>"`,
/// where `n` counts enabled components of that kind from 1 — so two
/// instances of one kind never collide. Nothing is installed while the hook
/// runs: registrations are recorded and committed with the whole activation
/// in one atomic step, which is what makes rollback exact.
pub struct PluginContext {
    runtime: Runtime,
    kind: String,
    instance: usize,
    pub(crate) pending: Vec<Registration>,
    names: HashSet<(Family, String)>,
    pub(crate) teardown: Vec<Teardown>,
}

impl PluginContext {
    pub(crate) fn new(runtime: &Runtime, kind: &str, instance: usize) -> Self {
        PluginContext {
            runtime: runtime.clone(),
            kind: kind.to_owned(),
            instance,
            pending: Vec::new(),
            names: HashSet::new(),
            teardown: Vec::new(),
        }
    }

    /// The runtime the activation installs into (for teardown work such as
    /// flushing queued events before an exporter shuts down).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The component's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// 1-based instance number among enabled components of this kind.
    pub fn instance(&self) -> usize {
        self.instance
    }

    /// The qualified (runtime-visible) name of a local registration name.
    pub fn qualify(&self, local: &str) -> String {
        format!("{}#{}/{}", self.kind, self.instance, local)
    }

    /// Register `middleware` under `local` name with priority 0.
    pub fn register(&mut self, local: &str, middleware: Middleware) -> Result<()> {
        self.register_with(Registration::new(local, middleware))
    }

    /// Register with full options (`priority`, `break_chain`). The name is
    /// the local name; plugins always register globally.
    pub fn register_with(&mut self, mut reg: Registration) -> Result<()> {
        if reg.scope.is_some() {
            return Err(RelayError::invalid(format!(
                "plugin component {}#{}: '{}' is scope-local; plugins register globally",
                self.kind, self.instance, reg.name
            )));
        }
        if reg.name.is_empty() {
            return Err(RelayError::invalid("registration name must not be empty"));
        }
        let family = reg.middleware.family();
        if !self.names.insert((family, reg.name.clone())) {
            return Err(RelayError::AlreadyExists(format!(
                "plugin component {}#{} registered '{}' ({}) twice",
                self.kind,
                self.instance,
                reg.name,
                family.as_str()
            )));
        }
        reg.name = self.qualify(&reg.name);
        self.pending.push(reg);
        Ok(())
    }

    /// Run `f` when this activation is cleared or replaced (or discarded
    /// because the activation failed).
    pub fn on_teardown(&mut self, f: impl FnOnce() + Send + 'static) {
        self.teardown.push(Box::new(f));
    }
}
