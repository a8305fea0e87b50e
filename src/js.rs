//! A thin, checked layer over the raw Node-API calls the binding makes.
//!
//! The hot paths (managed calls, scopes, middleware shims) talk to V8 through
//! raw `napi_*` functions: the generic napi-rs wrappers allocate and look up
//! type registries on every call, which would dominate a 1 µs budget. Every
//! raw call goes through this module, which turns statuses into
//! [`RelayError`]s, so the rest of the crate stays free of `unsafe` detail.
//!
//! Errors are the core's [`RelayError`] all the way down: a JS exception
//! caught here becomes [`RelayError::Callback`] carrying the thrown value (see
//! [`crate::errors`]), so it can cross the pipeline and be rethrown unchanged.

use std::ffi::{c_void, CStr};
use std::ptr;

use napi::sys;
use nemo_relay_core::RelayError;

use crate::errors;

/// A JS value, valid in the handle scope it was obtained in.
pub(crate) type Value = sys::napi_value;

/// Result of every helper here.
pub(crate) type Result<T> = std::result::Result<T, RelayError>;

/// The JS environment of the thread we are running on. `Copy`: it is just
/// the `napi_env` pointer, usable only on its own thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Js(pub(crate) sys::napi_env);

fn status_error(status: sys::napi_status) -> RelayError {
    RelayError::Internal(format!("Node-API call failed with status {status}"))
}

impl Js {
    /// Turn a status into a result. A pending exception (a throwing getter,
    /// a `toJSON`, a callback) is taken and carried as a callback error.
    ///
    /// Some Node-API functions report a JS exception under another status
    /// (`napi_coerce_to_string` on an object without a usable `toString`
    /// says `napi_string_expected`) and leave it pending: it would be thrown
    /// at the caller when the native function returns, past every error
    /// this crate makes. So any failure takes a pending exception.
    pub(crate) fn check(self, status: sys::napi_status) -> Result<()> {
        match status {
            sys::Status::napi_ok => Ok(()),
            sys::Status::napi_pending_exception => Err(self.take_exception()),
            s => {
                let mut pending = false;
                // SAFETY: `self.0` is the live env of this thread.
                let asked = unsafe { sys::napi_is_exception_pending(self.0, &mut pending) };
                if asked == sys::Status::napi_ok && pending {
                    return Err(self.take_exception());
                }
                Err(status_error(s))
            }
        }
    }

    /// Clear the pending exception and wrap it as a callback error.
    ///
    /// Describing the exception calls back into JS (`String(e)`), which can
    /// throw again — always, while the environment is shutting down — so a
    /// failure *while describing* is reported without a description instead
    /// of recursing.
    pub(crate) fn take_exception(self) -> RelayError {
        thread_local! {
            static DESCRIBING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        // Node-API also says "pending exception" when the environment can
        // no longer run JS (a worker on its way out), with nothing pending:
        // that call was cut off, nothing was thrown.
        let mut pending = false;
        // SAFETY: `self.0` is the live env of this thread (type invariant).
        let asked = unsafe { sys::napi_is_exception_pending(self.0, &mut pending) };
        if asked == sys::Status::napi_ok && !pending {
            return crate::realm::gone();
        }
        let mut exc = ptr::null_mut();
        // SAFETY: `self.0` is the live env of this thread (type invariant).
        let status = unsafe { sys::napi_get_and_clear_last_exception(self.0, &mut exc) };
        if status != sys::Status::napi_ok || exc.is_null() || DESCRIBING.with(|d| d.get()) {
            return RelayError::callback("a JavaScript exception was thrown");
        }
        DESCRIBING.with(|d| d.set(true));
        let err = errors::from_thrown(self, exc);
        DESCRIBING.with(|d| d.set(false));
        err
    }

    pub(crate) fn type_of(self, v: Value) -> Result<i32> {
        let mut t = 0;
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_typeof(self.0, v, &mut t) })?;
        Ok(t)
    }

    pub(crate) fn undefined(self) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_get_undefined(self.0, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn null(self) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_get_null(self.0, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn boolean(self, b: bool) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_get_boolean(self.0, b, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn number(self, n: f64) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_create_double(self.0, n, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn string(self, s: &str) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: `s` is valid UTF-8 of the given length.
        self.check(unsafe {
            sys::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len() as isize, &mut v)
        })?;
        Ok(v)
    }

    /// A string known to be ASCII (uuids, wire names): made without UTF-8
    /// decoding.
    pub(crate) fn ascii(self, s: &str) -> Result<Value> {
        debug_assert!(s.is_ascii());
        let mut v = ptr::null_mut();
        // SAFETY: ASCII is Latin-1; `s` has the given length.
        self.check(unsafe {
            sys::napi_create_string_latin1(self.0, s.as_ptr().cast(), s.len() as isize, &mut v)
        })?;
        Ok(v)
    }

    /// A uuid as its hyphenated lowercase string, formatted on the stack.
    pub(crate) fn uuid(self, u: &nemo_relay_core::Uuid) -> Result<Value> {
        let mut buf = nemo_relay_core::Uuid::encode_buffer();
        self.ascii(u.hyphenated().encode_lower(&mut buf))
    }

    pub(crate) fn object(self) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_create_object(self.0, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn array(self, len: usize) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_create_array_with_length(self.0, len, &mut v) })?;
        Ok(v)
    }

    pub(crate) fn set_element(self, array: Value, index: u32, value: Value) -> Result<()> {
        // SAFETY: valid env and values.
        self.check(unsafe { sys::napi_set_element(self.0, array, index, value) })
    }

    pub(crate) fn get_named(self, obj: Value, key: &CStr) -> Result<Value> {
        let mut v = ptr::null_mut();
        // SAFETY: `key` is NUL-terminated.
        self.check(unsafe { sys::napi_get_named_property(self.0, obj, key.as_ptr(), &mut v) })?;
        Ok(v)
    }

    pub(crate) fn set_named(self, obj: Value, key: &CStr, value: Value) -> Result<()> {
        // SAFETY: `key` is NUL-terminated.
        self.check(unsafe { sys::napi_set_named_property(self.0, obj, key.as_ptr(), value) })
    }

    pub(crate) fn is_promise(self, v: Value) -> Result<bool> {
        let mut b = false;
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_is_promise(self.0, v, &mut b) })?;
        Ok(b)
    }

    pub(crate) fn is_error(self, v: Value) -> Result<bool> {
        let mut b = false;
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_is_error(self.0, v, &mut b) })?;
        Ok(b)
    }

    pub(crate) fn to_f64(self, v: Value) -> Result<f64> {
        let mut n = 0.0;
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_get_value_double(self.0, v, &mut n) })?;
        Ok(n)
    }

    pub(crate) fn to_bool(self, v: Value) -> Result<bool> {
        let mut b = false;
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_get_value_bool(self.0, v, &mut b) })?;
        Ok(b)
    }

    /// Whether `v` is truthy, as `if (v)` would say (it may run no user
    /// code: coercion to boolean never does).
    pub(crate) fn truthy(self, v: Value) -> Result<bool> {
        let mut b = ptr::null_mut();
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_coerce_to_bool(self.0, v, &mut b) })?;
        self.to_bool(b)
    }

    /// A JS string as a Rust `String` (lone surrogates become U+FFFD).
    pub(crate) fn to_string(self, v: Value) -> Result<String> {
        let mut len = 0;
        // SAFETY: a null buffer asks for the length only.
        self.check(unsafe {
            sys::napi_get_value_string_utf8(self.0, v, ptr::null_mut(), 0, &mut len)
        })?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0;
        // SAFETY: `buf` has room for `len` bytes plus the NUL.
        self.check(unsafe {
            sys::napi_get_value_string_utf8(
                self.0,
                v,
                buf.as_mut_ptr().cast(),
                len + 1,
                &mut written,
            )
        })?;
        buf.truncate(written);
        // Node writes valid UTF-8 (it replaces lone surrogates).
        String::from_utf8(buf).map_err(|e| RelayError::Internal(e.to_string()))
    }

    /// Run `f` on the text of JS string `v`, read into a stack buffer when
    /// it fits (no allocation for the short strings of names and small
    /// payloads). Lone surrogates become U+FFFD.
    pub(crate) fn with_str<R>(self, v: Value, f: impl FnOnce(&str) -> R) -> Result<R> {
        let mut buf = [0u8; 512];
        let mut written = 0;
        // SAFETY: `buf` has room for `buf.len()` bytes including the NUL.
        self.check(unsafe {
            sys::napi_get_value_string_utf8(
                self.0,
                v,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut written,
            )
        })?;
        // A longer string is cut at a character boundary, so it fills the
        // buffer up to the NUL, minus at most 3 bytes of a split character.
        if written + 4 < buf.len() {
            let text = std::str::from_utf8(&buf[..written])
                .map_err(|e| RelayError::Internal(e.to_string()))?;
            return Ok(f(text));
        }
        Ok(f(&self.to_string(v)?))
    }

    /// `String(v)`, for messages.
    pub(crate) fn coerce_string(self, v: Value) -> Result<String> {
        let mut s = ptr::null_mut();
        // SAFETY: valid env and value.
        self.check(unsafe { sys::napi_coerce_to_string(self.0, v, &mut s) })?;
        self.to_string(s)
    }

    /// Call `func` with `this = undefined`. A throw becomes a callback error.
    pub(crate) fn call(self, func: Value, args: &[Value]) -> Result<Value> {
        let recv = self.undefined()?;
        let mut out = ptr::null_mut();
        // SAFETY: `args` is a valid slice of values of this env.
        self.check(unsafe {
            sys::napi_call_function(self.0, recv, func, args.len(), args.as_ptr(), &mut out)
        })?;
        Ok(out)
    }

    /// A native function whose `data` is passed to `cb`; `finalize` frees it
    /// when the function is garbage-collected.
    pub(crate) fn function(
        self,
        name: &CStr,
        cb: sys::napi_callback,
        data: *mut c_void,
        finalize: sys::napi_finalize,
    ) -> Result<Value> {
        let mut f = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `data` stays valid until `finalize`.
        self.check(unsafe {
            sys::napi_create_function(
                self.0,
                name.as_ptr(),
                name.to_bytes().len() as isize,
                cb,
                data,
                &mut f,
            )
        })?;
        if finalize.is_some() {
            // SAFETY: as above; the finalizer owns `data` from here on.
            self.check(unsafe {
                sys::napi_add_finalizer(self.0, f, data, finalize, ptr::null_mut(), ptr::null_mut())
            })?;
        }
        Ok(f)
    }

    /// A new promise and the deferred that settles it.
    pub(crate) fn promise(self) -> Result<(Deferred, Value)> {
        let mut d = ptr::null_mut();
        let mut p = ptr::null_mut();
        // SAFETY: valid env.
        self.check(unsafe { sys::napi_create_promise(self.0, &mut d, &mut p) })?;
        Ok((Deferred(d), p))
    }

    /// Throw `value` (used right before returning to JS).
    pub(crate) fn throw(self, value: Value) {
        // SAFETY: valid env and value. Failure means an exception is already
        // pending, which is what we wanted anyway.
        unsafe { sys::napi_throw(self.0, value) };
    }

    /// Arguments of a native callback plus its `data` pointer.
    ///
    /// # Safety
    /// `info` must be the callback info of the current native callback.
    pub(crate) unsafe fn callback_args<const N: usize>(
        self,
        info: sys::napi_callback_info,
    ) -> Result<([Value; N], *mut c_void)> {
        let mut argv = [ptr::null_mut(); N];
        let mut argc = N;
        let mut data = ptr::null_mut();
        // SAFETY: `argv` has room for `argc` values (caller contract on info).
        self.check(unsafe {
            sys::napi_get_cb_info(
                self.0,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                &mut data,
            )
        })?;
        let undefined = self.undefined()?;
        for slot in argv.iter_mut().skip(argc) {
            *slot = undefined;
        }
        Ok((argv, data))
    }
}

/// A promise's resolver. Settling consumes it (Node frees it then).
pub(crate) struct Deferred(sys::napi_deferred);

// SAFETY: a deferred is only settled on its JS thread (every settle path goes
// through `Js`, which exists only there); moving the pointer is harmless.
unsafe impl Send for Deferred {}

impl Deferred {
    pub(crate) fn resolve(self, js: Js, value: Value) -> Result<()> {
        // SAFETY: a deferred is settled exactly once (consumed here).
        js.check(unsafe { sys::napi_resolve_deferred(js.0, self.0, value) })
    }

    pub(crate) fn reject(self, js: Js, value: Value) -> Result<()> {
        // SAFETY: as above.
        js.check(unsafe { sys::napi_reject_deferred(js.0, self.0, value) })
    }
}

/// A value a `#[napi]` function hands back as-is.
pub struct Raw(pub(crate) Value);

impl napi::bindgen_prelude::ToNapiValue for Raw {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

/// A JS argument taken as-is (`unknown` in the typings).
pub struct Arg(pub(crate) Value);

impl napi::bindgen_prelude::FromNapiValue for Arg {
    unsafe fn from_napi_value(_env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        Ok(Arg(v))
    }
}

impl napi::bindgen_prelude::TypeName for Arg {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

/// Turn a failure into a thrown JS exception at the `#[napi]` boundary.
///
/// The exception is the error's JS form ([`errors::to_js`]): the original
/// thrown value for callback failures, a `RelayError` subclass otherwise.
pub(crate) fn throw(js: Js, err: RelayError) -> napi::Error {
    let value = errors::to_js(js, &err);
    js.throw(value);
    napi::Error::new(napi::Status::PendingException, err.to_string())
}

/// Run a `#[napi]` body with `js` as the current environment and map its
/// error to a thrown exception.
pub(crate) fn boundary<T>(env: sys::napi_env, f: impl FnOnce(Js) -> Result<T>) -> napi::Result<T> {
    let js = Js(env);
    crate::realm::with_env(js, || f(js).map_err(|e| throw(js, e)))
}
