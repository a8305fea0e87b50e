//! The facade's hooks.
//!
//! The facade calls `init` once when it loads, handing native code the few
//! JS functions it needs:
//!
//! * `makeError(code, message, details)` builds the `RelayError` subclass
//!   for a code (so errors thrown from native code are instances of the
//!   facade's classes);
//! * `makeCallContext(...)` builds the `CallContext` object middleware get
//!   ([`crate::middleware::ctx_value`]);
//! * `llmRequestView(request, what)` checks an LLM request and gives the
//!   `{ headers, content }` view of it that providers get
//!   ([`crate::middleware::Request::pass_js`]);
//! * `recordableText(value)` writes what JSON cannot represent as well as
//!   it can, for events only ([`crate::convert::recorded`]).

use napi_derive::napi;

use crate::js::{boundary, Arg};

/// Hand the facade's hooks object to native code (once per JS realm). Each
/// hook is looked up when first used and kept from then on.
#[napi(
    ts_args_type = "hooks: { makeError(code: string, message: string, details: object): Error; makeCallContext?: (name: string, kind: string, uuid: string, parentUuid: string, toolCallId?: string, modelName?: string) => object; llmRequestView?: (request: unknown, what: string) => object; recordableText?: (value: unknown) => string }"
)]
pub fn init(env: napi::Env, hooks: Arg) -> napi::Result<()> {
    crate::allocator::configure();
    boundary(env.raw(), |js| crate::realm::set_hooks(js, hooks.0))
}
