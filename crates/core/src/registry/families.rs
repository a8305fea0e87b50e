//! The middleware families and the set of registries at one level (the global
//! level, or one scope).

use std::sync::Arc;

use crate::dispatch::audience::PinnedSet;
use crate::dispatch::{Subscriber, SubscriberSet};
use crate::error::{RelayError, Result};
use crate::event::Json;
use crate::id::Uuid;
use crate::middleware::{ExecFn, GuardFn, JsonStream, LlmRequest, RewriteFn};
use crate::registry::{Entry, Origin, Registry};
use crate::scope::{ScopeHandle, ScopeStack};

/// The one table of middleware families. Everything that differs per family
/// — its wire name, the callback type it carries, where its registry lives in
/// [`Registrations`] — is written here once, and the enum, the registration
/// payload and the registry accessors below are generated from it.
macro_rules! families {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $cb:ty, $($field:ident).+ ;)*) => {
        /// Every registration surface, with its stable wire name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Family {
            $( $(#[$doc])* $variant, )*
        }

        impl Family {
            /// Every family, in wire order (also the stable integer order for C).
            pub const ALL: [Family; families!(@count $($variant)*)] = [$(Family::$variant),*];

            /// Stable wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Family::$variant => $wire, )*
                }
            }
        }

        /// A callback of some family, ready to register.
        #[derive(Clone)]
        pub enum Middleware {
            $( $(#[$doc])* $variant($cb), )*
        }

        impl Middleware {
            /// The family this callback belongs to.
            pub fn family(&self) -> Family {
                match self {
                    $( Middleware::$variant(_) => Family::$variant, )*
                }
            }
        }

        impl Registrations {
            /// A copy with one more registration.
            pub fn inserted(&self, name: &str, meta: EntryMeta, mw: Middleware) -> Result<Self> {
                if name.is_empty() {
                    return Err(RelayError::invalid("registration name must not be empty"));
                }
                let mut n = self.clone();
                match mw {
                    $( Middleware::$variant(cb) => {
                        n.$($field).+ = self.$($field).+.with(entry(name, meta, cb))?
                    } )*
                }
                n.sync_subscriber_set();
                Ok(n)
            }

            /// A copy without `name` in `family`, or `None` if it was not there.
            pub fn removed(&self, family: Family, name: &str) -> Option<Self> {
                self.removed_if(family, name, |_| true)
            }

            /// [`removed`](Self::removed), but only if the registration
            /// under `name` is the one with `serial`.
            pub fn removed_exact(&self, family: Family, name: &str, serial: u64) -> Option<Self> {
                self.removed_if(family, name, |s| s == serial)
            }

            /// Whether the registration under `name` in `family` is the
            /// one with `serial` (and not one registered under that name
            /// since).
            pub fn holds(&self, family: Family, name: &str, serial: u64) -> bool {
                match family {
                    $( Family::$variant => self.$($field).+.entries().iter().any(|e| &*e.name == name && e.serial == serial), )*
                }
            }

            fn removed_if(&self, family: Family, name: &str, is: impl Fn(u64) -> bool) -> Option<Self> {
                let mut n = self.clone();
                match family {
                    $( Family::$variant => n.$($field).+ = self.$($field).+.without_if(name, &is)?, )*
                }
                n.sync_subscriber_set();
                Some(n)
            }

            /// A copy without any registration tagged `origin`, in every
            /// family, or `None` if there is none.
            pub fn without_origin(&self, origin: Origin) -> Option<Self> {
                let mut n = self.clone();
                let mut removed = false;
                $( if let Some(r) = self.$($field).+.without_origin(origin) {
                    n.$($field).+ = r;
                    removed = true;
                } )*
                if !removed {
                    return None;
                }
                n.sync_subscriber_set();
                Some(n)
            }

            /// Number of registrations of one family.
            pub fn count(&self, family: Family) -> usize {
                match family {
                    $( Family::$variant => self.$($field).+.entries().len(), )*
                }
            }

            /// Registration names of one family, in run order.
            pub fn names(&self, family: Family) -> Vec<Arc<str>> {
                match family {
                    $( Family::$variant => self.$($field).+.entries().iter().map(|e| e.name.clone()).collect(), )*
                }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + families!(@count $($tail)*) };
}

families! {
    /// `tool_conditional_execution`: guardrail deciding whether a tool call runs.
    ToolConditionalExecution = "tool_conditional_execution", GuardFn<Json>, tool.conditional;
    /// `tool_request_intercept`: rewrites real tool arguments.
    ToolRequestIntercept = "tool_request_intercept", RewriteFn<Json>, tool.request;
    /// `tool_sanitize_request`: rewrites emitted tool arguments.
    ToolSanitizeRequest = "tool_sanitize_request", RewriteFn<Json>, tool.sanitize_request;
    /// `tool_sanitize_response`: rewrites emitted tool results.
    ToolSanitizeResponse = "tool_sanitize_response", RewriteFn<Json>, tool.sanitize_response;
    /// `tool_execution_intercept`: wraps tool execution (`next`).
    ToolExecutionIntercept = "tool_execution_intercept", ExecFn<Json, Json>, tool_execution;
    /// `llm_conditional_execution`: guardrail deciding whether an LLM call runs.
    LlmConditionalExecution = "llm_conditional_execution", GuardFn<LlmRequest>, llm.conditional;
    /// `llm_request_intercept`: rewrites real LLM requests.
    LlmRequestIntercept = "llm_request_intercept", RewriteFn<LlmRequest>, llm.request;
    /// `llm_sanitize_request`: rewrites emitted LLM requests.
    LlmSanitizeRequest = "llm_sanitize_request", RewriteFn<LlmRequest>, llm.sanitize_request;
    /// `llm_sanitize_response`: rewrites emitted LLM responses.
    LlmSanitizeResponse = "llm_sanitize_response", RewriteFn<Json>, llm.sanitize_response;
    /// `llm_execution_intercept`: wraps unary LLM execution (`next`).
    LlmExecutionIntercept = "llm_execution_intercept", ExecFn<LlmRequest, Json>, llm_execution;
    /// `llm_stream_execution_intercept`: wraps streaming LLM execution (`next`).
    LlmStreamExecutionIntercept = "llm_stream_execution_intercept", ExecFn<LlmRequest, JsonStream>, llm_stream_execution;
    /// `subscriber`: receives events on the dispatcher thread.
    Subscriber = "subscriber", Arc<dyn Subscriber>, subscribers;
}

impl Family {
    /// Parse a wire name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| RelayError::invalid(format!("unknown middleware family '{s}'")))
    }
}

/// A request to register one callback.
#[derive(Clone)]
pub struct Registration {
    /// Unique (per registry) name.
    pub name: String,
    /// Lower runs first. Default 0.
    pub priority: i32,
    /// Request intercepts only: stop later request intercepts. Default false.
    pub break_chain: bool,
    /// Owning scope for a scope-local registration; `None` = global.
    pub scope: Option<Uuid>,
    /// Stack the owning scope is looked up on (default: the current stack).
    pub stack: Option<ScopeStack>,
    /// Who registers it. Default [`Origin::UNKNOWN`].
    pub origin: Origin,
    /// The callback.
    pub middleware: Middleware,
    /// Tells this registration from a later one under the same name (see
    /// [`EntryMeta::serial`]).
    pub(crate) serial: u64,
}

/// Serials of registrations: process-wide, never reused (0: none).
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Registration {
    /// A global registration with priority 0.
    pub fn new(name: impl Into<String>, middleware: Middleware) -> Self {
        Registration {
            name: name.into(),
            priority: 0,
            break_chain: false,
            scope: None,
            stack: None,
            origin: Origin::UNKNOWN,
            middleware,
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Which registration this is, process-wide (see [`EntryMeta::serial`]).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Tag it with the registering code's origin (see [`Origin`]).
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Its priority, break-chain flag and origin.
    pub(crate) fn meta(&self) -> EntryMeta {
        EntryMeta {
            priority: self.priority,
            break_chain: self.break_chain,
            origin: self.origin,
            serial: self.serial,
        }
    }

    /// Set the priority (lower runs first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Request intercepts: skip later request intercepts after this one.
    pub fn break_chain(mut self, yes: bool) -> Self {
        self.break_chain = yes;
        self
    }

    /// Make it scope-local: owned by `scope`, removed when it pops.
    pub fn in_scope(mut self, scope: &ScopeHandle) -> Self {
        self.scope = Some(scope.uuid());
        self
    }

    /// Look the owning scope up on `stack` instead of the current stack.
    pub fn on_stack(mut self, stack: &ScopeStack) -> Self {
        self.stack = Some(stack.clone());
        self
    }
}

/// The five families every managed call kind has.
pub struct CallRegistries<R> {
    /// Conditional-execution guardrails.
    pub conditional: Registry<GuardFn<R>>,
    /// Request intercepts.
    pub request: Registry<RewriteFn<R>>,
    /// Sanitize-request guardrails.
    pub sanitize_request: Registry<RewriteFn<R>>,
    /// Sanitize-response guardrails.
    pub sanitize_response: Registry<RewriteFn<Json>>,
}

impl<R> Clone for CallRegistries<R> {
    fn clone(&self) -> Self {
        CallRegistries {
            conditional: self.conditional.clone(),
            request: self.request.clone(),
            sanitize_request: self.sanitize_request.clone(),
            sanitize_response: self.sanitize_response.clone(),
        }
    }
}

impl<R> Default for CallRegistries<R> {
    fn default() -> Self {
        CallRegistries {
            conditional: Registry::default(),
            request: Registry::default(),
            sanitize_request: Registry::default(),
            sanitize_response: Registry::default(),
        }
    }
}

/// Every registry at one level. Immutable; mutation returns a new value.
#[derive(Clone, Default)]
pub struct Registrations {
    /// Tool families (execution intercepts are separate: their output type differs).
    pub tool: CallRegistries<Json>,
    /// Tool execution intercepts.
    pub tool_execution: Registry<ExecFn<Json, Json>>,
    /// LLM families (shared by unary and streaming calls).
    pub llm: CallRegistries<LlmRequest>,
    /// LLM execution intercepts.
    pub llm_execution: Registry<ExecFn<LlmRequest, Json>>,
    /// LLM stream execution intercepts.
    pub llm_stream_execution: Registry<ExecFn<LlmRequest, JsonStream>>,
    /// Subscribers.
    pub subscribers: Registry<Arc<dyn Subscriber>>,
    /// `subscribers` as a flat set, kept in step so that emitting an event
    /// shares it with one pointer copy.
    pub(crate) subscriber_set: SubscriberSet,
    /// `subscriber_set`, pinned with the runtime's dispatcher when these are
    /// a runtime's published global registrations (see
    /// [`audience`](crate::dispatch::audience)).
    pub(crate) pinned: Option<Arc<PinnedSet>>,
}

/// What a registry entry carries besides its name and callback.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryMeta {
    /// Lower runs first.
    pub priority: i32,
    /// Request intercepts: skip later request intercepts after this one.
    pub break_chain: bool,
    /// Who registered it.
    pub origin: Origin,
    /// Which registration it is: a name can be removed and registered
    /// again, and whoever installed the first must not remove the second
    /// (the plugin host removes what it installed by name and serial).
    pub serial: u64,
}

fn entry<T>(name: &str, meta: EntryMeta, callback: T) -> Entry<T> {
    Entry {
        name: Arc::from(name),
        priority: meta.priority,
        break_chain: meta.break_chain,
        origin: meta.origin,
        serial: meta.serial,
        callback,
    }
}

impl Registrations {
    /// Whether nothing at all is registered here.
    pub fn is_empty(&self) -> bool {
        Family::ALL.iter().all(|f| self.names(*f).is_empty())
    }

    /// Number of tool-kind and LLM-kind middleware registrations (every
    /// family except subscribers).
    pub(crate) fn middleware_counts(&self) -> [usize; 2] {
        let count = |fs: &[Family]| fs.iter().map(|f| self.count(*f)).sum();
        [count(&Family::ALL[..5]), count(&Family::ALL[5..11])]
    }

    /// Keep the flat subscriber set in step with the subscriber registry.
    fn sync_subscriber_set(&mut self) {
        if self.subscriber_set.len() != self.subscribers.entries().len()
            || !self
                .subscriber_set
                .iter()
                .zip(self.subscribers.entries())
                .all(|(a, b)| Arc::ptr_eq(a, &b.callback))
        {
            self.subscriber_set = self
                .subscribers
                .entries()
                .iter()
                .map(|e| e.callback.clone())
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_round_trips_through_its_wire_name() {
        for f in Family::ALL {
            assert_eq!(Family::parse(f.as_str()).unwrap(), f);
        }
        assert_eq!(Family::ALL.len(), 12);
        assert_eq!(Family::ALL[0], Family::ToolConditionalExecution);
        assert_eq!(Family::ALL[11], Family::Subscriber);
        assert!(Family::parse("tool_telepathy").is_err());
    }
}
