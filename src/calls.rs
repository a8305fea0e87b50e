//! Managed and manual tool and LLM calls.
//!
//! Managed calls run the whole pipeline (guardrails, intercepts, events, the
//! callback) through [`driver::run`]: when every JS stage returns a plain
//! value, the native function returns the result itself, synchronously; when
//! a stage returns a Promise, it returns a Promise. The facade adopts either
//! with `Promise.resolve`, so JS callers always `await`.
//!
//! The callback is the facade's wrapper `(request, stack) => …`; `stack` is
//! the call's child scope stack, which the facade makes current (through
//! `AsyncLocalStorage`) while the user's function runs, so scopes, marks and
//! nested calls made inside a tool are parented to that tool.

use napi_derive::napi;
use nemo_relay_core::registry::Entry;
use nemo_relay_core::{
    Attributes, CallKind, CallSnapshot, EndOptions, Json, LlmRequest, Origin, RelayError, Runtime,
    ScopeHandle, Uuid,
};

use crate::convert;
use crate::driver::{self, IntoJs};
use crate::handles::{self, Native};
use crate::js::{boundary, Arg, Js, Raw, Result, Value};
use crate::middleware::Request;

pub(crate) mod direct;

pub(crate) use direct::Mode;

/// Options of a managed or manual call, as the facade passes them.
#[napi(object, object_to_js = false)]
pub struct CallOptions {
    /// Explicit parent scope uuid (default: the stack's top scope).
    pub parent: Option<String>,
    /// Attribute names (`"remote"`, `"stateful"`, …). Default none.
    pub attributes: Option<Vec<String>>,
    /// Application data (JSON); the end payload when the call fails.
    #[napi(ts_type = "unknown")]
    pub data: Option<Arg>,
    /// Metadata (a JSON object) emitted on start and merged into the end event.
    #[napi(ts_type = "unknown")]
    pub metadata: Option<Arg>,
    /// Tool calls: the model's tool call id.
    pub tool_call_id: Option<String>,
    /// LLM calls: the model name.
    pub model_name: Option<String>,
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| RelayError::invalid(format!("'{s}' is not a UUID")))
}

pub(crate) fn attributes(names: Option<&[String]>) -> Result<Attributes> {
    let mut a = Attributes::NONE;
    for n in names.unwrap_or_default() {
        a = a | Attributes::from_name(n)?;
    }
    Ok(a)
}

/// Core call options from the facade's stack and options.
pub(crate) fn call_options(
    js: Js,
    stack: Value,
    o: Option<CallOptions>,
) -> Result<nemo_relay_core::CallOptions> {
    let stack = handles::opt_stack(js, stack)?;
    let Some(o) = o else {
        return Ok(nemo_relay_core::CallOptions {
            stack,
            ..Default::default()
        });
    };
    Ok(nemo_relay_core::CallOptions {
        stack,
        parent: o.parent.as_deref().map(parse_uuid).transpose()?,
        attributes: attributes(o.attributes.as_deref())?,
        data: o
            .data
            .map(|d| convert::optional(js, d.0, "call data"))
            .transpose()?
            .flatten(),
        metadata: o
            .metadata
            .map(|m| convert::optional(js, m.0, "call metadata"))
            .transpose()?
            .flatten(),
        tool_call_id: o.tool_call_id,
        model_name: o.model_name,
        ..Default::default()
    })
}

/// Run a managed tool call: the result, or a Promise of it.
#[napi(
    ts_args_type = "name: string, args: unknown, tool: (args: unknown, stack: number) => unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: CallOptions | undefined | null, tokenOut?: object | undefined | null",
    ts_return_type = "unknown"
)]
pub fn tool_call(
    env: napi::Env,
    name: String,
    args: Arg,
    tool: Arg,
    stack: Arg,
    options: Option<CallOptions>,
    token_out: Option<Arg>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let opts = call_options(js, stack.0, options)?;
        run_tool_call(js, name, args.0, tool.0, opts, token_out.map(|t| t.0)).map(Raw)
    })
}

/// The body of [`tool_call`], shared with its raw twin in [`crate::fast`].
pub(crate) fn run_tool_call(
    js: Js,
    name: String,
    js_args: Value,
    tool: Value,
    mut opts: nemo_relay_core::CallOptions,
    token_out: Option<Value>,
) -> Result<Value> {
    let rt = Runtime::global();
    let mode = mode_of(js, CallKind::Tool, &mut opts)?;
    let (args, js_args) = mode.request(js, js_args, "tool arguments")?;
    direct::run::<Json>(js, CallKind::Tool, name, tool, mode, js_args, token_out, {
        move |name, extension, cb| {
            opts.extension = extension;
            Box::pin(async move { rt.tool_call(&name, args, opts, cb).await })
        }
    })
}

/// How a managed call of `kind` started from JS now treats its JS values
/// (see [`direct`]). Unless the call is bare, the call snapshot the choice
/// was made on is put in `opts`: the call runs exactly that.
pub(crate) fn mode_of(
    js: Js,
    kind: CallKind,
    opts: &mut nemo_relay_core::CallOptions,
) -> Result<Mode> {
    let rt = Runtime::global();
    if rt.is_bare(kind) {
        return Ok(Mode::Bare);
    }
    // When every request the call's stages and callback get comes from this
    // realm's JS, those values can pass through as they are: with nobody
    // subscribed no JSON is needed at all; with subscribers only the
    // events' copy is.
    let snapshot = rt.call_snapshot(opts.stack.take());
    let js_only = js_only(&snapshot, kind, crate::realm::Realm::of(js)?.origin());
    let subscribed = snapshot.has_subscribers();
    opts.snapshot = Some(snapshot);
    Ok(match (js_only, subscribed) {
        (true, false) => Mode::Through,
        (true, true) => Mode::Mirrored,
        (false, _) => Mode::Managed,
    })
}

/// Whether the only middleware of a call of `kind` on `snapshot` that sees
/// or changes its real request are JS guardrails and request intercepts
/// registered from the realm tagged `origin`: then its JS values can pass
/// from stage to stage untouched. Sanitizers and subscribers need no check:
/// they get copies made for the events, whoever registered them.
fn js_only(snapshot: &CallSnapshot, kind: CallKind, origin: Origin) -> bool {
    fn mine<T>(entries: &[Entry<T>], origin: Origin) -> bool {
        entries.iter().all(|e| e.origin == origin)
    }
    snapshot.levels().all(|level| match kind {
        CallKind::Tool => {
            level.tool_execution.is_empty()
                && mine(level.tool.conditional.entries(), origin)
                && mine(level.tool.request.entries(), origin)
        }
        CallKind::Llm => {
            level.llm_execution.is_empty()
                && mine(level.llm.conditional.entries(), origin)
                && mine(level.llm.request.entries(), origin)
        }
        CallKind::LlmStream => {
            level.llm_stream_execution.is_empty()
                && mine(level.llm.conditional.entries(), origin)
                && mine(level.llm.request.entries(), origin)
        }
    })
}

/// Run a managed LLM call. `request` is the facade's view of the caller's
/// request, `{ headers, content }` (checked, headers defaulted), which the
/// stages and the provider get as it is when only this realm's JS sees it,
/// as a tool's arguments are.
#[napi(
    ts_args_type = "name: string, request: unknown, provider: (request: unknown, stack: number) => unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: CallOptions | undefined | null, tokenOut?: object | undefined | null",
    ts_return_type = "unknown"
)]
pub fn llm_call(
    env: napi::Env,
    name: String,
    request: Arg,
    provider: Arg,
    stack: Arg,
    options: Option<CallOptions>,
    token_out: Option<Arg>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let rt = Runtime::global();
        let mut opts = call_options(js, stack.0, options)?;
        let mode = mode_of(js, CallKind::Llm, &mut opts)?;
        let (core_request, js_request) =
            mode.request::<LlmRequest>(js, request.0, "the LLM request")?;
        direct::run::<LlmRequest>(
            js,
            CallKind::Llm,
            name,
            provider.0,
            mode,
            js_request,
            token_out.map(|t| t.0),
            move |name, extension, cb| {
                opts.extension = extension;
                Box::pin(async move { rt.llm_call(&name, core_request, opts, cb).await })
            },
        )
        .map(Raw)
    })
}

/// The scope stack a bare call's callback runs in, for calls the facade
/// runs itself because the activity counters say they are bare: `stack`
/// topped by a new `kind` (`"tool"` or `"llm"`) scope named `name`, minted
/// now. The facade asks only when the callback needs its scope. Returns a
/// short-lived id: `releaseHandle` it when the callback settles.
#[napi(
    ts_args_type = "kind: 'tool' | 'llm', name: string, stack: number | ExternalObject<'ScopeStack'>",
    ts_return_type = "number"
)]
pub fn bare_call_stack(
    env: napi::Env,
    kind: String,
    name: String,
    stack: Arg,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let kind = match kind.as_str() {
            "tool" => CallKind::Tool,
            "llm" => CallKind::Llm,
            other => {
                return Err(RelayError::invalid(format!(
                    "call kind must be 'tool' or 'llm', not '{other}'"
                )))
            }
        };
        let opts = nemo_relay_core::CallOptions {
            stack: Some(handles::stack(js, stack.0)?),
            ..Default::default()
        };
        let child = Runtime::global().bare_call_stack(kind, &name, opts)?;
        handles::insert(js, Native::Stack(child)).map(Raw)
    })
}

/// Abort an in-flight call: its native future is dropped (the core emits a
/// cancelled end event) and its Promise rejects with `reason`.
#[napi(ts_args_type = "token: ExternalObject<'CallToken'>, reason: unknown")]
pub fn cancel_call(env: napi::Env, token: Arg, reason: Arg) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        handles::call(js, token.0)?.cancel(js, reason.0);
        Ok(())
    })
}

impl IntoJs for ScopeHandle {
    fn into_js(self, js: Js) -> Result<Value> {
        handles::wrap(js, Native::Scope(self))
    }
}

/// Start a call the application runs itself: emits the (sanitized) start
/// event and returns the call's handle (or a Promise of it, when a
/// sanitizer is asynchronous). `kind` is `"tool"` or `"llm"`.
#[napi(
    ts_args_type = "kind: 'tool' | 'llm', name: string, input: unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: CallOptions | undefined | null",
    ts_return_type = "unknown"
)]
pub fn start_call(
    env: napi::Env,
    kind: String,
    name: String,
    input: Arg,
    stack: Arg,
    options: Option<CallOptions>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let opts = call_options(js, stack.0, options)?;
        let rt = Runtime::global();
        let fut: driver::CoreFuture<ScopeHandle> = match kind.as_str() {
            "tool" => {
                let args = convert::to_json(js, input.0, "tool arguments")?;
                Box::pin(async move { rt.tool_call_start(&name, &args, opts).await })
            }
            "llm" => {
                let request = LlmRequest::from_js(js, input.0, "the LLM request")?;
                Box::pin(async move { rt.llm_call_start(&name, &request, opts).await })
            }
            other => {
                return Err(RelayError::invalid(format!(
                    "call kind must be 'tool' or 'llm', not '{other}'"
                )))
            }
        };
        driver::run(js, fut, None).map(Raw)
    })
}

/// Options of `endCall` / `failCall`.
#[napi(object, object_to_js = false)]
pub struct EndCallOptions {
    /// Metadata (a JSON object) merged into the end event.
    #[napi(ts_type = "unknown")]
    pub metadata: Option<Arg>,
}

fn end_options(js: Js, stack: Value, o: Option<EndCallOptions>) -> Result<EndOptions> {
    Ok(EndOptions {
        stack: handles::opt_stack(js, stack)?,
        metadata: match o.and_then(|o| o.metadata) {
            Some(m) => convert::optional(js, m.0, "end metadata")?,
            None => None,
        },
        timestamp: None,
    })
}

/// End a manually started call successfully (`undefined`, or a Promise when
/// a sanitizer is asynchronous).
#[napi(
    ts_args_type = "handle: number | ExternalObject<'ScopeHandle'>, output: unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: EndCallOptions | undefined | null",
    ts_return_type = "unknown"
)]
pub fn end_call(
    env: napi::Env,
    handle: Arg,
    output: Arg,
    stack: Arg,
    options: Option<EndCallOptions>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let handle = handles::scope(js, handle.0)?;
        let output = convert::to_json(js, output.0, "call output")?;
        let opts = end_options(js, stack.0, options)?;
        let fut = async move { Runtime::global().call_end(&handle, &output, opts).await };
        driver::run(js, Box::pin(fut), None).map(Raw)
    })
}

/// End a manually started call with a failure: `error` is what the
/// application caught (its `message` and `name` are recorded).
#[napi(
    ts_args_type = "handle: number | ExternalObject<'ScopeHandle'>, error: unknown, stack: number | ExternalObject<'ScopeStack'> | undefined, options?: EndCallOptions | undefined | null"
)]
pub fn fail_call(
    env: napi::Env,
    handle: Arg,
    error: Arg,
    stack: Arg,
    options: Option<EndCallOptions>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let handle = handles::scope(js, handle.0)?;
        let err = crate::errors::from_thrown(js, error.0);
        let opts = end_options(js, stack.0, options)?;
        Runtime::global().call_failed(&handle, &err, opts)
    })
}
