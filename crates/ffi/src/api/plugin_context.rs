//! Registering a plugin component's behaviour from its register hook.
//!
//! The `nemo_relay_plugin_context_register_*` functions mirror the global
//! `nemo_relay_register_*` ones: the same callback typedefs, the same
//! families per shape, the same `user_data` + `free_fn` rule. Differences:
//!
//! * `name` is local to the component; the runtime sees it qualified as
//!   `"<kind>#<n>/<name>"` (`n` counts enabled components of the kind from
//!   1), so two components of one kind never collide. The same local name
//!   twice in one family is `ALREADY_EXISTS`.
//! * Nothing is installed while the hook runs: registrations are recorded
//!   and installed together with the whole activation, or not at all. Their
//!   `free_fn`s run when the activation is cleared or replaced, or when it
//!   fails.
//! * Plugins register globally (no `owner` scope).
//!
//! `ctx` is valid only during the register hook that received it; later use
//! is `INVALID_STATE`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::plugin::PluginContext;
use nemo_relay_core::{Middleware, Registration};

use crate::api::constants::FamilyArg;
use crate::bridge::callback::{
    NemoRelayGuardFn, NemoRelayInterceptFn, NemoRelayRewriteFn, NemoRelayStreamInterceptFn,
    NemoRelaySubscriberFn,
};
use crate::bridge::families::{
    guard_for, intercept_for, rewrite_for, stream_intercept_for, subscriber_for,
};
use crate::bridge::lent::with_lent;
use crate::bridge::plugin_kind::NemoRelayPluginContext;
use crate::conventions::args::{callback_arg, enum_arg, out_slot, str_arg};
use crate::conventions::error::FfiResult;
use crate::conventions::status::NemoRelayStatus;
use crate::conventions::strings::alloc_c_string;
use crate::conventions::user_data::{NemoRelayFreeFn, UserData};

/// Records a conditional-execution guardrail of the component (see the
/// module docs; parameters as `nemo_relay_register_guard`).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_register_guard(
    ctx: *mut NemoRelayPluginContext,
    family: i32,
    name: *const c_char,
    priority: i32,
    callback: NemoRelayGuardFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let function = "nemo_relay_plugin_context_register_guard";
        let middleware = guard_for(family, cb, Arc::clone(&user_data), function)?;
        unsafe { record(ctx, name, priority, false, middleware, user_data) }
    })
}

/// Records a request intercept or sanitize guardrail of the component
/// (parameters as `nemo_relay_register_rewrite`).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_register_rewrite(
    ctx: *mut NemoRelayPluginContext,
    family: i32,
    name: *const c_char,
    priority: i32,
    break_chain: bool,
    callback: NemoRelayRewriteFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let function = "nemo_relay_plugin_context_register_rewrite";
        let middleware = rewrite_for(family, break_chain, cb, Arc::clone(&user_data), function)?;
        unsafe { record(ctx, name, priority, break_chain, middleware, user_data) }
    })
}

/// Records an execution intercept of the component (parameters as
/// `nemo_relay_register_intercept`).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_register_intercept(
    ctx: *mut NemoRelayPluginContext,
    family: i32,
    name: *const c_char,
    priority: i32,
    callback: NemoRelayInterceptFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let FamilyArg(family) = enum_arg(family, "family")?;
        let cb = callback_arg(callback, "callback")?;
        let function = "nemo_relay_plugin_context_register_intercept";
        let middleware = intercept_for(family, cb, Arc::clone(&user_data), function)?;
        unsafe { record(ctx, name, priority, false, middleware, user_data) }
    })
}

/// Records an LLM stream execution intercept of the component.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_register_stream_intercept(
    ctx: *mut NemoRelayPluginContext,
    name: *const c_char,
    priority: i32,
    callback: NemoRelayStreamInterceptFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let cb = callback_arg(callback, "callback")?;
        let middleware = stream_intercept_for(cb, Arc::clone(&user_data));
        unsafe { record(ctx, name, priority, false, middleware, user_data) }
    })
}

/// Records an event subscriber of the component.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_register_subscriber(
    ctx: *mut NemoRelayPluginContext,
    name: *const c_char,
    priority: i32,
    callback: NemoRelaySubscriberFn,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): pointers are valid per the function contract.
        let user_data = Arc::new(unsafe { UserData::adopt(user_data, free_fn) });
        let cb = callback_arg(callback, "callback")?;
        let middleware = subscriber_for(cb, Arc::clone(&user_data));
        unsafe { record(ctx, name, priority, false, middleware, user_data) }
    })
}

/// Asks for `free_fn(user_data)` when the component's activation ends:
/// cleared, replaced by another one, or discarded because activating it
/// failed. The place to release what the component holds (a connection,
/// a file). Runs exactly once, also when this call fails.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_on_teardown(
    ctx: *mut NemoRelayPluginContext,
    user_data: *mut c_void,
    free_fn: NemoRelayFreeFn,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let user_data = unsafe { UserData::adopt(user_data, free_fn) };
        with_context(ctx, |ctx| {
            ctx.on_teardown(move || drop(user_data));
            Ok(())
        })
    })
}

/// Writes the runtime-visible name of local registration name `local`
/// (`"<kind>#<n>/<local>"`) to `*out_name`, e.g. to deregister it later or
/// to recognise it in `nemo_relay_registrations`.
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_plugin_context_qualify(
    ctx: *mut NemoRelayPluginContext,
    local: *const c_char,
    out_name: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY (all blocks): per the function contract.
        let out = unsafe { out_slot(out_name, "out_name") }?;
        let local = unsafe { str_arg(local, "local") }?;
        let name = with_context(ctx, |ctx| Ok(ctx.qualify(local)))?;
        out.write(alloc_c_string(name.as_bytes())?);
        Ok(())
    })
}

/// The shared tail of the register functions.
///
/// `keep` is one more reference to the registration's `user_data`: when the
/// context refuses the registration, the registration is dropped while the
/// lent handle is locked, and holding `keep` until after that moves the
/// `free_fn` call outside the lock (a `free_fn` may call the library).
///
/// # Safety
/// Pointers are NULL or valid as documented in the header conventions.
unsafe fn record(
    ctx: *mut NemoRelayPluginContext,
    name: *const c_char,
    priority: i32,
    break_chain: bool,
    middleware: Middleware,
    keep: Arc<UserData>,
) -> FfiResult<()> {
    // SAFETY: forwarded from the exported function's contract.
    let name = unsafe { str_arg(name, "name") }?;
    let registration = Registration::new(name, middleware)
        .priority(priority)
        .break_chain(break_chain);
    let result = with_context(ctx, |ctx| Ok(ctx.register_with(registration)?));
    drop(keep);
    result
}

fn with_context<R>(
    ctx: *mut NemoRelayPluginContext,
    f: impl FnOnce(&mut PluginContext) -> FfiResult<R>,
) -> FfiResult<R> {
    with_lent(ctx.cast_const(), "ctx", |target| {
        // SAFETY: the loan is open, so `target` is the `PluginContext` the
        // running register hook was lent, and the table lock gives this
        // call exclusive use of it.
        f(unsafe { &mut *target.cast::<PluginContext>() })
    })
}
