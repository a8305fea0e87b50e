//! A call's view of the registrations, taken before the call starts.
//!
//! Every managed call runs on one snapshot: the global and scope-local
//! registrations, and whether anyone listens, as they were when it started.
//! Usually the call takes it itself. A binding that wants to skip work only
//! it knows to be unneeded takes it first ([`Runtime::call_snapshot`]),
//! inspects it, and hands it to the call ([`CallOptions::snapshot`]), so
//! that the call runs exactly what was inspected.
//!
//! The Node addon is the user: when nobody subscribes and every middleware
//! a tool call will run is one of its own JS functions (tagged with its
//! [`Origin`](crate::registry::Origin)), it passes JS values from stage to
//! stage as they are, and the core carries a placeholder request. Deciding
//! on a snapshot of its own would race with a native registration made in
//! between, which would then see the placeholder.
//!
//! [`CallOptions::snapshot`]: super::CallOptions::snapshot

use std::sync::Arc;

use crate::dispatch::audience::Audience;
use crate::id::Uuid;
use crate::registry::Registrations;
use crate::runtime::Runtime;
use crate::scope::ScopeStack;

/// The registrations a call will run with (see the module docs).
#[derive(Clone)]
pub struct CallSnapshot {
    pub(crate) stack: ScopeStack,
    /// The stack's top scope: the call's default parent.
    pub(crate) top: Uuid,
    /// Scope-local registrations, outer scopes first.
    pub(crate) locals: Vec<Arc<Registrations>>,
    pub(crate) global: Arc<Registrations>,
    /// `None` when nobody listens.
    pub(crate) subs: Option<Audience>,
}

impl std::fmt::Debug for CallSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSnapshot")
            .field("top", &self.top)
            .field("scope_local_levels", &self.locals.len())
            .field("subscribed", &self.subs.is_some())
            .finish()
    }
}

impl CallSnapshot {
    /// Whether the call's events would have subscribers.
    pub fn has_subscribers(&self) -> bool {
        self.subs.is_some()
    }

    /// Whether no middleware of `kind` is registered at any level: a call
    /// of that kind on this snapshot runs nothing but its callback (and
    /// emits its events if [`has_subscribers`](Self::has_subscribers)).
    pub fn runs_no_middleware(&self, kind: crate::middleware::CallKind) -> bool {
        let at = match kind {
            crate::middleware::CallKind::Tool => 0,
            crate::middleware::CallKind::Llm | crate::middleware::CallKind::LlmStream => 1,
        };
        self.levels()
            .all(|level| level.middleware_counts()[at] == 0)
    }

    /// The registrations the call will merge: the global level first, then
    /// the scope-local levels from the outermost scope in.
    pub fn levels(&self) -> impl Iterator<Item = &Registrations> {
        std::iter::once(&*self.global).chain(self.locals.iter().map(|l| &**l))
    }
}

impl Runtime {
    /// Take the snapshot a call made now on `stack` (default: the current
    /// stack) would run with. Give it to the call through
    /// [`CallOptions::snapshot`](super::CallOptions::snapshot).
    pub fn call_snapshot(&self, stack: Option<ScopeStack>) -> CallSnapshot {
        let stack = stack.unwrap_or_else(ScopeStack::current);
        let (top, locals) = stack.snapshot();
        let global = self.inner.global.load_full();
        let subs = if self.has_listeners() {
            Runtime::subscribers_in(&global, &locals)
        } else {
            None
        };
        CallSnapshot {
            stack,
            top,
            locals,
            global,
            subs,
        }
    }
}
