//! The hottest entry points as raw Node-API functions.
//!
//! A `#[napi]` function pays napi-rs's per-call machinery before its body
//! runs: argument conversion through its type registry and, since napi-rs
//! 3.16, a "native borrow scope" (thread-local bookkeeping and a guard) that
//! together cost about as much as pushing and popping a scope in the core.
//! For the calls an agent makes by the hundred thousand — opening and
//! closing scopes, emitting marks, managed tool calls without options and
//! the release of their short-lived stack ids — the facade uses the
//! functions here instead: plain `extern "C"` callbacks that read their
//! arguments with [`Js::callback_args`] and run the same bodies as their
//! `#[napi]` twins in [`crate::scopes`] and [`crate::calls`], which stay for
//! the forms with options. (The facade checks names before either is
//! called; an argument of the wrong type gets an `InvalidArgumentError`
//! here, napi-rs's conversion error there.)

use std::ptr;

use napi::sys;
use napi_derive::napi;
use nemo_relay_core::{MarkOptions, PopOptions, Runtime, ScopeOptions, ScopeType};

use crate::convert;
use crate::handles;
use crate::js::{self, boundary, Js, Raw, Result, Value};
use crate::realm::with_env;

/// Run a raw entry's body: errors become the thrown JS exception, as at a
/// `#[napi]` boundary.
///
/// # Safety
/// `env` and `info` must be those of the current native callback.
unsafe fn entry<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(Js, [Value; N]) -> Result<Value>,
) -> sys::napi_value {
    let js = Js(env);
    let out = with_env(js, || {
        // SAFETY: per this function's contract.
        let (args, _) = unsafe { js.callback_args::<N>(info) }?;
        body(js, args)
    });
    match out {
        Ok(v) => v,
        Err(e) => {
            let _ = js::throw(js, e);
            ptr::null_mut()
        }
    }
}

/// `pushScope(stack, name)`: open a `function` scope, return its id.
unsafe extern "C" fn push_scope(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API as a native callback.
    unsafe {
        entry::<2>(env, info, |js, [stack, name]| {
            let opts = ScopeOptions {
                stack: Some(handles::stack(js, stack)?),
                ..Default::default()
            };
            let handle = js.with_str(name, |name| {
                Runtime::global().push_scope(name, ScopeType::Function, opts)
            })??;
            handles::insert_scope(js, handle)
        })
    }
}

/// `popScope(stack, handle)`: close the scope, return its uuid.
unsafe extern "C" fn pop_scope(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API as a native callback.
    unsafe {
        entry::<2>(env, info, |js, [stack, handle_arg]| {
            let handle = handles::scope(js, handle_arg)?;
            let opts = PopOptions {
                stack: Some(handles::stack(js, stack)?),
                ..Default::default()
            };
            Runtime::global().pop_scope(&handle, opts)?;
            handles::popped(js, handle_arg, &handle)?;
            js.uuid(&handle.uuid())
        })
    }
}

/// `mark(stack, name, dataJson?)`: a mark whose data, if any, is JSON text
/// made by the facade.
unsafe extern "C" fn mark(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: called by Node-API as a native callback.
    unsafe {
        entry::<3>(env, info, |js, [stack, name, data]| {
            let rt = Runtime::global();
            if rt.has_listeners() {
                let data = match js.type_of(data)? {
                    sys::ValueType::napi_undefined => None,
                    _ => Some(convert::from_text(js, data, "mark data")?),
                };
                let opts = MarkOptions {
                    stack: Some(handles::stack(js, stack)?),
                    data,
                    ..Default::default()
                };
                js.with_str(name, |name| rt.mark(name, opts))??;
            }
            js.undefined()
        })
    }
}

/// `toolCall(name, args, tool, stack)`: a managed tool call without options
/// (the result, or a Promise of it), as [`crate::calls::tool_call`].
unsafe extern "C" fn tool_call(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API as a native callback.
    unsafe {
        entry::<4>(env, info, |js, [name, args, tool, stack]| {
            if js.type_of(name)? != sys::ValueType::napi_string {
                return Err(nemo_relay_core::RelayError::invalid(
                    "call name must be a string",
                ));
            }
            let name = js.to_string(name)?;
            let opts = crate::calls::call_options(js, stack, None)?;
            crate::calls::run_tool_call(js, name, args, tool, opts, None)
        })
    }
}

/// `releaseHandle(id)`: release a short-lived handle (see
/// [`handles::insert`]) the facade is done with.
unsafe extern "C" fn release_handle(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: called by Node-API as a native callback.
    unsafe {
        entry::<1>(env, info, |js, [id]| {
            handles::release(js, id)?;
            js.undefined()
        })
    }
}

/// The raw entries, for the facade: `{ pushScope, popScope, mark, toolCall,
/// releaseHandle }`.
#[napi(
    ts_return_type = "{ pushScope(stack: number | ExternalObject<'ScopeStack'>, name: string): number; popScope(stack: number | ExternalObject<'ScopeStack'>, handle: number | ExternalObject<'ScopeHandle'>): string; mark(stack: number | ExternalObject<'ScopeStack'>, name: string, dataJson?: string): void; toolCall(name: string, args: unknown, tool: (args: unknown, stack: number) => unknown, stack: number | ExternalObject<'ScopeStack'>): unknown; releaseHandle(id: number): void }"
)]
pub fn fast_entries(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let obj = js.object()?;
        let entries: [(&std::ffi::CStr, sys::napi_callback); 5] = [
            (c"pushScope", Some(push_scope)),
            (c"popScope", Some(pop_scope)),
            (c"mark", Some(mark)),
            (c"toolCall", Some(tool_call)),
            (c"releaseHandle", Some(release_handle)),
        ];
        for (name, cb) in entries {
            let f = js.function(name, cb, ptr::null_mut(), None)?;
            js.set_named(obj, name, f)?;
        }
        Ok(Raw(obj))
    })
}
