//! Opaque native handles held by the facade.
//!
//! Scope stacks, scope handles, call contexts, in-flight calls and streams
//! are handed to JS as *externals*: a V8 value that owns one boxed
//! [`Native`] and frees it when garbage-collected. The facade wraps them in
//! small JS classes (`ScopeStack`, `ScopeHandle`, …), which is much cheaper
//! than napi classes (no constructor call, no wrap, no prototype lookup) and
//! keeps the native side a plain convert-and-forward layer.
//!
//! Every external this addon creates is recorded (per JS thread) until it is
//! finalized, and checked before its pointer is read, so a foreign external
//! (or a plain object) passed where a handle is expected is a clean
//! `TypeError`, never a wild read.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use napi::sys;
use nemo_relay_core::{RelayError, ScopeHandle, ScopeStack};

use crate::driver::Cancel;
use crate::js::{Js, Result, Value};
use crate::stream_cell::StreamCell;

/// What an external holds.
pub(crate) enum Native {
    Stack(ScopeStack),
    Scope(ScopeHandle),
    Call(Arc<dyn Cancel>),
    Stream(Arc<StreamCell>),
}

impl Native {
    fn kind(&self) -> &'static str {
        match self {
            Native::Stack(_) => "scope stack",
            Native::Scope(_) => "scope handle",
            Native::Call(_) => "call token",
            Native::Stream(_) => "stream",
        }
    }
}

/// Hashes the integer keys of [`LIVE`] and [`SLAB`] with one multiply: they
/// are addresses and counters chosen by us, not by an attacker, and the
/// default SipHash costs more than the rest of a slab lookup. Three such
/// lookups happen per scope push/pop.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Odd multiplier: a bijection whose high bits (hashbrown's control
        // bytes) mix every input bit.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdBuild = std::hash::BuildHasherDefault<IdHasher>;

thread_local! {
    /// Payloads of the externals this addon created on this thread and that
    /// are still alive. Checking membership before reading an external's
    /// pointer is what makes a foreign external a clean `TypeError`. (A type
    /// tag would do the same, but tagging adds a property to every external,
    /// which costs more than the rest of a scope push.)
    static LIVE: std::cell::RefCell<std::collections::HashSet<usize, IdBuild>> =
        std::cell::RefCell::new(std::collections::HashSet::default());
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    LIVE.with(|l| l.borrow_mut().remove(&(data as usize)));
    // SAFETY: `data` is the box leaked in `wrap`, finalized exactly once.
    let native = unsafe { Box::from_raw(data as *mut Native) };
    if let Native::Stack(stack) = &*native {
        forget_open_scopes(stack);
    }
}

/// A stack collected with scopes still open on it (code that threw past
/// their `end()`): nothing can end them any more, so their slab entries
/// (and the data they were opened with) go with it instead of staying for
/// the life of the process.
fn forget_open_scopes(stack: &ScopeStack) {
    let owned = stack.owned_scopes();
    if owned.is_empty() {
        return;
    }
    let removed: Vec<Native> = SLAB.with(|s| {
        // A collection never runs inside a slab borrow; if one ever did,
        // leaking beats a panic in a finalizer.
        let Ok(mut s) = s.try_borrow_mut() else {
            return Vec::new();
        };
        owned
            .iter()
            .filter_map(|h| {
                let id = h.binding_tag();
                match s.1.get(&id) {
                    Some(Native::Scope(e)) if e.uuid() == h.uuid() => s.1.remove(&id),
                    _ => None,
                }
            })
            .collect()
    });
    drop(removed); // after the borrow
}

/// A new external owning `native`.
pub(crate) fn wrap(js: Js, native: Native) -> Result<Value> {
    let data = Box::into_raw(Box::new(native));
    let mut v = ptr::null_mut();
    // SAFETY: on success the finalizer owns `data`.
    let status = unsafe {
        sys::napi_create_external(js.0, data.cast(), Some(finalize), ptr::null_mut(), &mut v)
    };
    if let Err(e) = js.check(status) {
        // SAFETY: Node did not take `data`.
        drop(unsafe { Box::from_raw(data) });
        return Err(e);
    }
    LIVE.with(|l| l.borrow_mut().insert(data as usize));
    Ok(v)
}

thread_local! {
    /// Short-lived handles with an explicit end (a pushed scope until it is
    /// popped, a fork until its `scope()` callback settles, a call's child
    /// stack until its callback settles), keyed by a number the facade holds.
    /// Unlike externals they cost no garbage-collector work: a finalizer'd
    /// external costs ~2 µs in Node 20, more than the operation it serves.
    static SLAB: std::cell::RefCell<(u64, std::collections::HashMap<u64, Native, IdBuild>)> =
        std::cell::RefCell::new((0, std::collections::HashMap::default()));
}

/// Store `native` until [`release`]; returns its id.
pub(crate) fn insert(js: Js, native: Native) -> Result<Value> {
    insert_with(js, |_| native)
}

/// Store what `make(id)` returns until [`release`]; returns its id.
fn insert_with(js: Js, make: impl FnOnce(u64) -> Native) -> Result<Value> {
    let id = SLAB.with(|s| {
        let mut s = s.borrow_mut();
        s.0 += 1;
        let id = s.0;
        s.1.insert(id, make(id));
        id
    });
    js.number(id as f64)
}

/// Forget the handle with id `v` (a number). Unknown ids are ignored.
pub(crate) fn release(js: Js, v: Value) -> Result<()> {
    let id = js.to_f64(v)? as u64;
    let removed = SLAB.with(|s| s.borrow_mut().1.remove(&id));
    // A stack let go with scopes still open on it (a late fork collected
    // with its work unfinished): they go with it. Not while something else
    // holds the stack: a tool and the execution intercept around it each
    // get a handle to the call's stack, and the tool settling must not take
    // the scope the intercept opened before `next()` and ends after it.
    if let Some(Native::Stack(stack)) = &removed {
        if !stack.is_shared() {
            forget_open_scopes(stack);
        }
    }
    drop(removed);
    Ok(())
}

/// Store a pushed scope until it is popped; returns its id. The scope is
/// tagged with the id ([`ScopeHandle::binding_tag`]), so that any handle to
/// it (the stack's top, say) leads back to this entry.
pub(crate) fn insert_scope(js: Js, handle: ScopeHandle) -> Result<Value> {
    insert_with(js, |id| {
        handle.set_binding_tag(id);
        Native::Scope(handle)
    })
}

/// The slab id of `handle`'s entry, if it has a live one.
fn slab_id_of(handle: &ScopeHandle) -> Option<u64> {
    let id = handle.binding_tag();
    (id != 0).then_some(id).filter(|id| {
        SLAB.with(
            |s| matches!(s.borrow().1.get(id), Some(Native::Scope(h)) if h.uuid() == handle.uuid()),
        )
    })
}

/// `handle` (given to JS as `v`) was popped: forget its slab entry, by id
/// or, popped through another handle, by its tag (else the entry would
/// stay until the process exits).
pub(crate) fn popped(js: Js, v: Value, handle: &ScopeHandle) -> Result<()> {
    if is_number(js, v)? {
        return release(js, v);
    }
    if let Some(id) = slab_id_of(handle) {
        let removed = SLAB.with(|s| s.borrow_mut().1.remove(&id));
        drop(removed); // after the borrow
    }
    Ok(())
}

/// `handle` for JS: the id of its slab entry if it has one (the same
/// number `pushScope` returned, so the facade can hand back the very
/// handle object it made then), else a new external.
pub(crate) fn scope_value(js: Js, handle: ScopeHandle) -> Result<Value> {
    match slab_id_of(&handle) {
        Some(id) => js.number(id as f64),
        None => wrap(js, Native::Scope(handle)),
    }
}

/// Whether the scope handle `v` has ended. An id no longer in the slab was
/// released, which happens only when its scope ended.
pub(crate) fn scope_ended(js: Js, v: Value) -> Result<bool> {
    if is_number(js, v)? {
        let id = js.to_f64(v)? as u64;
        let open = SLAB.with(|s| match s.borrow().1.get(&id) {
            Some(Native::Scope(h)) => Ok(Some(h.is_ended())),
            Some(other) => Err(mismatch("scope handle", other)),
            None => Ok(None),
        })?;
        return Ok(open.unwrap_or(true));
    }
    Ok(scope(js, v)?.is_ended())
}

/// A clone of what slab entry `v` holds, through `pick`.
fn slab_get<T>(
    js: Js,
    v: Value,
    expected: &str,
    pick: impl FnOnce(&Native) -> Option<T>,
) -> Result<T> {
    let id = js.to_f64(v)? as u64;
    SLAB.with(|s| match s.borrow().1.get(&id) {
        None => Err(RelayError::NotFound(format!(
            "this {expected} has ended (it is no longer open or its callback settled)"
        ))),
        Some(n) => pick(n).ok_or_else(|| mismatch(expected, n)),
    })
}

fn is_number(js: Js, v: Value) -> Result<bool> {
    Ok(js.type_of(v)? == sys::ValueType::napi_number)
}

/// The [`Native`] inside an external this addon created.
pub(crate) fn unwrap<'a>(js: Js, v: Value, expected: &str) -> Result<&'a Native> {
    let not_handle = || RelayError::invalid(format!("expected a {expected}"));
    let mut data = ptr::null_mut();
    // SAFETY: valid env and value; a non-external fails with a status.
    let status = unsafe { sys::napi_get_value_external(js.0, v, &mut data) };
    if status != sys::Status::napi_ok || !LIVE.with(|l| l.borrow().contains(&(data as usize))) {
        return Err(not_handle());
    }
    // SAFETY: a live payload of ours; the JS value (and so the box) outlives
    // this native call, which is the only borrower.
    Ok(unsafe { &*(data as *const Native) })
}

fn mismatch(expected: &str, got: &Native) -> RelayError {
    RelayError::invalid(format!("expected a {expected}, got a {}", got.kind()))
}

pub(crate) fn stack(js: Js, v: Value) -> Result<ScopeStack> {
    if is_number(js, v)? {
        return slab_get(js, v, "scope stack", |n| match n {
            Native::Stack(s) => Some(s.clone()),
            _ => None,
        });
    }
    match unwrap(js, v, "scope stack")? {
        Native::Stack(s) => Ok(s.clone()),
        other => Err(mismatch("scope stack", other)),
    }
}

pub(crate) fn scope(js: Js, v: Value) -> Result<ScopeHandle> {
    if is_number(js, v)? {
        return slab_get(js, v, "scope handle", |n| match n {
            Native::Scope(h) => Some(h.clone()),
            _ => None,
        });
    }
    match unwrap(js, v, "scope handle")? {
        Native::Scope(h) => Ok(h.clone()),
        other => Err(mismatch("scope handle", other)),
    }
}

pub(crate) fn call(js: Js, v: Value) -> Result<Arc<dyn Cancel>> {
    match unwrap(js, v, "call token")? {
        Native::Call(c) => Ok(c.clone()),
        other => Err(mismatch("call token", other)),
    }
}

pub(crate) fn stream(js: Js, v: Value) -> Result<Arc<StreamCell>> {
    match unwrap(js, v, "stream")? {
        Native::Stream(s) => Ok(s.clone()),
        other => Err(mismatch("stream", other)),
    }
}

/// An optional stack argument: `undefined` means "none".
pub(crate) fn opt_stack(js: Js, v: Value) -> Result<Option<ScopeStack>> {
    if js.type_of(v)? == sys::ValueType::napi_undefined {
        return Ok(None);
    }
    stack(js, v).map(Some)
}
