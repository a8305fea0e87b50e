//! JS middleware as core middleware: one shim per callback shape.
//!
//! The facade registers a small wrapper around each user function; the
//! wrapper is what native code calls. Its contract, per shape:
//!
//! | shape | native calls | wrapper returns (or a Promise of it) |
//! |---|---|---|
//! | guard (conditional execution) | `w(request, ctx)` | `undefined`/`null`/`true` = allow, `false` or a reason string = reject |
//! | rewrite (request intercept, sanitizers) | `w(value, ctx)` | the value to use instead (JSON) |
//! | exec (execution intercept) | `w(request, next, stack, ctx)` | the result (JSON) |
//! | stream exec | `w(request, next, stack, ctx)` | an async iterator of chunks |
//!
//! `ctx` is the facade's `CallContext` object ([`ctx_value`]), `stack` the id
//! of the call's child scope stack (see [`crate::handles::insert`]), in whose
//! async context exec wrappers run and which they release when they settle.
//! LLM requests cross as `{ headers, content }`.

use std::sync::Arc;

use napi::sys::ValueType as T;
use nemo_relay_core::middleware::{ExecFn, GuardFn, RewriteFn};
use nemo_relay_core::{
    CallContext, Family, Json, LlmRequest, Middleware, RelayError, Step, Verdict,
};

use crate::callbacks::{invoke, JsFn};
use crate::calls::direct::Shared;
use crate::convert;
use crate::js::{Js, Result, Value};
use crate::next;

/// The call context as JS sees it: the facade's frozen `CallContext`, made
/// by its `makeCallContext(name, kind, uuid, parentUuid, toolCallId,
/// modelName)` hook. A call started from JS makes it once, for all its
/// stages; other calls (streams, calls from other threads) once per stage.
pub(crate) fn ctx_value(js: Js, ctx: &CallContext) -> Result<Value> {
    match Shared::of(ctx) {
        Some(call) => call.context_js(js, || make_ctx(js, ctx)),
        None => make_ctx(js, ctx),
    }
}

fn make_ctx(js: Js, ctx: &CallContext) -> Result<Value> {
    let make = crate::realm::hook(js, c"makeCallContext")?.ok_or_else(|| {
        RelayError::Internal("the facade did not register makeCallContext".into())
    })?;
    let opt = |s: Option<&str>| match s {
        Some(s) => js.string(s),
        None => js.undefined(),
    };
    let args = [
        js.string(&ctx.name)?,
        js.ascii(ctx.kind.as_str())?,
        js.uuid(&ctx.uuid)?,
        js.uuid(&ctx.parent_uuid)?,
        opt(ctx.tool_call_id.as_deref())?,
        opt(ctx.model_name.as_deref())?,
    ];
    js.call(make, &args)
}

/// How a JS value becomes the core's copy of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// What native stages get: JSON, or an error.
    Strict,
    /// For the record only, never refused ([`convert::recorded`]).
    Recorded,
}

/// How a request type crosses to JS and back.
pub(crate) trait Request: Clone + PartialEq + Send + Sync + 'static {
    fn to_js(&self, js: Js) -> Result<Value>;
    /// `v` (`what` in errors) as the core's copy, and whether the copy is
    /// exact (a recorded copy of what JSON cannot represent is not).
    fn copy(js: Js, v: Value, what: &str, how: Conversion) -> Result<(Self, bool)>;
    /// A stage's answer (or `next()`'s argument), which must be a value,
    /// converted strictly.
    fn from_js(js: Js, v: Value, what: &str) -> Result<Self> {
        check_defined(js, v, what)?;
        Ok(Self::copy(js, v, what, Conversion::Strict)?.0)
    }
    /// What the core carries while the real request is held in JS.
    fn placeholder() -> Self;
    /// A request intercept's JS answer as the next stage gets it, when the
    /// call passes its JS values through: checked (and, for an LLM request,
    /// normalized) as [`Request::from_js`] would, but not converted.
    fn pass_js(js: Js, v: Value, what: &str) -> Result<Value>;
}

/// A rewrite must answer with a value.
fn check_defined(js: Js, v: Value, what: &str) -> Result<()> {
    if js.type_of(v)? == T::napi_undefined {
        return Err(RelayError::invalid(format!(
            "{what} returned undefined; return the (possibly changed) value"
        )));
    }
    Ok(())
}

impl Request for Json {
    fn to_js(&self, js: Js) -> Result<Value> {
        convert::to_js(js, self)
    }
    fn copy(js: Js, v: Value, what: &str, how: Conversion) -> Result<(Self, bool)> {
        match how {
            Conversion::Strict => Ok((convert::to_json(js, v, what)?, true)),
            Conversion::Recorded => convert::recorded_exact(js, v, what),
        }
    }
    fn placeholder() -> Self {
        Json::Null
    }
    fn pass_js(js: Js, v: Value, what: &str) -> Result<Value> {
        check_defined(js, v, what)?;
        Ok(v)
    }
}

impl Request for LlmRequest {
    fn to_js(&self, js: Js) -> Result<Value> {
        let obj = js.object()?;
        js.set_named(
            obj,
            c"headers",
            convert::to_js(js, &Json::Object(self.headers.clone()))?,
        )?;
        js.set_named(obj, c"content", convert::to_js(js, &self.content)?)?;
        Ok(obj)
    }
    fn copy(js: Js, v: Value, what: &str, how: Conversion) -> Result<(Self, bool)> {
        let (json, exact) = Json::copy(js, v, what, how)?;
        Ok((llm_request(json, what)?, exact))
    }
    fn placeholder() -> Self {
        LlmRequest::default()
    }
    /// The facade's `llmRequestView(request, what)` hook: the same checks
    /// as [`LlmRequest::from_json`], and `{ headers, content }` with the
    /// caller's own values (headers `{}` when absent), which is the shape a
    /// provider gets in every mode.
    fn pass_js(js: Js, v: Value, what: &str) -> Result<Value> {
        let view = crate::realm::hook(js, c"llmRequestView")?.ok_or_else(|| {
            RelayError::Internal("the facade did not register llmRequestView".into())
        })?;
        js.call(view, &[v, js.string(what)?])
    }
}

/// An LLM request of the JSON `json`, checked for its shape.
fn llm_request(json: Json, what: &str) -> Result<LlmRequest> {
    LlmRequest::from_json(json).map_err(|e| match e {
        // Its own message, not its display ("invalid argument: …" twice
        // over otherwise).
        RelayError::InvalidArgument(m) => RelayError::invalid(format!("{what}: {m}")),
        other => other,
    })
}

fn verdict(js: Js, v: Value, guardrail: &str) -> Result<Verdict> {
    match js.type_of(v)? {
        T::napi_undefined | T::napi_null => Ok(Verdict::Allow),
        T::napi_boolean if js.to_bool(v)? => Ok(Verdict::Allow),
        T::napi_boolean => Ok(Verdict::Reject(format!(
            "rejected by guardrail '{guardrail}'"
        ))),
        T::napi_string => Ok(Verdict::Reject(js.to_string(v)?)),
        _ => Err(RelayError::invalid(format!(
            "conditional guardrail '{guardrail}' must return nothing, a boolean or a reason string"
        ))),
    }
}

/// The request a JS stage gets: in a through-mode call the JS value the
/// call holds (`req` is a placeholder), else `req` converted.
fn request_js<R: Request>(js: Js, ctx: &CallContext, req: &R) -> Result<Value> {
    match Shared::of(ctx) {
        Some(call) => call.request_js(js, req),
        None => req.to_js(js),
    }
}

/// A converted copy of `value`, whatever the call holds: what sanitizers
/// rewrite.
fn copy_js<R: Request>(js: Js, _: &CallContext, value: &R) -> Result<Value> {
    value.to_js(js)
}

/// Call the stage wrapper `f(input, ctx)`: `input` makes its first
/// argument from `value`, here or, posted, on `f`'s JS thread.
fn call_stage<V: Clone + Send + 'static, T: Send + 'static>(
    f: &JsFn,
    ctx: &CallContext,
    value: &V,
    input: fn(Js, &CallContext, &V) -> Result<Value>,
    parse: impl FnOnce(Js, Value) -> Result<T> + Send + 'static,
) -> Step<nemo_relay_core::Result<T>> {
    invoke(
        f,
        |js| Ok([input(js, ctx, value)?, ctx_value(js, ctx)?]),
        || {
            let (value, ctx) = (value.clone(), ctx.clone());
            Box::new(move |js| Ok([input(js, &ctx, &value)?, ctx_value(js, &ctx)?]))
        },
        parse,
    )
}

fn guard<R: Request>(f: JsFn, name: Arc<str>) -> GuardFn<R> {
    Arc::new(move |ctx: &CallContext, req: &R| {
        let name = name.clone();
        call_stage(&f, ctx, req, request_js, move |js, v| verdict(js, v, &name))
    })
}

/// A request intercept: in a through-mode call its JS answer becomes the
/// call's request as it is, and the core keeps its placeholder (in a
/// mirrored call, a JSON copy).
fn intercept<R: Request>(f: JsFn, what: String) -> RewriteFn<R> {
    Arc::new(move |ctx: &CallContext, req: R| {
        let what = what.clone();
        let through = ctx.extension.clone();
        call_stage(&f, ctx, &req, request_js, move |js, v| {
            let call = through.as_ref().and_then(Shared::in_extension);
            match call.filter(|c| c.passes_request()) {
                Some(call) if call.mirrors_request() => {
                    // The copy is made from what the next stage gets, so the
                    // answer is read once (a getter or toJSON that changes
                    // between reads cannot make the two differ).
                    let passed = R::pass_js(js, v, &what)?;
                    let (copy, exact) = R::copy(js, passed, &what, Conversion::Recorded)?;
                    call.set_request(js, passed, exact)?;
                    Ok(copy)
                }
                Some(call) => {
                    call.set_request(js, R::pass_js(js, v, &what)?, false)?;
                    Ok(R::placeholder())
                }
                None => R::from_js(js, v, &what),
            }
        })
    })
}

/// A sanitizer: rewrites a copy for an event, made from the JSON the core
/// carries (never in a through-mode call, which has no subscriber).
fn rewrite<R: Request>(f: JsFn, what: String) -> RewriteFn<R> {
    Arc::new(move |ctx: &CallContext, value: R| {
        let what = what.clone();
        call_stage(&f, ctx, &value, copy_js, move |js, v| {
            R::from_js(js, v, &what)
        })
    })
}

fn exec<R: Request>(f: JsFn, what: String) -> ExecFn<R, Json> {
    Arc::new(move |ctx: &CallContext, req: R, next| {
        next::invoke_exec(&f, ctx, req, next, crate::callbacks::json(what.clone()))
    })
}

/// The core middleware for `family`, calling the facade wrapper `f`.
pub(crate) fn build(family: Family, name: &str, f: JsFn) -> Result<Middleware> {
    let label = |kind: &str| format!("{kind} '{name}'");
    Ok(match family {
        Family::ToolConditionalExecution => {
            Middleware::ToolConditionalExecution(guard(f, Arc::from(name)))
        }
        Family::ToolRequestIntercept => {
            Middleware::ToolRequestIntercept(intercept(f, label("tool request intercept")))
        }
        Family::ToolSanitizeRequest => {
            Middleware::ToolSanitizeRequest(rewrite(f, label("tool sanitize-request guardrail")))
        }
        Family::ToolSanitizeResponse => {
            Middleware::ToolSanitizeResponse(rewrite(f, label("tool sanitize-response guardrail")))
        }
        Family::ToolExecutionIntercept => {
            Middleware::ToolExecutionIntercept(exec(f, label("tool execution intercept")))
        }
        Family::LlmConditionalExecution => {
            Middleware::LlmConditionalExecution(guard(f, Arc::from(name)))
        }
        Family::LlmRequestIntercept => {
            Middleware::LlmRequestIntercept(intercept(f, label("LLM request intercept")))
        }
        Family::LlmSanitizeRequest => {
            Middleware::LlmSanitizeRequest(rewrite(f, label("LLM sanitize-request guardrail")))
        }
        Family::LlmSanitizeResponse => {
            Middleware::LlmSanitizeResponse(rewrite(f, label("LLM sanitize-response guardrail")))
        }
        Family::LlmExecutionIntercept => {
            Middleware::LlmExecutionIntercept(exec(f, label("LLM execution intercept")))
        }
        Family::LlmStreamExecutionIntercept => Middleware::LlmStreamExecutionIntercept(
            crate::streams::stream_exec(f, label("LLM stream execution intercept")),
        ),
        Family::Subscriber => {
            return Err(RelayError::invalid(
                "subscribers are registered with subscribe(), not register()",
            ))
        }
    })
}
