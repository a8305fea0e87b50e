//! Opaque native handles held by the facade.
//!
//! Scope stacks, scope handles, call contexts, in-flight calls and streams
//! are handed to JS as *externals*: a V8 value that owns one boxed
//! [`Native`] and frees it when garbage-collected. The facade wraps them in
//! small JS classes (`ScopeStack`, `ScopeHandle`, …), which is much cheaper
//! than napi classes (no constructor call, no wrap, no prototype lookup) and
//! keeps the native side a plain convert-and-forward layer.
//!
//! Every external this addon creates carries one type tag, checked before
//! the pointer is read, so a foreign external (or a plain object) passed
//! where a handle is expected is a clean `TypeError`, never a wild read.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use napi::sys;
use nemo_relay_core::{CallContext, RelayError, ScopeHandle, ScopeStack};

use crate::driver::Cancel;
use crate::js::{Js, Result, Value};
use crate::streams::StreamCell;

/// Tag of every external this addon creates (random, fixed forever).
const TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x6e65_6d6f_7265_6c61,
    upper: 0x9d3c_51a4_07e2_b6f1,
};

/// What an external holds.
pub(crate) enum Native {
    Stack(ScopeStack),
    Scope(ScopeHandle),
    Context(CallContext),
    Call(Arc<dyn Cancel>),
    Stream(Arc<StreamCell>),
}

impl Native {
    fn kind(&self) -> &'static str {
        match self {
            Native::Stack(_) => "scope stack",
            Native::Scope(_) => "scope handle",
            Native::Context(_) => "call context",
            Native::Call(_) => "call token",
            Native::Stream(_) => "stream",
        }
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box leaked in `wrap`, finalized exactly once.
    drop(unsafe { Box::from_raw(data as *mut Native) });
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
    // SAFETY: `v` is the external just created.
    js.check(unsafe { sys::napi_type_tag_object(js.0, v, &TAG) })?;
    Ok(v)
}

/// The [`Native`] inside an external this addon created.
pub(crate) fn unwrap<'a>(js: Js, v: Value, expected: &str) -> Result<&'a Native> {
    let not_handle = || RelayError::invalid(format!("expected a {expected}"));
    if js.type_of(v)? != sys::ValueType::napi_external {
        return Err(not_handle());
    }
    let mut tagged = false;
    // SAFETY: valid env and value.
    js.check(unsafe { sys::napi_check_object_type_tag(js.0, v, &TAG, &mut tagged) })?;
    if !tagged {
        return Err(not_handle());
    }
    let mut data = ptr::null_mut();
    // SAFETY: tagged, so `data` is a live `Native` box; the JS value (and so
    // the box) outlives this native call, which is the only borrower.
    js.check(unsafe { sys::napi_get_value_external(js.0, v, &mut data) })?;
    Ok(unsafe { &*(data as *const Native) })
}

fn mismatch(expected: &str, got: &Native) -> RelayError {
    RelayError::invalid(format!("expected a {expected}, got a {}", got.kind()))
}

pub(crate) fn stack(js: Js, v: Value) -> Result<ScopeStack> {
    match unwrap(js, v, "scope stack")? {
        Native::Stack(s) => Ok(s.clone()),
        other => Err(mismatch("scope stack", other)),
    }
}

pub(crate) fn scope(js: Js, v: Value) -> Result<ScopeHandle> {
    match unwrap(js, v, "scope handle")? {
        Native::Scope(h) => Ok(h.clone()),
        other => Err(mismatch("scope handle", other)),
    }
}

pub(crate) fn context(js: Js, v: Value) -> Result<CallContext> {
    match unwrap(js, v, "call context")? {
        Native::Context(c) => Ok(c.clone()),
        other => Err(mismatch("call context", other)),
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
