//! Registering middleware and subscribers, globally or owned by a scope.
//!
//! One register function per callback shape, each taking the target family
//! as a `NEMO_RELAY_FAMILY_*` integer, and one `nemo_relay_deregister` for
//! all families:
//!
//! | function | callback | families |
//! |---|---|---|
//! | `nemo_relay_register_guard` | `NemoRelayGuardFn` | TOOL/LLM_CONDITIONAL_EXECUTION |
//! | `nemo_relay_register_rewrite` | `NemoRelayRewriteFn` | TOOL/LLM_REQUEST_INTERCEPT, TOOL/LLM_SANITIZE_REQUEST, TOOL/LLM_SANITIZE_RESPONSE |
//! | `nemo_relay_register_intercept` | `NemoRelayInterceptFn` | TOOL/LLM_EXECUTION_INTERCEPT |
//! | `nemo_relay_register_stream_intercept` | `NemoRelayStreamInterceptFn` | LLM_STREAM_EXECUTION_INTERCEPT |
//! | `nemo_relay_register_subscriber` | `NemoRelaySubscriberFn` | SUBSCRIBER |
//!
//! Common parameters: `name` (unique within the family at that level),
//! `priority` (lower runs first; for execution intercepts, outermost),
//! `break_chain` (request intercepts only: skip later request intercepts),
//! `owner` (NULL: global; else a scope that owns the registration, which
//! vanishes when the scope pops) and `stack` (where `owner` is looked up;
//! NULL: current stack).
//!
//! Ownership: the library owns `user_data` from the moment the call starts
//! and calls `free_fn(user_data)` exactly once: after deregistration (once
//! no running call or queued event still uses the callback; possibly on
//! another thread), when the owner scope pops, or before the register call
//! returns if it fails for any reason. Callbacks may run on any thread, and
//! may call back into the library: registering, deregistering, flushing or
//! executing calls from inside a callback does not deadlock.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::{Middleware, Registration, Runtime};

use crate::api::constants::FamilyArg;
use crate::bridge::callback::{
    set_pending_failure, NemoRelayGuardFn, NemoRelayInterceptFn, NemoRelayRewriteFn,
    NemoRelayStreamInterceptFn, NemoRelaySubscriberFn,
};
use crate::bridge::families::{
    guard_for, intercept_for, rewrite_for, stream_intercept_for, subscriber_for,
};
use crate::bridge::handles::{handle_arg, stack_arg, NemoRelayScope, NemoRelayStack};
use crate::conventions::args::{callback_arg, enum_arg, opt_str_arg, str_arg};
use crate::conventions::error::FfiResult;
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::user_data::{NemoRelayFreeFn, UserData};

/// Registers a conditional-execution guardrail for `family`
/// (`NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION` or `..._LLM_...`). See
/// the module table for the common parameters.
///
/// Errors: `ALREADY_EXISTS`, `NOT_FOUND` (owner scope not open on the
/// stack), `INVALID_ARGUMENT` (family of another shape, empty name),
/// `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_register_guard(
    family: i32,
    name: *const c_char,
    priority: i32,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    callback: NemoRelayGuardFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let middleware = guard_for(family, cb, user_data, "nemo_relay_register_guard")?;
        unsafe { register(name, priority, false, owner, stack, middleware) }
    })
}

/// Registers a rewrite callback: a request intercept or a sanitize
/// guardrail, per `family`. `break_chain` applies to request intercepts
/// only (`INVALID_ARGUMENT` otherwise).
///
/// Request intercepts change the request the call really gets. Sanitize
/// guardrails only change what the start/end *events* carry; if one fails,
/// the payload is omitted from the event rather than leaked.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_register_rewrite(
    family: i32,
    name: *const c_char,
    priority: i32,
    break_chain: bool,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    callback: NemoRelayRewriteFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let middleware = rewrite_for(
            family,
            break_chain,
            cb,
            user_data,
            "nemo_relay_register_rewrite",
        )?;
        unsafe { register(name, priority, break_chain, owner, stack, middleware) }
    })
}

/// Registers an execution intercept for `family`
/// (`NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT` or `..._LLM_...`).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_register_intercept(
    family: i32,
    name: *const c_char,
    priority: i32,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    callback: NemoRelayInterceptFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let middleware = intercept_for(family, cb, user_data, "nemo_relay_register_intercept")?;
        unsafe { register(name, priority, false, owner, stack, middleware) }
    })
}

/// Registers an LLM stream execution intercept.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_register_stream_intercept(
    name: *const c_char,
    priority: i32,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    callback: NemoRelayStreamInterceptFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let cb = callback_arg(callback, "callback")?;
        let middleware = stream_intercept_for(cb, user_data);
        unsafe { register(name, priority, false, owner, stack, middleware) }
    })
}

/// Gives the message of the failure the running stream execution intercept
/// is about to return. `NemoRelayStreamInterceptFn` has no `char **` slot to
/// carry one: call this on the callback's own thread just before it returns
/// a failure status, and the caller sees "callback failed: <message>" as
/// for any other callback. The text is copied. A message set by a callback
/// that then returns OK is forgotten; a second call replaces the first;
/// NULL clears it.
///
/// Errors: `INVALID_UTF8`.
///
/// # Safety
/// `message` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stream_intercept_set_error(
    message: *const c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let message = unsafe { opt_str_arg(message, "message") }?;
        set_pending_failure(message.map(str::to_owned));
        Ok(())
    })
}

/// Registers an event subscriber. It receives every event emitted after
/// this call (scope-local: every event emitted under `owner`, including
/// `owner`'s own end event) as canonical ATOF JSON, one call per event, in
/// emission order, on the runtime's dispatcher thread. Call
/// `nemo_relay_flush` to wait for delivery.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_register_subscriber(
    name: *const c_char,
    priority: i32,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    callback: NemoRelaySubscriberFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let cb = callback_arg(callback, "callback")?;
        let middleware = subscriber_for(cb, user_data);
        unsafe { register(name, priority, false, owner, stack, middleware) }
    })
}

/// Removes the registration `name` of `family`: global when `owner` is
/// NULL, else the one owned by scope `owner` (looked up on `stack`, NULL:
/// current). Writes whether one was removed to `*out_removed` (which may be
/// NULL). Removing a name that is not registered is not an error.
///
/// A callback may still run after this returns if a call or a queued event
/// already saw it; `free_fn` runs once none does.
///
/// Errors: `INVALID_ARGUMENT` (family), `NOT_FOUND` (owner not open),
/// `NULL_POINTER`, `INVALID_UTF8`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_deregister(
    family: i32,
    name: *const c_char,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    out_removed: *mut bool,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        if let Some(out) = unsafe { out_removed.as_mut() } {
            *out = false;
        }
        let FamilyArg(family) = enum_arg(family, "family")?;
        let name = unsafe { str_arg(name, "name") }?;
        let runtime = Runtime::global();
        let removed = if owner.is_null() {
            runtime.deregister(family, name)
        } else {
            let scope = unsafe { handle_arg(owner, "owner") }?.uuid();
            let stack = unsafe { stack_arg(stack) }?;
            runtime.deregister_local(family, name, scope, stack.as_ref())?
        };
        if let Some(out) = unsafe { out_removed.as_mut() } {
            *out = removed;
        }
        Ok(())
    })
}

/// The shared tail of every register function.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
unsafe fn register(
    name: *const c_char,
    priority: i32,
    break_chain: bool,
    owner: *const NemoRelayScope,
    stack: *const NemoRelayStack,
    middleware: Middleware,
) -> FfiResult<()> {
    // SAFETY (all blocks): forwarded from the exported function's contract.
    let name = unsafe { str_arg(name, "name") }?;
    let mut registration = Registration::new(name, middleware)
        .priority(priority)
        .break_chain(break_chain);
    if !owner.is_null() {
        registration = registration.in_scope(unsafe { handle_arg(owner, "owner") }?);
        if let Some(stack) = unsafe { stack_arg(stack) }? {
            registration = registration.on_stack(&stack);
        }
    }
    Runtime::global().register(registration)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_of_another_shape_is_rejected_and_user_data_released() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FREED: AtomicUsize = AtomicUsize::new(0);
        unsafe extern "C" fn count(_: *mut c_void) {
            FREED.fetch_add(1, Ordering::SeqCst);
        }
        unsafe extern "C" fn never(
            _: *mut c_void,
            _: *const c_char,
            _: *const c_char,
            _: *mut *mut c_char,
        ) -> i32 {
            0
        }
        let status = unsafe {
            nemo_relay_register_guard(
                crate::api::constants::NEMO_RELAY_FAMILY_SUBSCRIBER,
                c"x".as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
                Some(never),
                std::ptr::null_mut(),
                Some(count),
            )
        };
        assert_eq!(status, NemoRelayStatus::InvalidArgument);
        assert_eq!(FREED.load(Ordering::SeqCst), 1);
    }
}
