//! Scope stacks, scopes and marks.
//!
//! The facade always passes the stack explicitly: it keeps the current stack
//! of each async flow in an `AsyncLocalStorage` and forks it when a
//! `relay.scope(...)` callback starts, so concurrent branches never share a
//! stack (and never see each other's scopes as parents). Nothing here relies
//! on the thread's default stack.

use napi_derive::napi;
use nemo_relay_core::{
    DataSchema, MarkOptions, PopOptions, RelayError, Runtime, ScopeHandle, ScopeOptions,
    ScopeStack, ScopeType,
};

use crate::calls::{attributes, parse_uuid};
use crate::convert;
use crate::handles::{self, Native};
use crate::js::{boundary, Arg, Js, Raw, Result, Value};

/// A new scope stack holding only its implicit root.
#[napi(ts_return_type = "ExternalObject<'ScopeStack'>")]
pub fn create_scope_stack(env: napi::Env) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        handles::wrap(js, Native::Stack(ScopeStack::new())).map(Raw)
    })
}

/// A fork of `stack`: it sees every scope open now (as parents, and their
/// scope-local middleware), but what either side pushes later is invisible
/// to the other. O(1). Returns a short-lived id: `releaseHandle` it when done.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>",
    ts_return_type = "number"
)]
pub fn fork_scope_stack(env: napi::Env, stack: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let fork = handles::stack(js, stack.0)?.fork();
        handles::insert(js, Native::Stack(fork)).map(Raw)
    })
}

/// A fork of `stack` that starts at its open scope `at` (at its base when
/// `at` is undefined), for work a finished callback left behind: parented
/// where the callback started, not to what its caller pushed since. A
/// plain fork when `at` has ended or left the stack. Returns a short-lived
/// id, as [`fork_scope_stack`] does.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>, at: number | ExternalObject<'ScopeHandle'> | undefined",
    ts_return_type = "number"
)]
pub fn fork_scope_stack_at(env: napi::Env, stack: Arg, at: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let stack = handles::stack(js, stack.0)?;
        let fork = if js.type_of(at.0)? == napi::sys::ValueType::napi_undefined {
            stack.fork_at(None)
        } else {
            match handles::scope(js, at.0) {
                Ok(h) if !h.is_ended() => stack.fork_at(Some(h.uuid())),
                // Ended (its entry is gone, or it is going): nothing to start at.
                _ => stack.fork(),
            }
        };
        handles::insert(js, Native::Stack(fork)).map(Raw)
    })
}

/// The innermost open scope of `stack` (its implicit root when none is
/// open): the id `pushScope` returned for it while it is open, else a handle.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>",
    ts_return_type = "number | ExternalObject<'ScopeHandle'>"
)]
pub fn scope_stack_top(env: napi::Env, stack: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let top = handles::stack(js, stack.0)?.top();
        handles::scope_value(js, top).map(Raw)
    })
}

/// Number of open scopes on `stack` above its implicit root.
#[napi(ts_args_type = "stack: number | ExternalObject<'ScopeStack'>")]
pub fn scope_stack_depth(env: napi::Env, stack: Arg) -> napi::Result<u32> {
    boundary(env.raw(), |js| {
        Ok(handles::stack(js, stack.0)?.depth() as u32)
    })
}

/// Options of `pushScope`.
#[napi(object, object_to_js = false)]
pub struct PushOptions {
    /// Record this parent uuid instead of the stack's top (the scope is still
    /// pushed on the stack).
    pub parent: Option<String>,
    /// Attribute names. Default none.
    pub attributes: Option<Vec<String>>,
    /// Input (JSON), emitted as the start event's `data`.
    #[napi(ts_type = "unknown")]
    pub input: Option<Arg>,
    /// Application data (JSON) kept on the handle, never emitted.
    #[napi(ts_type = "unknown")]
    pub data: Option<Arg>,
    /// Metadata (a JSON object) emitted on start; end metadata merges over it.
    #[napi(ts_type = "unknown")]
    pub metadata: Option<Arg>,
}

fn json_opt(js: Js, v: Option<Arg>, what: &str) -> Result<Option<nemo_relay_core::Json>> {
    match v {
        Some(a) => convert::optional(js, a.0, what),
        None => Ok(None),
    }
}

/// Open a scope on `stack` and emit its start event. `scopeType` defaults to
/// `"function"`. Returns the scope's id, valid until it is popped.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>, name: string, scopeType?: string | undefined | null, options?: PushOptions | undefined | null",
    ts_return_type = "number"
)]
pub fn push_scope(
    env: napi::Env,
    stack: Arg,
    name: String,
    scope_type: Option<String>,
    options: Option<PushOptions>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let stack = handles::stack(js, stack.0)?;
        let scope_type = match scope_type {
            Some(t) => parse_scope_type(&t)?,
            None => ScopeType::Function,
        };
        let mut opts = ScopeOptions {
            stack: Some(stack),
            ..Default::default()
        };
        if let Some(o) = options {
            opts.parent = o.parent.as_deref().map(parse_uuid).transpose()?;
            opts.attributes = attributes(o.attributes.as_deref())?;
            opts.input = json_opt(js, o.input, "scope input")?;
            opts.data = json_opt(js, o.data, "scope data")?;
            opts.metadata = json_opt(js, o.metadata, "scope metadata")?;
        }
        let handle = Runtime::global().push_scope(&name, scope_type, opts)?;
        handles::insert_scope(js, handle).map(Raw)
    })
}

/// Options of `popScope`.
#[napi(object, object_to_js = false)]
pub struct PopScopeOptions {
    /// Output (JSON), emitted as the end event's `data`.
    #[napi(ts_type = "unknown")]
    pub output: Option<Arg>,
    /// Metadata (a JSON object) shallow-merged over the start metadata.
    #[napi(ts_type = "unknown")]
    pub metadata: Option<Arg>,
}

/// Close `handle`, the innermost open scope of `stack`, and emit its end
/// event. Scope-local registrations it owned are removed; a scope id is
/// released. Returns the scope's uuid.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>, handle: number | ExternalObject<'ScopeHandle'>, options?: PopScopeOptions | undefined | null",
    ts_return_type = "string"
)]
pub fn pop_scope(
    env: napi::Env,
    stack: Arg,
    handle: Arg,
    options: Option<PopScopeOptions>,
) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let stack = handles::stack(js, stack.0)?;
        let handle_arg = handle.0;
        let handle = handles::scope(js, handle_arg)?;
        let mut opts = PopOptions {
            stack: Some(stack),
            ..Default::default()
        };
        if let Some(o) = options {
            opts.output = json_opt(js, o.output, "scope output")?;
            opts.metadata = json_opt(js, o.metadata, "scope end metadata")?;
        }
        Runtime::global().pop_scope(&handle, opts)?;
        handles::popped(js, handle_arg, &handle)?;
        js.uuid(&handle.uuid()).map(Raw)
    })
}

/// `data_schema` of a mark.
#[napi(object, object_to_js = false)]
pub struct MarkDataSchema {
    /// Schema name.
    pub name: String,
    /// Schema version.
    pub version: String,
}

/// Options of `mark`.
#[napi(object, object_to_js = false)]
pub struct MarkOptionsJs {
    /// Explicit parent scope uuid (default: the stack's top).
    pub parent: Option<String>,
    /// Schema tag of the payload.
    pub data_schema: Option<MarkDataSchema>,
    /// Metadata (JSON).
    #[napi(ts_type = "unknown")]
    pub metadata: Option<Arg>,
    /// Category (a scope type name).
    pub category: Option<String>,
    /// Category profile (a JSON object).
    #[napi(ts_type = "unknown")]
    pub category_profile: Option<Arg>,
}

/// Emit a mark (a point-in-time event) under the top scope of `stack`.
///
/// The payload arrives as JSON text made by the facade (`lib/json.js`), a
/// positional argument; `options` is passed only when one of the rarer
/// options is set: reading an options object costs a property lookup per
/// field, more than the rest of a mark. The name is read without a heap
/// copy.
#[napi(
    ts_args_type = "stack: number | ExternalObject<'ScopeStack'>, name: string, dataJson?: string, options?: MarkOptionsJs | undefined | null"
)]
pub fn mark(
    env: napi::Env,
    stack: Arg,
    name: Arg,
    data_json: Option<Arg>,
    options: Option<MarkOptionsJs>,
) -> napi::Result<()> {
    boundary(env.raw(), |js| {
        let rt = Runtime::global();
        if !rt.has_listeners() {
            return Ok(()); // nobody would see it (the facade usually knows)
        }
        let mut opts = MarkOptions {
            stack: Some(handles::stack(js, stack.0)?),
            data: match data_json {
                Some(d) => Some(convert::from_text(js, d.0, "mark data")?),
                None => None,
            },
            ..Default::default()
        };
        if let Some(o) = options {
            opts.parent = o.parent.as_deref().map(parse_uuid).transpose()?;
            opts.data_schema = o.data_schema.map(|s| DataSchema {
                name: s.name,
                version: s.version,
            });
            opts.metadata = json_opt(js, o.metadata, "mark metadata")?;
            opts.category = o.category.as_deref().map(parse_scope_type).transpose()?;
            opts.category_profile = json_opt(js, o.category_profile, "mark category profile")?;
        }
        js.with_str(name.0, |name| rt.mark(name, opts))?
    })
}

fn set_str(js: Js, obj: Value, key: &std::ffi::CStr, v: Option<&str>) -> Result<()> {
    let value = match v {
        Some(s) => js.string(s)?,
        None => js.undefined()?,
    };
    js.set_named(obj, key, value)
}

fn handle_info(js: Js, h: &ScopeHandle) -> Result<Value> {
    let o = js.object()?;
    set_str(js, o, c"uuid", Some(&h.uuid().to_string()))?;
    set_str(
        js,
        o,
        c"parentUuid",
        h.parent_uuid().map(|u| u.to_string()).as_deref(),
    )?;
    set_str(js, o, c"name", Some(h.name()))?;
    set_str(js, o, c"type", Some(h.scope_type().as_str()))?;
    let attrs: Vec<nemo_relay_core::Json> = h.attributes().names().map(Into::into).collect();
    js.set_named(o, c"attributes", convert::to_js(js, &attrs.into())?)?;
    set_str(js, o, c"toolCallId", h.tool_call_id())?;
    set_str(js, o, c"modelName", h.model_name())?;
    let data = match h.data() {
        Some(d) => convert::to_js(js, d)?,
        None => js.undefined()?,
    };
    js.set_named(o, c"data", data)?;
    let metadata = match h.metadata() {
        Some(d) => convert::to_js(js, d)?,
        None => js.undefined()?,
    };
    js.set_named(o, c"metadata", metadata)?;
    js.set_named(o, c"startedAt", js.string(&h.started_at().to_string())?)?;
    Ok(o)
}

/// Everything a scope handle knows, as a plain object.
#[napi(
    ts_args_type = "handle: number | ExternalObject<'ScopeHandle'>",
    ts_return_type = "{ uuid: string; parentUuid: string | undefined; name: string; type: string; attributes: string[]; toolCallId: string | undefined; modelName: string | undefined; data: unknown; metadata: unknown; startedAt: string }"
)]
pub fn scope_info(env: napi::Env, handle: Arg) -> napi::Result<Raw> {
    boundary(env.raw(), |js| {
        let h = handles::scope(js, handle.0)?;
        handle_info(js, &h).map(Raw)
    })
}

/// Whether the scope has ended, through this handle or any other.
#[napi(ts_args_type = "handle: number | ExternalObject<'ScopeHandle'>")]
pub fn scope_ended(env: napi::Env, handle: Arg) -> napi::Result<bool> {
    boundary(env.raw(), |js| handles::scope_ended(js, handle.0))
}

/// A scope type by name, with the valid names in the error.
fn parse_scope_type(name: &str) -> Result<ScopeType> {
    name.parse::<ScopeType>().map_err(|_| {
        RelayError::invalid(format!(
            "unknown scope type '{name}' (one of: {})",
            ScopeType::ALL.map(|t| t.as_str()).join(", ")
        ))
    })
}
