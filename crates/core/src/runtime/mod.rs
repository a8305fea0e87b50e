//! [`Runtime`]: registries + dispatcher, the object every API hangs off.
//!
//! Most programs use the process-wide [`Runtime::global`]; tests and
//! embedders that need isolation create their own with [`Runtime::new`] or
//! [`Runtime::with_config`]. Cloning a runtime shares it.

mod emit;
pub(crate) mod scopes;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::dispatch::audience::PinnedSet;
use crate::dispatch::{Counted, Dispatcher, DispatcherStats};
use crate::error::{RelayError, Result};
use crate::registry::{Family, Middleware, Registration, Registrations};
use crate::scope::ScopeStack;

pub use scopes::{MarkOptions, PopOptions, ScopeOptions};

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Capacity of the event queue's lock-free ring, preallocated. Default
    /// 16 384.
    pub queue_capacity: usize,
    /// Events that may wait beyond the ring, in an overflow allocated only
    /// while the ring is full; events beyond both are dropped and counted.
    /// Default 262 144; 0 drops whatever the ring cannot hold.
    pub overflow_capacity: usize,
}

impl Default for RuntimeConfig {
    /// Defaults, with `NEMO_RELAY_QUEUE_CAPACITY` (a positive integer) and
    /// `NEMO_RELAY_QUEUE_OVERFLOW` (an integer, 0 allowed) overriding them —
    /// the way to size the process-wide runtime that bindings share.
    fn default() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        RuntimeConfig {
            queue_capacity: var("NEMO_RELAY_QUEUE_CAPACITY")
                .filter(|n| *n > 0)
                .unwrap_or(crate::dispatch::DEFAULT_QUEUE_CAPACITY),
            overflow_capacity: var("NEMO_RELAY_QUEUE_OVERFLOW")
                .unwrap_or(crate::dispatch::DEFAULT_OVERFLOW_CAPACITY),
        }
    }
}

/// Counters of the runtime (dispatcher plus pipeline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Dispatcher counters.
    pub dispatcher: DispatcherStats,
    /// Sanitize guardrails that failed (their payload was omitted).
    pub sanitizer_failures: u64,
}

/// Whether a runtime has anything to do for an event or a call: counters
/// kept in step with its registrations.
///
/// They let a binding skip work without asking the runtime: a mark nobody
/// listens to need not cross into native code, a call with no middleware
/// and no listener need not convert its arguments. `repr(C)` and 32-bit
/// words so that a binding can map them as a typed array (the Node.js
/// addon reads them from JS without a native call). A registration that
/// races with such a read may or may not apply to that event or call, as
/// with [`Runtime::is_bare`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct Activity {
    /// Live subscriber registrations (global and scope-local).
    pub listeners: AtomicU32,
    /// Global tool middleware registrations (any tool family).
    pub tool_middleware: AtomicU32,
    /// Global LLM middleware registrations (any LLM family).
    pub llm_middleware: AtomicU32,
}

pub(crate) struct Inner {
    pub(crate) global: ArcSwap<Registrations>,
    /// Counters in step with `global` (and the live subscribers), so that
    /// the bare-call check is three relaxed loads instead of a snapshot.
    /// Shared with the subscribers, which count themselves out when dropped.
    pub(crate) activity: Arc<Activity>,
    /// Serializes writers (registration is rare; reads never take it).
    write_lock: Mutex<()>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) sanitizer_failures: AtomicU64,
}

/// The agent runtime. See the [crate docs](crate).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

impl Runtime {
    /// A new runtime with default settings.
    pub fn new() -> Self {
        Self::with_config(RuntimeConfig::default())
    }

    /// A new runtime with `config`.
    pub fn with_config(config: RuntimeConfig) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                global: ArcSwap::from_pointee(Registrations::default()),
                activity: Arc::new(Activity::default()),
                write_lock: Mutex::new(()),
                dispatcher: Dispatcher::new(config.queue_capacity, config.overflow_capacity),
                sanitizer_failures: AtomicU64::new(0),
            }),
        }
    }

    /// The process-wide runtime that bindings share.
    pub fn global() -> &'static Runtime {
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        GLOBAL.get_or_init(Runtime::new)
    }

    /// Whether `self` and `other` are handles of the same runtime (clones
    /// share one).
    pub fn same_as(&self, other: &Runtime) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether any subscriber (global or scope-local) is registered. When
    /// not, emitting an event costs exactly this one atomic load.
    #[inline]
    pub fn has_listeners(&self) -> bool {
        self.inner.activity.listeners.load(Ordering::Relaxed) != 0
    }

    /// This runtime's activity counters (see [`Activity`]); together with
    /// [`frames_with_locals`](crate::scope::frames_with_locals) they decide
    /// [`is_bare`](Self::is_bare).
    pub fn activity(&self) -> &Activity {
        &self.inner.activity
    }

    /// Whether a managed call of `kind` would run *bare* right now: nobody
    /// subscribes and no middleware of that kind is registered at any level,
    /// so the call is only its callback (inside the call's scope) and nothing
    /// looks at its arguments or result. Bindings use this to skip converting
    /// them. A registration racing with the call may or may not apply to it.
    pub fn is_bare(&self, kind: crate::middleware::CallKind) -> bool {
        let a = &self.inner.activity;
        let middleware = match kind {
            crate::middleware::CallKind::Tool => &a.tool_middleware,
            crate::middleware::CallKind::Llm | crate::middleware::CallKind::LlmStream => {
                &a.llm_middleware
            }
        };
        !self.has_listeners()
            && middleware.load(Ordering::Acquire) == 0
            && crate::scope::frames_with_locals().load(Ordering::Acquire) == 0
    }

    /// Whether a managed call of `kind` started now has subscribers but no
    /// middleware at any level: its events are emitted around its callback
    /// without the pipeline's stages. Racing registrations as for
    /// [`is_bare`](Self::is_bare).
    pub(crate) fn is_observed_only(&self, kind: crate::middleware::CallKind) -> bool {
        let a = &self.inner.activity;
        let middleware = match kind {
            crate::middleware::CallKind::Tool => &a.tool_middleware,
            crate::middleware::CallKind::Llm | crate::middleware::CallKind::LlmStream => {
                &a.llm_middleware
            }
        };
        middleware.load(Ordering::Acquire) == 0
            && crate::scope::frames_with_locals().load(Ordering::Acquire) == 0
    }

    /// Register a callback, globally or (with [`Registration::in_scope`])
    /// owned by an open scope of the current (or given) stack.
    ///
    /// Errors: `already_exists` for a duplicate name in that registry,
    /// `not_found` if the owning scope is not open on the stack,
    /// `invalid_argument` for an empty name, `shut_down` for a subscriber
    /// registered after [`shutdown`](Self::shutdown).
    pub fn register(&self, reg: Registration) -> Result<()> {
        let meta = reg.meta();
        let Registration {
            name,
            scope,
            stack,
            middleware,
            ..
        } = reg;
        let middleware = match middleware {
            // A subscriber added after shutdown would never be called:
            // say so instead of accepting it silently.
            Middleware::Subscriber(_) if self.inner.dispatcher.is_shut_down() => {
                return Err(RelayError::ShutDown)
            }
            Middleware::Subscriber(s) => {
                Middleware::Subscriber(Counted::wrap(s, self.inner.activity.clone()))
            }
            other => other,
        };
        // Whatever this call displaces (an old snapshot, or the callback
        // itself on error) is dropped only after the lock is released: a
        // callback's destructor may be foreign code (a C `free_fn`) that
        // re-enters the runtime, and must not deadlock on this lock.
        let _keep_until_unlocked = middleware.clone();
        let stack = scope.map(|_| stack.unwrap_or_else(ScopeStack::current));
        let _displaced = {
            let _w = self.inner.write_lock.lock();
            match scope {
                None => {
                    let next = self.inner.global.load().inserted(&name, meta, middleware)?;
                    Displaced::Snapshot(self.publish(next))
                }
                Some(uuid) => {
                    let frame =
                        stack
                            .as_ref()
                            .and_then(|s| s.find_frame(uuid))
                            .ok_or_else(|| {
                                RelayError::NotFound(format!(
                                    "scope {uuid} is not open on this stack"
                                ))
                            })?;
                    let current = frame.locals().unwrap_or_default();
                    let next = current.inserted(&name, meta, middleware)?;
                    Displaced::Local(frame.set_locals(Some(Arc::new(next))))
                }
            }
        };
        Ok(())
    }

    /// Remove a global registration. Returns whether one was removed.
    pub fn deregister(&self, family: Family, name: &str) -> bool {
        self.deregister_where(|r| r.removed(family, name))
    }

    /// Remove the global registration under `name` only if it is still the
    /// one with `serial` ([`Registration::serial`]). Code that registered
    /// something and removes it later uses this form: by then someone may
    /// have removed it and registered something else under the same name,
    /// which is not its to remove. Returns whether it was removed.
    pub fn deregister_exact(&self, family: Family, name: &str, serial: u64) -> bool {
        self.deregister_where(|r| r.removed_exact(family, name, serial))
    }

    /// Whether the global registration under `name` is still the one with
    /// `serial`.
    pub fn holds(&self, family: Family, name: &str, serial: u64) -> bool {
        self.inner.global.load().holds(family, name, serial)
    }

    fn deregister_where(
        &self,
        without: impl FnOnce(&Registrations) -> Option<Registrations>,
    ) -> bool {
        let _displaced = {
            let _w = self.inner.write_lock.lock();
            match without(&self.inner.global.load()) {
                Some(next) => self.publish(next),
                None => return false,
            }
        };
        true
    }

    /// Remove every global registration tagged `origin` (see
    /// [`Registration::origin`]), in every family, as one atomic swap.
    /// Returns whether any was removed.
    ///
    /// For a binding whose callbacks die with something the process
    /// outlives, such as a Node.js worker thread: once that worker has
    /// exited its middleware can only fail and its subscribers can only
    /// buffer, so it deregisters everything it tagged. Events already queued
    /// for those subscribers are still handed to them (and dropped by the
    /// binding); [`Origin::UNKNOWN`] is never removed.
    ///
    /// [`Origin::UNKNOWN`]: crate::Origin::UNKNOWN
    pub fn deregister_origin(&self, origin: crate::registry::Origin) -> bool {
        if origin == crate::registry::Origin::UNKNOWN {
            return false;
        }
        let _displaced = {
            let _w = self.inner.write_lock.lock();
            match self.inner.global.load().without_origin(origin) {
                Some(next) => self.publish(next),
                None => return false,
            }
        };
        true
    }

    /// Remove a scope-local registration owned by scope `scope` on `stack`
    /// (default: current). `Err(not_found)` if the scope is not open.
    pub fn deregister_local(
        &self,
        family: Family,
        name: &str,
        scope: crate::id::Uuid,
        stack: Option<&ScopeStack>,
    ) -> Result<bool> {
        let stack = stack.cloned().unwrap_or_else(ScopeStack::current);
        let frame = stack.find_frame(scope).ok_or_else(|| {
            RelayError::NotFound(format!("scope {scope} is not open on this stack"))
        })?;
        let _displaced = {
            let _w = self.inner.write_lock.lock();
            let Some(current) = frame.locals() else {
                return Ok(false);
            };
            match current.removed(family, name) {
                Some(next) => frame.set_locals(if next.is_empty() {
                    None
                } else {
                    Some(Arc::new(next))
                }),
                None => return Ok(false),
            }
        };
        Ok(true)
    }

    /// Apply several global changes as one atomic swap: first every removal
    /// (family, name and [`serial`](Registration::serial): a name no longer
    /// registered, or registered again since, is left alone), then every
    /// insertion. Either all apply or — on the first failing insertion —
    /// none do, and the registry is exactly as before. Calls in flight see
    /// the old or the new set, never a mix. This is what plugin activation
    /// is built on.
    pub fn apply(
        &self,
        removals: &[(Family, Arc<str>, u64)],
        insertions: Vec<Registration>,
    ) -> Result<()> {
        let insertions: Vec<Registration> = insertions
            .into_iter()
            .map(|mut r| {
                if let Middleware::Subscriber(s) = r.middleware {
                    r.middleware =
                        Middleware::Subscriber(Counted::wrap(s, self.inner.activity.clone()));
                }
                r
            })
            .collect();
        if self.inner.dispatcher.is_shut_down()
            && insertions
                .iter()
                .any(|r| matches!(r.middleware, Middleware::Subscriber(_)))
        {
            return Err(RelayError::ShutDown);
        }
        if let Some(r) = insertions.iter().find(|r| r.scope.is_some()) {
            return Err(RelayError::invalid(format!(
                "'{}': batched registrations are global; register scope-local middleware one by one",
                r.name
            )));
        }
        let _keep_until_unlocked = insertions.clone();
        let _displaced = {
            let _w = self.inner.write_lock.lock();
            let mut next: Registrations = (**self.inner.global.load()).clone();
            for (family, name, serial) in removals {
                if let Some(n) = next.removed_exact(*family, name, *serial) {
                    next = n;
                }
            }
            for r in insertions {
                next = next.inserted(&r.name, r.meta(), r.middleware)?;
            }
            self.publish(next)
        };
        Ok(())
    }

    /// Install `next` as the global registrations (caller holds the write
    /// lock) and return the previous ones, to be dropped after unlocking.
    fn publish(&self, mut next: Registrations) -> Arc<Registrations> {
        // Keep the pin when the subscriber set did not change (most updates
        // touch middleware only); pin a new set with our dispatcher.
        let same = next
            .pinned
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p.set(), &next.subscriber_set));
        if !same {
            next.pinned = (!next.subscriber_set.is_empty()).then(|| {
                PinnedSet::new(next.subscriber_set.clone(), self.inner.dispatcher.clone())
            });
        }
        let [tool, llm] = next.middleware_counts();
        let a = &self.inner.activity;
        a.tool_middleware.store(saturate(tool), Ordering::Release);
        a.llm_middleware.store(saturate(llm), Ordering::Release);
        self.inner.global.swap(Arc::new(next))
    }

    /// Names of the global registrations of `family`, in run order.
    pub fn registrations(&self, family: Family) -> Vec<Arc<str>> {
        self.inner.global.load().names(family)
    }

    /// Block until every event emitted before this call has been delivered.
    /// From inside a subscriber it returns at once.
    pub fn flush(&self) -> Result<()> {
        self.inner.dispatcher.flush()
    }

    /// [`flush`](Self::flush) with a timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.inner.dispatcher.flush_timeout(Some(timeout))
    }

    /// The dispatcher (for bindings that need non-blocking flush).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    /// Deliver everything queued and stop delivery, then tell the global
    /// subscribers ([`Subscriber::on_shutdown`](crate::Subscriber::on_shutdown):
    /// exporters send what they hold). Idempotent. Called from a subscriber,
    /// it returns before the queue is delivered, and the subscribers are not
    /// told (they would be, on the dispatcher thread, before their last
    /// events).
    pub fn shutdown(&self) -> Result<()> {
        self.stop_delivery()?;
        self.notify_shutdown();
        Ok(())
    }

    /// The first half of [`shutdown`](Self::shutdown): deliver what is
    /// queued and stop delivery. For a binding that must not block its
    /// thread on the second half (exporters sending over the network).
    pub fn stop_delivery(&self) -> Result<()> {
        self.inner.dispatcher.shutdown()
    }

    /// The second half of [`shutdown`](Self::shutdown): call every global
    /// subscriber's [`on_shutdown`](crate::Subscriber::on_shutdown), all at
    /// once (each on a thread of its own), and return when they all did, so
    /// that exporters waiting on their collectors wait side by side. Does
    /// nothing on the dispatcher's own thread.
    pub fn notify_shutdown(&self) {
        if self.inner.dispatcher.on_worker_thread() {
            return;
        }
        let subscribers = self.inner.global.load().subscriber_set.clone();
        // A failing subscriber must not keep the others from sending what
        // they hold.
        let notify = |s: &Arc<dyn crate::Subscriber>| {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.on_shutdown()));
        };
        std::thread::scope(|scope| {
            for s in subscribers.iter() {
                let spawned = std::thread::Builder::new()
                    .name("nemo-relay-shutdown".into())
                    .spawn_scoped(scope, || notify(s));
                if spawned.is_err() {
                    notify(s); // no thread to be had: one after the other
                }
            }
        });
    }

    /// Current counters.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            dispatcher: self.inner.dispatcher.stats(),
            sanitizer_failures: self.inner.sanitizer_failures.load(Ordering::Relaxed),
        }
    }
}

/// A registry snapshot replaced under the write lock, dropped after it.
enum Displaced {
    Snapshot(#[allow(dead_code)] Arc<Registrations>),
    Local(#[allow(dead_code)] Option<Arc<Registrations>>),
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A count as a 32-bit activity word (only "zero or not" matters to readers).
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
