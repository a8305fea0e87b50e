//! JS plugin kinds: a core [`FnPluginKind`] whose hooks are JS functions.
//!
//! Both hooks are synchronous and run on the JS thread that registered the
//! kind, inside the `pluginsValidate` / `pluginsInitialize` call that needs
//! them (the core calls kind hooks on the caller's thread), so they are
//! called directly; there is no thread hop to wait for.
//!
//! * **validate.** `ConfigCheck` borrows the document, so instead of lending
//!   it to JS the facade's check object *records* what the hook asks for
//!   (`error`, `warn`, `unsupported`, `knownFields`, …) as a JSON list of
//!   operations, which is replayed onto the real check here. The policy
//!   (unknown fields, unsupported values) is applied by the core during the
//!   replay, exactly as for Rust kinds.
//! * **register.** Registrations need JS functions, which JSON cannot carry,
//!   so the component's [`PluginContext`] is *lent*: while the hook runs, a
//!   thread-local points at it and the `pluginContext*` functions below
//!   forward to it. After the hook returns the pointer is gone and a stray
//!   call fails cleanly instead of touching a dead context. Everything goes
//!   through the context, so names are qualified per component and the
//!   whole activation commits or rolls back as one.

use std::cell::Cell;
use std::sync::Arc;

use napi_derive::napi;
use nemo_relay_core::plugin::{ConfigCheck, FnPluginKind, PluginContext};
use nemo_relay_core::{Family, Json, Registration, RelayError};

use crate::convert;
use crate::js::{boundary, Arg, Js, Result, Value};
use crate::js_ref::JsRef;

thread_local! {
    /// The context lent to the register hook running on this thread.
    static LENT: Cell<*mut PluginContext> = const { Cell::new(std::ptr::null_mut()) };
}

/// Run `f` with `ctx` lent to the `pluginContext*` functions.
fn lend<R>(ctx: &mut PluginContext, f: impl FnOnce() -> R) -> R {
    struct Restore(*mut PluginContext);
    impl Drop for Restore {
        fn drop(&mut self) {
            LENT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LENT.with(|l| l.replace(ctx as *mut PluginContext)));
    f()
}

/// `f` applied to the lent context, or an error outside a register hook.
fn with_lent<R>(f: impl FnOnce(&mut PluginContext) -> Result<R>) -> Result<R> {
    let ptr = LENT.with(Cell::get);
    if ptr.is_null() {
        return Err(RelayError::invalid(
            "this plugin context has ended: use it only while the register hook runs",
        ));
    }
    // SAFETY: `ptr` was set by `lend` from a `&mut PluginContext` that
    // outlives the hook call, is not used by its owner while the hook runs,
    // and is cleared before `lend` returns. Only this thread sees it, and
    // nothing below re-enters JS while the borrow is alive.
    f(unsafe { &mut *ptr })
}

fn wrong_thread(kind: &str, hook: &str) -> String {
    format!(
        "plugin kind '{kind}' is written in JavaScript: its {hook} hook runs only when \
         the JS thread that registered it validates or initializes"
    )
}

/// A kind whose hooks call the facade wrappers `validate(config) → ops`
/// and `register(config, kind, instance)`.
pub(crate) fn js_kind(
    js: Js,
    kind: String,
    validate: Value,
    register: Value,
) -> Result<FnPluginKind> {
    let validate = Arc::new(JsRef::new(js, validate)?);
    let register = Arc::new(JsRef::new(js, register)?);
    let (k1, k2) = (kind.clone(), kind.clone());
    Ok(FnPluginKind::new(
        kind,
        move |check: &mut ConfigCheck<'_>| {
            let Some(js) = validate.realm().current_js() else {
                check.error("", "plugin.validator_failed", wrong_thread(&k1, "validate"));
                return;
            };
            let ops = (|| {
                let f = validate.value(js)?;
                let out = js.call(f, &[convert::to_js(js, check.config())?])?;
                convert::to_json(js, out, "the validate hook's report")
            })();
            match ops {
                Ok(ops) => replay(check, &ops, &k1),
                Err(e) => check.error(
                    "",
                    "plugin.validator_failed",
                    format!("the validator of kind '{k1}' failed: {e}"),
                ),
            }
        },
        move |config: &Json, ctx: &mut PluginContext| {
            let Some(js) = register.realm().current_js() else {
                return Err(RelayError::invalid(wrong_thread(&k2, "register")));
            };
            let f = register.value(js)?;
            let args = [
                convert::to_js(js, config)?,
                js.string(ctx.kind())?,
                js.number(ctx.instance() as f64)?,
            ];
            lend(ctx, || js.call(f, &args)).map(|_| ())
        },
    ))
}

/// Apply the operations the facade's check object recorded, in order.
fn replay(check: &mut ConfigCheck<'_>, ops: &Json, kind: &str) {
    let Some(ops) = ops.as_array() else { return };
    for op in ops {
        let s = |i: usize| op.get(i).and_then(Json::as_str).unwrap_or_default();
        match s(0) {
            "error" => check.error(s(1), s(2), s(3)),
            "warn" => check.warn(s(1), s(2), s(3)),
            "unsupported" => check.unsupported(s(1), s(2)),
            "unknown_field" => check.unknown_field(s(1)),
            "require" => {
                check.require(s(1), s(2));
            }
            "known_fields" => {
                let known: Vec<&str> = op
                    .get(2)
                    .and_then(Json::as_array)
                    .map(|a| a.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                check.known_fields(s(1), &known);
            }
            other => check.error(
                "",
                "plugin.validator_failed",
                format!("the validator of kind '{kind}' reported an unknown operation '{other}'"),
            ),
        }
    }
}

/// Options of a registration made through a plugin context.
#[napi(object, object_to_js = false)]
pub struct PluginRegisterOptions {
    /// Lower runs first (default 0).
    pub priority: Option<i32>,
    /// Request intercepts: skip later request intercepts (default false).
    pub break_chain: Option<bool>,
}

fn options(reg: Registration, o: Option<PluginRegisterOptions>) -> Registration {
    match o {
        None => reg,
        Some(o) => reg
            .priority(o.priority.unwrap_or(0))
            .break_chain(o.break_chain.unwrap_or(false)),
    }
}

/// Register the facade wrapper `callback` as middleware of `family` under
/// the local `name`, through the lent context. Errors:
/// `ERR_RELAY_ALREADY_EXISTS` when this component used the name already.
#[napi(
    ts_args_type = "family: string, name: string, callback: (...args: any[]) => unknown, options?: PluginRegisterOptions | undefined | null"
)]
pub fn plugin_context_register(
    env: napi::Env,
    family: String,
    name: String,
    callback: Arg,
    opts: Option<PluginRegisterOptions>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let family = Family::parse(&family)?;
        with_lent(|ctx| {
            // The guardrail label names the registration as the runtime does.
            let qualified = ctx.qualify(&name);
            let f = Arc::new(JsRef::new(js, callback.0)?);
            let mw = crate::middleware::build(family, &qualified, f)?;
            let origin = crate::realm::Realm::of(js)?.origin();
            ctx.register_with(options(Registration::new(name, mw).origin(origin), opts))
        })
    })
}

/// Register subscriber `name` (`deliver(batchText)` receives each batch, as
/// for `subscribe`)
/// through the lent context.
#[napi(
    ts_args_type = "name: string, deliver: (batch: string) => void, options?: PluginRegisterOptions | undefined | null"
)]
pub fn plugin_context_subscribe(
    env: napi::Env,
    name: String,
    deliver: Arg,
    opts: Option<PluginRegisterOptions>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        with_lent(|ctx| {
            let mw = crate::subscribers::js_subscriber(js, deliver.0)?;
            // Tagged like middleware, so it goes when its realm does.
            let origin = crate::realm::Realm::of(js)?.origin();
            ctx.register_with(options(Registration::new(name, mw).origin(origin), opts))
        })
    })
}

/// Run `teardown()` when the activation is cleared or replaced (or
/// discarded because it failed).
#[napi(ts_args_type = "teardown: () => void")]
pub fn plugin_context_on_teardown(env: napi::Env, teardown: Arg) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let f = JsRef::new(js, teardown.0)?;
        with_lent(|ctx| {
            ctx.on_teardown(move || {
                let realm = f.realm().clone();
                // Teardowns run inside `clear`/`initialize` on the JS thread
                // (then directly); from elsewhere they are queued.
                realm.run_or_post(Box::new(move |js| {
                    if let Ok(v) = f.value(js) {
                        // The facade reports errors; nothing is left to tell here.
                        let _ = js.call(v, &[]);
                    }
                }));
            });
            Ok(())
        })
    })
}

/// The runtime-visible name of local registration name `local`.
#[napi]
pub fn plugin_context_qualify(env: napi::Env, local: String) -> napi::Result<String> {
    boundary(env.raw(), |_| with_lent(|ctx| Ok(ctx.qualify(&local))))
}
