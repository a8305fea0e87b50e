//! The JS thread the addon lives on, and the one way back to it.
//!
//! A *realm* is one Node.js environment (the main thread, or a worker) that
//! loaded the addon. It owns a single **weak, non-blocking threadsafe
//! function** that runs Rust closures on the realm's thread:
//!
//! ```text
//!   any thread ──post(task)──▶ [ unbounded TSFN queue, FIFO ] ──▶ JS thread: task(js)
//!   (never blocks)                 (unref'd: never keeps Node alive)
//! ```
//!
//! Everything that must reach JS from elsewhere goes through it: subscriber
//! batches and flush completions (so a flush resolves after the batches
//! posted before it: one FIFO queue), re-polls of managed calls woken off the
//! JS thread, middleware invoked by Rust code running on another thread, and
//! releasing JS references dropped off-thread. No per-call or per-callback
//! threadsafe function is ever created.
//!
//! The *current environment* marker is a thread-local set for the duration
//! of every native entry (a `#[napi]` function, a native callback, a posted
//! task). Middleware shims check it: when it is set and belongs to the realm
//! of the JS function they wrap, they call that function directly, on the
//! spot, with no thread hop — which is what makes a fully synchronous
//! pipeline run synchronously.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::{self, ThreadId};

use napi::sys;
use nemo_relay_core::{Origin, RelayError};

use crate::js::{Js, Result, Value};
use crate::js_ref::JsRef;
use crate::promise::Abandon;

/// Work to run on a realm's JS thread.
pub(crate) type Task = Box<dyn FnOnce(Js) + Send>;

/// One Node.js environment that loaded the addon.
pub(crate) struct Realm {
    env: sys::napi_env,
    thread: ThreadId,
    tsfn: sys::napi_threadsafe_function,
    /// Set when the environment is torn down: posts fail, references leak
    /// instead of being released into a dead heap.
    closed: AtomicBool,
    /// Held (shared) by every call into the threadsafe function from any
    /// thread, and (exclusive) by the teardown while it sets `closed`. Node
    /// frees the threadsafe function right after our teardown hook runs, so
    /// checking `closed` and then calling it must be one step: without the
    /// lock, a thread that saw the realm open could call into a function
    /// already freed (seen: SIGABRT in uv_mutex_unlock when a worker was
    /// terminated while other threads posted to it).
    gate: RwLock<()>,
    /// Receivers waiting on work posted to this realm. If the realm goes
    /// away first (a worker terminated mid-call), that work will never
    /// answer: whatever holds its sending side may be stranded in the dying
    /// heap (a `then` callback of a Promise that never settles), so the
    /// teardown abandons every receiver still waiting, and its caller gets
    /// `ERR_RELAY_CANCELLED` instead of waiting forever.
    watched: Mutex<Vec<Weak<dyn Abandon>>>,
    /// Operations a JS caller awaits (`flush()`, `shutdown()`): while any is
    /// outstanding the threadsafe function is ref'd, so Node does not exit
    /// under an `await` whose answer is still on its way from another thread.
    awaited: AtomicUsize,
    /// The tag of the middleware registered from this realm (unique per
    /// realm of the process, never reused).
    origin: Origin,
}

/// See [`Realm::awaiting`]. Its release is posted to the realm when it is
/// dropped elsewhere: behind the wake-up of the call that waited, which the
/// same queue delivers first.
pub(crate) struct Awaiting(Arc<Realm>);

impl Drop for Awaiting {
    fn drop(&mut self) {
        let realm = self.0.clone();
        match realm.current_js() {
            Some(js) => realm.release(js),
            None => {
                let r = realm.clone();
                realm.post(Box::new(move |js| r.release(js)));
            }
        }
    }
}

/// The origin the next realm gets (0 is the core's "unknown").
static NEXT_ORIGIN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

// SAFETY: `env` is only dereferenced on `thread` (checked by `on_thread`);
// the threadsafe function is designed to be called from any thread.
unsafe impl Send for Realm {}
unsafe impl Sync for Realm {}

struct Local {
    realm: Arc<Realm>,
    /// The facade's hooks object (`makeError`, …), set by `init`.
    hooks: Option<JsRef>,
    /// `JSON.stringify` and `JSON.parse`, looked up once.
    json: Option<(JsRef, JsRef)>,
    /// Hook functions already looked up: a property read by C-string name
    /// makes and internalizes a V8 string each time, which cost as much as
    /// the rest of building a call context.
    hook_fns: Vec<(&'static std::ffi::CStr, JsRef)>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    static CURRENT: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
}

/// Run `f` with `js` marked as this thread's current environment.
pub(crate) fn with_env<R>(js: Js, f: impl FnOnce() -> R) -> R {
    struct Restore(sys::napi_env);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(js.0)));
    f()
}

/// The environment of the native entry running on this thread, if any.
pub(crate) fn current_env() -> Option<Js> {
    let env = CURRENT.with(|c| c.get());
    (!env.is_null()).then_some(Js(env))
}

impl Realm {
    /// The realm of `js`, created on first use.
    pub(crate) fn of(js: Js) -> Result<Arc<Realm>> {
        if let Some(r) = LOCAL.with(|l| l.borrow().as_ref().map(|l| l.realm.clone())) {
            return Ok(r);
        }
        let realm = Realm::create(js)?;
        LOCAL.with(|l| {
            *l.borrow_mut() = Some(Local {
                realm: realm.clone(),
                hooks: None,
                json: None,
                hook_fns: Vec::new(),
            })
        });
        Ok(realm)
    }

    fn create(js: Js) -> Result<Arc<Realm>> {
        let name = js.string("nemo-relay")?;
        let mut tsfn = ptr::null_mut();
        // SAFETY: no JS function (the call_js callback does the work), an
        // unbounded queue (max 0: posting never blocks) and one owner.
        js.check(unsafe {
            sys::napi_create_threadsafe_function(
                js.0,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                ptr::null_mut(),
                None,
                ptr::null_mut(),
                Some(run_task),
                &mut tsfn,
            )
        })?;
        // SAFETY: `tsfn` was just created on this thread. Unref'd: a queued
        // task never keeps the process alive on its own.
        js.check(unsafe { sys::napi_unref_threadsafe_function(js.0, tsfn) })?;
        let realm = Arc::new(Realm {
            env: js.0,
            thread: thread::current().id(),
            tsfn,
            closed: AtomicBool::new(false),
            gate: RwLock::new(()),
            watched: Mutex::new(Vec::new()),
            awaited: AtomicUsize::new(0),
            origin: Origin(NEXT_ORIGIN.fetch_add(1, Ordering::Relaxed)),
        });
        let hook_arg = Arc::into_raw(realm.clone()) as *mut c_void;
        // SAFETY: the hook runs once at teardown and takes back this Arc.
        js.check(unsafe { sys::napi_add_env_cleanup_hook(js.0, Some(teardown), hook_arg) })?;
        Ok(realm)
    }

    /// The environment of this realm, if the caller runs on its thread
    /// inside a native entry (see the module docs).
    pub(crate) fn current_js(&self) -> Option<Js> {
        let env = CURRENT.with(|c| c.get());
        (env == self.env && !env.is_null()).then_some(Js(env))
    }

    /// The tag of the middleware this realm registers: a managed call whose
    /// every middleware carries it can pass JS values through (see
    /// [`crate::calls`]).
    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    /// The raw environment (only usable on the realm's thread).
    pub(crate) fn env(&self) -> sys::napi_env {
        self.env
    }

    /// Whether the caller runs on this realm's JS thread.
    pub(crate) fn on_thread(&self) -> bool {
        thread::current().id() == self.thread
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queue `task` to run on the JS thread. Never blocks. Returns `false`
    /// (dropping the task) once the environment is gone.
    pub(crate) fn post(&self, task: Task) -> bool {
        let _open = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if self.is_closed() {
            return false;
        }
        let data = Box::into_raw(Box::new(task)) as *mut c_void;
        // SAFETY: the realm is open and stays so while `_open` is held (the
        // teardown waits for it), so the tsfn has not been freed; a call
        // Node refuses hands the task back.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.tsfn,
                data,
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: Node did not take ownership of `data`.
            drop(unsafe { Box::from_raw(data as *mut Task) });
            return false;
        }
        true
    }

    /// Abandon `receiver` if this realm goes away before it is answered
    /// (see `watched`). Answered receivers are pruned as the list grows.
    pub(crate) fn watch(&self, receiver: Weak<dyn Abandon>) {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if watched.len() >= 64 && watched.len().is_power_of_two() {
            watched.retain(|w| w.strong_count() > 0);
        }
        watched.push(receiver);
    }

    /// Keep the process alive until the matching [`release`](Self::release):
    /// a JS caller awaits something another thread will post back.
    pub(crate) fn hold(&self, js: Js) {
        if self.is_closed() {
            return;
        }
        if self.awaited.fetch_add(1, Ordering::AcqRel) == 0 {
            // SAFETY: called on the realm's thread with its env.
            unsafe { sys::napi_ref_threadsafe_function(js.0, self.tsfn) };
        }
    }

    /// End a [`hold`](Self::hold) (on the JS thread).
    pub(crate) fn release(&self, js: Js) {
        if self.is_closed() {
            return;
        }
        if self.awaited.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: called on the realm's thread with its env.
            unsafe { sys::napi_unref_threadsafe_function(js.0, self.tsfn) };
        }
    }

    /// Keep this realm's event loop alive (on its thread) until the returned
    /// guard is dropped, on any thread: for a call of this realm that waits
    /// for work posted to another realm. Without it, a worker whose loop has
    /// nothing else to do exits before the answer comes back.
    pub(crate) fn awaiting(self: &Arc<Self>, js: Js) -> Awaiting {
        self.hold(js);
        Awaiting(self.clone())
    }

    /// Run `task` now if we are on the JS thread inside a native entry,
    /// otherwise queue it.
    pub(crate) fn run_or_post(&self, task: Task) -> bool {
        match self.current_js() {
            Some(js) => {
                task(js);
                true
            }
            None => self.post(task),
        }
    }
}

unsafe extern "C" fn run_task(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: `data` is the boxed task `post` leaked.
    let task = unsafe { Box::from_raw(data as *mut Task) };
    if env.is_null() {
        // The environment is being torn down: drop the work.
        return;
    }
    let js = Js(env);
    with_env(js, || task(js));
    // Tasks report their own errors; never leave an exception pending in a
    // libuv callback (Node would treat it as uncaught).
    let mut pending = false;
    // SAFETY: valid env on its own thread.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        let mut exc = ptr::null_mut();
        // SAFETY: as above.
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut exc) };
    }
}

unsafe extern "C" fn teardown(arg: *mut c_void) {
    // SAFETY: `arg` is the Arc leaked in `Realm::create`.
    let realm = unsafe { Arc::from_raw(arg as *const Realm) };
    // Everything this realm registered globally dies with it: a worker's
    // middleware could only fail every later call of the other realms
    // (`ERR_RELAY_CANCELLED`), and its subscribers only buffer events that
    // no one will ever read. Removed while the realm is still open (cleanup
    // hooks run while the environment is valid, so the JS references the
    // removed entries hold are deleted normally, here on its thread).
    nemo_relay_core::Runtime::global().deregister_origin(realm.origin);
    {
        // Wait for posts in progress; none starts after this (see `gate`).
        let _closing = realm.gate.write().unwrap_or_else(|p| p.into_inner());
        realm.closed.store(true, Ordering::Release);
    }
    let watched = std::mem::take(&mut *realm.watched.lock().unwrap_or_else(|p| p.into_inner()));
    for receiver in watched.iter().filter_map(Weak::upgrade) {
        receiver.abandon();
    }
    // References still held by the facade's hooks belong to this dying heap.
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            if let Some(h) = local.hooks.take() {
                std::mem::forget(h);
            }
            if let Some(j) = local.json.take() {
                std::mem::forget(j);
            }
            for f in local.hook_fns.drain(..) {
                std::mem::forget(f);
            }
        }
    });
}

/// Store the facade's hooks object (see `init` in `lib.rs`).
pub(crate) fn set_hooks(js: Js, hooks: Value) -> Result<()> {
    Realm::of(js)?;
    let hooks = JsRef::new(js, hooks)?;
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.hooks = Some(hooks);
            local.hook_fns.clear();
        }
    });
    Ok(())
}

/// A function from the facade's hooks object, if the facade registered it.
/// Found functions are kept: the facade sets its hooks once, as it loads.
pub(crate) fn hook(js: Js, name: &'static std::ffi::CStr) -> Result<Option<Value>> {
    let cached = LOCAL.with(|l| {
        l.borrow().as_ref().and_then(|l| {
            l.hook_fns
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| f.value(js))
        })
    });
    if let Some(f) = cached {
        return f.map(Some);
    }
    let hooks = LOCAL.with(|l| {
        l.borrow()
            .as_ref()
            .and_then(|l| l.hooks.as_ref().map(|h| h.value(js)))
    });
    let Some(hooks) = hooks else {
        return Ok(None);
    };
    let f = js.get_named(hooks?, name)?;
    if js.type_of(f)? != sys::ValueType::napi_function {
        return Ok(None);
    }
    let kept = JsRef::new(js, f)?;
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.hook_fns.push((name, kept));
        }
    });
    Ok(Some(f))
}

/// `(JSON.stringify, JSON.parse)` of this realm.
pub(crate) fn json_functions(js: Js) -> Result<(Value, Value)> {
    let cached = LOCAL.with(|l| {
        l.borrow()
            .as_ref()
            .and_then(|l| l.json.as_ref().map(|(s, p)| (s.value(js), p.value(js))))
    });
    if let Some((s, p)) = cached {
        return Ok((s?, p?));
    }
    Realm::of(js)?;
    let mut global = ptr::null_mut();
    // SAFETY: valid env.
    js.check(unsafe { sys::napi_get_global(js.0, &mut global) })?;
    let json = js.get_named(global, c"JSON")?;
    let stringify = js.get_named(json, c"stringify")?;
    let parse = js.get_named(json, c"parse")?;
    let refs = (JsRef::new(js, stringify)?, JsRef::new(js, parse)?);
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.json = Some(refs);
        }
    });
    Ok((stringify, parse))
}

/// The error reported when a realm's environment is gone.
pub(crate) fn gone() -> RelayError {
    RelayError::Cancelled("the JavaScript environment of this callback has exited".into())
}
