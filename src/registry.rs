//! Registering and deregistering middleware, globally or scope-locally.
//!
//! One generic entry point for every family (the family is a wire name such
//! as `"tool_conditional_execution"`), mirroring the core's single generic
//! registry. A registration with `scope` belongs to that open scope and
//! vanishes when it is popped.

use std::sync::Arc;

use napi_derive::napi;
use nemo_relay_core::{Family, Middleware, Registration, Runtime};

use crate::handles;
use crate::js::{boundary, Arg, Js, Result};
use crate::js_ref::JsRef;
use crate::middleware;

/// Options of `register` and `subscribe`.
#[napi(object, object_to_js = false)]
pub struct RegisterOptions {
    /// Lower runs first (default 0; negative allowed).
    pub priority: Option<i32>,
    /// Request intercepts: skip later request intercepts (default false).
    pub break_chain: Option<bool>,
    /// Owning scope: the registration is removed when it is popped.
    #[napi(ts_type = "number | ExternalObject<'ScopeHandle'>")]
    pub scope: Option<Arg>,
    /// Stack the owning scope is open on.
    #[napi(ts_type = "number | ExternalObject<'ScopeStack'>")]
    pub stack: Option<Arg>,
}

pub(crate) fn registration(
    js: Js,
    name: String,
    mw: Middleware,
    o: Option<RegisterOptions>,
) -> Result<Registration> {
    // Tagged as this realm's own: calls whose every middleware is can pass
    // JS values through (see `crate::calls`).
    let mut reg = Registration::new(name, mw).origin(crate::realm::Realm::of(js)?.origin());
    if let Some(o) = o {
        reg = reg
            .priority(o.priority.unwrap_or(0))
            .break_chain(o.break_chain.unwrap_or(false));
        if let Some(scope) = o.scope {
            reg = reg.in_scope(&handles::scope(js, scope.0)?);
        }
        if let Some(stack) = o.stack {
            reg = reg.on_stack(&handles::stack(js, stack.0)?);
        }
    }
    Ok(reg)
}

/// Register the facade wrapper `callback` as middleware of `family`.
/// Errors: `ERR_RELAY_ALREADY_EXISTS` for a duplicate name,
/// `ERR_RELAY_NOT_FOUND` when the owning scope is not open.
#[napi(
    ts_args_type = "family: string, name: string, callback: (...args: any[]) => unknown, options?: RegisterOptions | undefined | null"
)]
pub fn register(
    env: napi::Env,
    family: String,
    name: String,
    callback: Arg,
    options: Option<RegisterOptions>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let family = Family::parse(&family)?;
        let f = Arc::new(JsRef::new(js, callback.0)?);
        let mw = middleware::build(family, &name, f)?;
        Runtime::global().register(registration(js, name, mw, options)?)
    })
}

/// Options of `deregister`.
#[napi(object, object_to_js = false)]
pub struct DeregisterOptions {
    /// Owning scope of a scope-local registration.
    #[napi(ts_type = "number | ExternalObject<'ScopeHandle'>")]
    pub scope: Option<Arg>,
    /// Stack the owning scope is open on.
    #[napi(ts_type = "number | ExternalObject<'ScopeStack'>")]
    pub stack: Option<Arg>,
}

/// Remove a registration; `false` if there was none by that name.
#[napi(
    ts_args_type = "family: string, name: string, options?: DeregisterOptions | undefined | null"
)]
pub fn deregister(
    env: napi::Env,
    family: String,
    name: String,
    options: Option<DeregisterOptions>,
) -> napi::Result<bool> {
    boundary(env.raw(), |js| {
        let family = Family::parse(&family)?;
        let rt = Runtime::global();
        match options.and_then(|o| o.scope.map(|s| (s, o.stack))) {
            None => Ok(rt.deregister(family, &name)),
            Some((scope, stack)) => {
                let scope = handles::scope(js, scope.0)?;
                let stack = stack.map(|s| handles::stack(js, s.0)).transpose()?;
                rt.deregister_local(family, &name, scope.uuid(), stack.as_ref())
            }
        }
    })
}

/// Names of the global registrations of `family`, in run order.
#[napi]
pub fn registrations(env: napi::Env, family: String) -> napi::Result<Vec<String>> {
    boundary(env.raw(), |_| {
        let family = Family::parse(&family)?;
        Ok(Runtime::global()
            .registrations(family)
            .iter()
            .map(|n| n.to_string())
            .collect())
    })
}
