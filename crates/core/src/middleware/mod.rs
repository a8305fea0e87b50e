//! Middleware: the callbacks that run around managed tool and LLM calls.
//!
//! Two families, by what they may change:
//!
//! * **Intercepts** change the real execution path.
//!   - request intercept ([`RewriteFn`]): rewrites the real request; a
//!     registration with `break_chain` stops later request intercepts;
//!   - execution intercept ([`ExecFn`]): wraps the real callback and calls it
//!     through [`Next`] zero, one or many times;
//!   - LLM stream execution intercept: the same around a chunk stream.
//! * **Guardrails** decide or redact.
//!   - conditional execution ([`GuardFn`]): returns [`Verdict::Reject`] to
//!     block the call (the first rejection wins);
//!   - sanitize request / response ([`RewriteFn`]): rewrite only the payload
//!     *emitted* on start/end events, never the real arguments or result.
//!
//! Every callback returns a [`Step`]: either a value that is ready now or a
//! future. A pipeline whose middleware all return ready values completes in a
//! single poll with no allocation for the future — this is what lets a
//! binding run the whole pipeline synchronously on the caller's thread, and
//! switch to asynchronous continuation only when a callback really returns a
//! promise.

pub(crate) mod next;
mod step;

use std::sync::Arc;

pub use next::{Next, NextRun};
pub use step::{BoxFuture, Step};

use crate::error::Result;
use crate::event::Json;
use crate::id::Uuid;
use crate::scope::ScopeStack;

/// Decision of a conditional-execution guardrail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the call proceed.
    Allow,
    /// Block the call; the string is the reason reported to the caller.
    Reject(String),
}

/// Which kind of managed call middleware is running for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// A tool call.
    Tool,
    /// A unary LLM call.
    Llm,
    /// A streaming LLM call.
    LlmStream,
}

impl CallKind {
    /// Wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallKind::Tool => "tool",
            CallKind::Llm => "llm",
            CallKind::LlmStream => "llm_stream",
        }
    }

    /// The family of the conditional-execution guardrails of such a call.
    pub const fn guard_family(self) -> crate::registry::Family {
        match self {
            CallKind::Tool => crate::registry::Family::ToolConditionalExecution,
            CallKind::Llm | CallKind::LlmStream => crate::registry::Family::LlmConditionalExecution,
        }
    }
}

/// What every middleware callback is told about the call it runs for.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// Tool name or LLM route name.
    pub name: crate::name::Name,
    /// Kind of call.
    pub kind: CallKind,
    /// Uuid the call's start/end events will carry (reserved up front).
    pub uuid: Uuid,
    /// Parent scope of the call.
    pub parent_uuid: Uuid,
    /// Tool call id, when the caller supplied one.
    pub tool_call_id: Option<Arc<str>>,
    /// Model name, when the caller supplied one.
    pub model_name: Option<Arc<str>>,
    /// The stack the call was made on (for bindings that re-establish the
    /// caller's scope context inside a callback).
    pub stack: ScopeStack,
    /// The calling binding's own state for this call, if it gave one
    /// ([`CallOptions::extension`](crate::CallOptions::extension)).
    pub extension: Option<crate::pipeline::CallExtension>,
}

/// A conditional-execution guardrail over requests of type `R`.
pub type GuardFn<R> = Arc<dyn Fn(&CallContext, &R) -> Step<Result<Verdict>> + Send + Sync>;

/// A request intercept or sanitize guardrail: takes a value, returns the
/// value to use instead.
pub type RewriteFn<T> = Arc<dyn Fn(&CallContext, T) -> Step<Result<T>> + Send + Sync>;

/// An execution intercept: gets the request and a [`Next`] to continue.
pub type ExecFn<R, O> = Arc<dyn Fn(&CallContext, R, Next<R, O>) -> Step<Result<O>> + Send + Sync>;

/// Wrap a plain synchronous guard closure.
pub fn guard<R, F>(f: F) -> GuardFn<R>
where
    F: Fn(&CallContext, &R) -> Result<Verdict> + Send + Sync + 'static,
{
    Arc::new(move |ctx, req| Step::ready(f(ctx, req)))
}

/// Wrap a plain synchronous rewrite closure (request intercept, sanitizer).
pub fn rewrite<T, F>(f: F) -> RewriteFn<T>
where
    F: Fn(&CallContext, T) -> Result<T> + Send + Sync + 'static,
{
    Arc::new(move |ctx, v| Step::ready(f(ctx, v)))
}

/// Wrap an async execution intercept closure.
pub fn exec<R, O, F, Fut>(f: F) -> ExecFn<R, O>
where
    F: Fn(CallContext, R, Next<R, O>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<O>> + Send + 'static,
{
    Arc::new(move |ctx, req, next| Step::pending(f(ctx.clone(), req, next)))
}

/// An LLM request: headers plus the provider body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmRequest {
    /// HTTP-style headers (credentials are stripped from emitted copies).
    pub headers: serde_json::Map<String, Json>,
    /// Provider request body.
    pub content: Json,
}

/// The one definition of an LLM request's event form (see
/// [`LlmRequest::to_event_json`]), serialized from the request itself.
struct EventForm<'a>(&'a LlmRequest);

impl serde::Serialize for EventForm<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Headers<'a>(&'a serde_json::Map<String, Json>);
        impl serde::Serialize for Headers<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let is_credential = |k: &str| {
                    LlmRequest::CREDENTIAL_HEADERS
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(k))
                };
                s.collect_map(self.0.iter().filter(|(k, _)| !is_credential(k)))
            }
        }
        // Keys in lexicographic order, as in every payload.
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("content", &self.0.content)?;
        m.serialize_entry("headers", &Headers(&self.0.headers))?;
        m.end()
    }
}

impl LlmRequest {
    /// A request with no headers.
    pub fn new(content: Json) -> Self {
        LlmRequest {
            headers: Default::default(),
            content,
        }
    }

    /// Header names never written to events (compared case-insensitively).
    pub const CREDENTIAL_HEADERS: [&'static str; 7] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "anthropic-api-key",
        "x-goog-api-key",
    ];

    /// The start-event payload: the [event form](Self::to_event_json)'s
    /// text, written straight from the request (no copy of its content).
    pub(crate) fn event_payload(&self) -> crate::event::Payload {
        crate::event::Payload::serialized(&EventForm(self))
    }

    /// The event form `{"content": …, "headers": …}` with credential headers
    /// removed.
    pub fn to_event_json(&self) -> Json {
        serde_json::to_value(EventForm(self)).expect("a JSON object always converts")
    }

    /// Parse the `{"content": …, "headers": {…}}` form used by bindings.
    pub fn from_json(v: Json) -> Result<Self> {
        match v {
            Json::Object(mut m) => {
                let headers = match m.remove("headers") {
                    None | Some(Json::Null) => Default::default(),
                    Some(Json::Object(h)) => h,
                    Some(_) => {
                        return Err(crate::RelayError::invalid(
                            "LLM request 'headers' must be an object",
                        ))
                    }
                };
                let content = m.remove("content").unwrap_or(Json::Null);
                if let Some(k) = m.keys().next() {
                    return Err(crate::RelayError::invalid(format!(
                        "unknown LLM request field '{k}' (expected 'content' and 'headers')"
                    )));
                }
                Ok(LlmRequest { headers, content })
            }
            _ => Err(crate::RelayError::invalid(
                "LLM request must be an object {content, headers}",
            )),
        }
    }
}

/// Whether `name` can be sent as an HTTP header field name: a non-empty
/// token (RFC 9110 §5.1). LLM request headers usually end up on the wire,
/// so configuration that sets them checks them with this.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be sent as an HTTP header field value: no control
/// characters but horizontal tab (CR and LF would start a header of their
/// own), which is what HTTP clients refuse.
pub fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A stream of JSON chunks (streaming LLM responses).
pub type JsonStream =
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<Json>> + Send + 'static>>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_form_drops_credential_headers_as_a_value_and_as_payload_text() {
        let mut req = LlmRequest::new(json!({"model": "m"}));
        req.headers
            .insert("Authorization".into(), json!("Bearer s"));
        req.headers.insert("X-Api-Key".into(), json!("k"));
        req.headers.insert("x-team".into(), json!("agents"));
        let form = json!({"content": {"model": "m"}, "headers": {"x-team": "agents"}});
        assert_eq!(req.to_event_json(), form);
        assert_eq!(req.event_payload().text(), form.to_string());
    }
}
