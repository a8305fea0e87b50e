//! [`JsRef`]: a JS value kept alive from Rust, safe to hold anywhere.
//!
//! Middleware registrations live in the core's process-wide registries, which
//! require `Send + Sync` callbacks; the JS functions inside them are
//! `napi_ref`s, which may only be touched on their own JS thread. A `JsRef`
//! bridges the two: it can be moved and dropped on any thread, but its value
//! can only be read with that realm's [`Js`] (checked), and a drop on another
//! thread posts the release to the JS thread instead of touching V8.
//!
//! Node 20 cannot reference primitives, so a primitive (a thrown string, say)
//! is boxed in a one-property holder object and unboxed on read.

use std::ptr;
use std::sync::Arc;

use napi::sys;
use nemo_relay_core::RelayError;

use crate::js::{Js, Result, Value};
use crate::realm::Realm;

/// A reference to a JS value: strong, unless made with [`JsRef::weak`].
pub(crate) struct JsRef {
    raw: sys::napi_ref,
    boxed: bool,
    realm: Arc<Realm>,
}

// SAFETY: `raw` is only dereferenced through `value`, which checks that the
// caller holds the realm's env on its thread; `Drop` releases it there too.
unsafe impl Send for JsRef {}
unsafe impl Sync for JsRef {}

impl JsRef {
    pub(crate) fn new(js: Js, value: Value) -> Result<JsRef> {
        JsRef::with_count(js, value, 1)
    }

    /// A weak reference to object `value`: it does not keep the value
    /// alive, and [`JsRef::value`] fails once the value is collected.
    pub(crate) fn weak(js: Js, value: Value) -> Result<JsRef> {
        JsRef::with_count(js, value, 0)
    }

    fn with_count(js: Js, value: Value, count: u32) -> Result<JsRef> {
        let realm = Realm::of(js)?;
        let t = js.type_of(value)?;
        let referenceable = matches!(
            t,
            sys::ValueType::napi_object
                | sys::ValueType::napi_function
                | sys::ValueType::napi_external
                | sys::ValueType::napi_symbol
        );
        let (target, boxed) = if referenceable {
            (value, false)
        } else if count == 0 {
            // Only its reference would hold a box: it would go at once.
            return Err(RelayError::Internal(
                "a primitive cannot be referenced weakly".into(),
            ));
        } else {
            let holder = js.object()?;
            js.set_named(holder, c"v", value)?;
            (holder, true)
        };
        let mut raw = ptr::null_mut();
        // SAFETY: valid env and value.
        js.check(unsafe { sys::napi_create_reference(js.0, target, count, &mut raw) })?;
        Ok(JsRef { raw, boxed, realm })
    }

    /// The referenced value. Fails off the realm's thread.
    pub(crate) fn value(&self, js: Js) -> Result<Value> {
        if js.0 != self.realm.env() || !self.realm.on_thread() {
            return Err(RelayError::Internal(
                "a JS value was read outside its own JS thread".into(),
            ));
        }
        let mut v = ptr::null_mut();
        // SAFETY: `raw` is alive (released only in Drop) and this is its env.
        js.check(unsafe { sys::napi_get_reference_value(js.0, self.raw, &mut v) })?;
        if v.is_null() {
            return Err(RelayError::Internal(
                "a weakly referenced JS value was collected".into(),
            ));
        }
        if self.boxed {
            return js.get_named(v, c"v");
        }
        Ok(v)
    }

    /// The realm this value lives in.
    pub(crate) fn realm(&self) -> &Arc<Realm> {
        &self.realm
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        if self.realm.is_closed() {
            return; // the heap is gone; nothing to release
        }
        let raw = self.raw as usize;
        let release = move |js: Js| {
            // SAFETY: runs on the realm's thread with its env; the reference
            // was created there and is released exactly once.
            unsafe { sys::napi_delete_reference(js.0, raw as sys::napi_ref) };
        };
        if self.realm.on_thread() {
            release(Js(self.realm.env()));
        } else {
            self.realm.post(Box::new(release));
        }
    }
}
