//! Reading LLM requests and responses in the common provider shapes.
//!
//! Events carry provider payloads verbatim: an LLM start's `data` is
//! `{"content": <request body>, "headers": {…}}`, its end's `data` is the
//! response body. The trajectory and span projections need the same few
//! facts out of them — the conversation, the answer text, requested tool
//! calls, token usage — so they are extracted here, once, for the shapes in
//! wide use:
//!
//! | shape | request | response |
//! |---|---|---|
//! | OpenAI chat completions | `messages[]` | `choices[0].message.{content,tool_calls}`, `usage.{prompt,completion}_tokens` |
//! | OpenAI responses | `input` (string or items) | `output[]` items, `output_text`, `usage.{input,output}_tokens` |
//! | Anthropic messages | `system`, `messages[]` | `content[]` blocks (`text`, `tool_use`), `usage.{input,output,cache_*}_tokens` |
//! | plain | `prompt` | `answer` / `content` / `text` |
//!
//! Anything unrecognized degrades to "unknown" (empty text, no usage) rather
//! than failing: observability must never reject an event.
//!
//! A streamed call ends with `{"chunks": [...]}` (what the runtime records
//! by default): [`assembled`] folds the chunks of those shapes' streaming
//! formats back into the response they stand for, so that a streamed answer
//! reads like a unary one.

use nemo_relay_core::Json;

pub(crate) use crate::stream_chunks::assembled;

/// The provider request body of an LLM start event's `data`.
pub(crate) fn request_body(start_data: &Json) -> &Json {
    match start_data.get("content") {
        Some(c) if start_data.get("headers").is_some() => c,
        _ => start_data,
    }
}

/// The conversation of a request, if it has one.
pub(crate) fn messages(body: &Json) -> Option<&Vec<Json>> {
    body.get("messages")
        .or_else(|| body.get("input"))
        .and_then(Json::as_array)
}

/// Text of a message `content`: a string, or the text parts of an array.
pub(crate) fn text_of(content: &Json) -> Option<String> {
    match content {
        Json::String(s) => Some(s.clone()),
        Json::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| match p {
                    Json::String(s) => Some(s.as_str()),
                    _ => p.get("text").and_then(Json::as_str),
                })
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        Json::Object(_) => content
            .get("text")
            .and_then(Json::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// A message's role (`user`, `assistant`, `tool` …); Responses-API function
/// call items count as the assistant, their outputs as tool results.
pub(crate) fn role_of(msg: &Json) -> &str {
    if let Some(r) = msg.get("role").and_then(Json::as_str) {
        return r;
    }
    match msg.get("type").and_then(Json::as_str) {
        Some("function_call") => "assistant",
        Some("function_call_output") => "tool",
        _ => "user",
    }
}

/// Whether a request opens a new user turn, and with what text.
pub(crate) enum Turn {
    /// The last message is the user's: a new turn.
    User(String),
    /// The last message is a tool result or assistant output: the model is
    /// continuing the current turn.
    Continuation,
}

/// Classify a request body (see [`Turn`]).
pub(crate) fn turn(body: &Json) -> Turn {
    if let Some(p) = body.get("prompt").and_then(Json::as_str) {
        return Turn::User(p.to_owned());
    }
    if let Some(s) = body.get("input").and_then(Json::as_str) {
        return Turn::User(s.to_owned());
    }
    let Some(msgs) = messages(body) else {
        // No shape we know: the input itself, as text.
        return Turn::User(match body {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            other => other.to_string(),
        });
    };
    let relevant = msgs
        .iter()
        .rev()
        .find(|m| !matches!(role_of(m), "system" | "developer"));
    match relevant {
        Some(m) if role_of(m) == "user" => Turn::User(
            m.get("content")
                .and_then(text_of)
                .or_else(|| text_of(m))
                .unwrap_or_default(),
        ),
        Some(_) => Turn::Continuation,
        None => Turn::User(String::new()),
    }
}

/// The system prompt of a request (Anthropic `system`, or the first
/// `system`/`developer` message).
pub(crate) fn system_text(body: &Json) -> Option<String> {
    if let Some(s) = body.get("system").and_then(text_of) {
        return Some(s);
    }
    if let Some(s) = body.get("instructions").and_then(Json::as_str) {
        return Some(s.to_owned());
    }
    messages(body)?
        .iter()
        .find(|m| matches!(role_of(m), "system" | "developer"))
        .and_then(|m| m.get("content"))
        .and_then(text_of)
}

/// The assistant message object of a chat-completions response.
fn chat_message(resp: &Json) -> Option<&Json> {
    resp.pointer("/choices/0/message")
}

/// The answer text of a response (`""` for tool-call-only answers).
pub(crate) fn response_text(resp: &Json) -> String {
    if let Json::String(s) = resp {
        return s.clone();
    }
    if let Some(t) = chat_message(resp)
        .and_then(|m| m.get("content"))
        .and_then(text_of)
    {
        return t;
    }
    if let Some(t) = resp.get("output_text").and_then(Json::as_str) {
        return t.to_owned();
    }
    if let Some(items) = resp.get("output").and_then(Json::as_array) {
        let texts: Vec<String> = items
            .iter()
            .filter(|i| i.get("type").and_then(Json::as_str) == Some("message"))
            .filter_map(|i| i.get("content").and_then(text_of))
            .collect();
        if !texts.is_empty() {
            return texts.join("\n");
        }
    }
    if let Some(blocks) = resp.get("content").and_then(Json::as_array) {
        let texts: Vec<&str> = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Json::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Json::as_str))
            .collect();
        return texts.join("\n");
    }
    ["answer", "content", "text"]
        .iter()
        .find_map(|k| resp.get(*k).and_then(text_of))
        .unwrap_or_default()
}

/// A tool call requested by the model.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RequestedCall {
    /// The provider's call id, if it gave one.
    pub(crate) id: Option<String>,
    /// Tool name.
    pub(crate) name: String,
    /// Arguments, normalized to an object.
    pub(crate) arguments: Json,
}

/// Tool calls requested by a response, in order.
pub(crate) fn response_tool_calls(resp: &Json) -> Vec<RequestedCall> {
    let id_of = |c: &Json| {
        ["id", "tool_call_id", "call_id"]
            .iter()
            .find_map(|k| c.get(*k).and_then(Json::as_str))
            .map(str::to_owned)
    };
    let openai = chat_message(resp)
        .and_then(|m| m.get("tool_calls"))
        .or_else(|| resp.get("tool_calls"))
        .and_then(Json::as_array);
    if let Some(calls) = openai {
        return calls
            .iter()
            .filter_map(|c| {
                let f = c.get("function").unwrap_or(c);
                Some(RequestedCall {
                    id: id_of(c),
                    name: f.get("name")?.as_str()?.to_owned(),
                    arguments: normalize_arguments(f.get("arguments").unwrap_or(&Json::Null)),
                })
            })
            .collect();
    }
    let items = resp
        .get("output")
        .or_else(|| resp.get("content"))
        .and_then(Json::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let (args, name) = match i.get("type").and_then(Json::as_str)? {
                "function_call" => (i.get("arguments"), i.get("name")),
                "tool_use" => (i.get("input"), i.get("name")),
                _ => return None,
            };
            Some(RequestedCall {
                id: id_of(i),
                name: name?.as_str()?.to_owned(),
                arguments: normalize_arguments(args.unwrap_or(&Json::Null)),
            })
        })
        .collect()
}

/// Tool-call arguments as an object: objects are kept, JSON strings are
/// parsed, anything else is wrapped (`{"value": …}`, or `{"raw": …}` for
/// text that is not JSON).
pub(crate) fn normalize_arguments(v: &Json) -> Json {
    match v {
        Json::Object(_) => v.clone(),
        Json::Null => Json::Object(Default::default()),
        Json::String(s) => match serde_json::from_str::<Json>(s) {
            Ok(Json::Object(m)) => Json::Object(m),
            Ok(other) => serde_json::json!({ "value": other }),
            Err(_) => serde_json::json!({ "raw": s }),
        },
        other => serde_json::json!({ "value": other }),
    }
}

/// Token usage and cost of one response.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Usage {
    /// Input tokens, cache reads and writes included.
    pub(crate) input: Option<u64>,
    /// Output tokens.
    pub(crate) output: Option<u64>,
    /// Input tokens read from the cache.
    pub(crate) cache_read: Option<u64>,
    /// Input tokens written to the cache.
    pub(crate) cache_write: Option<u64>,
    /// Reasoning tokens (part of `output`).
    pub(crate) reasoning: Option<u64>,
    /// Total tokens as reported.
    pub(crate) total: Option<u64>,
    /// Cost in US dollars.
    pub(crate) cost_usd: Option<f64>,
}

fn u(v: &Json, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Json::as_u64)
}

/// Usage of a response; `profile` is the end event's `category_profile`,
/// whose `annotated_response.usage` (normalized by a codec) wins when present.
pub(crate) fn usage(resp: &Json, profile: Option<&Json>) -> Usage {
    if let Some(n) = profile.and_then(|p| p.pointer("/annotated_response/usage")) {
        return Usage {
            input: u(n, "/prompt_tokens"),
            output: u(n, "/completion_tokens"),
            cache_read: u(n, "/cache_read_tokens"),
            cache_write: u(n, "/cache_write_tokens"),
            reasoning: u(n, "/reasoning_tokens"),
            total: u(n, "/total_tokens"),
            cost_usd: cost_usd(n).or_else(|| cost_usd(resp)),
        };
    }
    let Some(raw) = resp.get("usage") else {
        return Usage {
            cost_usd: cost_usd(resp),
            ..Default::default()
        };
    };
    let mut out = Usage {
        total: u(raw, "/total_tokens"),
        cost_usd: cost_usd(raw).or_else(|| cost_usd(resp)),
        ..Default::default()
    };
    if raw.get("prompt_tokens").is_some() {
        // OpenAI chat: prompt_tokens already includes cached tokens.
        out.input = u(raw, "/prompt_tokens");
        out.output = u(raw, "/completion_tokens");
        out.cache_read = u(raw, "/prompt_tokens_details/cached_tokens");
        out.reasoning = u(raw, "/completion_tokens_details/reasoning_tokens");
    } else if raw.get("cache_read_input_tokens").is_some()
        || raw.get("cache_creation_input_tokens").is_some()
    {
        // Anthropic: input_tokens excludes the cache; add it back so every
        // shape reports the same "all input tokens".
        out.cache_read = u(raw, "/cache_read_input_tokens");
        out.cache_write = u(raw, "/cache_creation_input_tokens");
        out.input = u(raw, "/input_tokens")
            .map(|i| i + out.cache_read.unwrap_or(0) + out.cache_write.unwrap_or(0));
        out.output = u(raw, "/output_tokens");
    } else {
        // OpenAI responses (input includes cached) or plain Anthropic.
        out.input = u(raw, "/input_tokens");
        out.output = u(raw, "/output_tokens");
        out.cache_read = u(raw, "/input_tokens_details/cached_tokens");
        out.reasoning = u(raw, "/output_tokens_details/reasoning_tokens");
    }
    out
}

/// A cost in USD: `cost_usd`, a bare numeric `cost`, or
/// `cost: {total|amount, currency: "USD"}`. Other currencies are not
/// converted (and not reported as USD).
fn cost_usd(v: &Json) -> Option<f64> {
    if let Some(c) = v.get("cost_usd").and_then(Json::as_f64) {
        return Some(c);
    }
    match v.get("cost")? {
        Json::Number(n) => n.as_f64(),
        c @ Json::Object(_) => {
            let currency = c.get("currency").and_then(Json::as_str).unwrap_or("USD");
            if !currency.eq_ignore_ascii_case("USD") {
                return None;
            }
            c.get("total")
                .or_else(|| c.get("amount"))
                .and_then(Json::as_f64)
        }
        _ => None,
    }
}

/// The model that actually answered.
pub(crate) fn response_model(resp: &Json) -> Option<&str> {
    resp.get("model").and_then(Json::as_str)
}

/// The provider's response id.
pub(crate) fn response_id(resp: &Json) -> Option<&str> {
    resp.get("id").and_then(Json::as_str)
}

/// Why generation stopped, per choice.
pub(crate) fn finish_reasons(resp: &Json) -> Vec<String> {
    if let Some(choices) = resp.get("choices").and_then(Json::as_array) {
        return choices
            .iter()
            .filter_map(|c| c.get("finish_reason").and_then(Json::as_str))
            .map(str::to_owned)
            .collect();
    }
    ["stop_reason", "status"]
        .iter()
        .find_map(|k| resp.get(*k).and_then(Json::as_str))
        .map(|s| vec![s.to_owned()])
        .unwrap_or_default()
}

/// Explicit reasoning text, when the provider returns it.
pub(crate) fn reasoning(resp: &Json) -> Option<String> {
    chat_message(resp)
        .and_then(|m| m.get("reasoning_content").or_else(|| m.get("reasoning")))
        .or_else(|| resp.get("reasoning"))
        .and_then(Json::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_usage_counts_cache_tokens_as_input() {
        let u = usage(
            &json!({"usage": {"input_tokens": 7, "output_tokens": 5,
                "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}}),
            None,
        );
        assert_eq!(
            (u.input, u.output, u.cache_read, u.cache_write),
            (Some(12), Some(5), Some(3), Some(2))
        );
    }

    #[test]
    fn tool_call_arguments_become_objects_whatever_their_shape() {
        assert_eq!(normalize_arguments(&json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(
            normalize_arguments(&json!("not json")),
            json!({"raw": "not json"})
        );
        assert_eq!(normalize_arguments(&json!([1])), json!({"value": [1]}));
        assert_eq!(normalize_arguments(&Json::Null), json!({}));
    }

    #[test]
    fn a_request_ending_in_a_tool_result_continues_the_turn() {
        let body = json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "c", "content": "x"}]});
        assert!(matches!(turn(&body), Turn::Continuation));
        let body = json!({"messages": [{"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
        assert!(matches!(turn(&body), Turn::User(t) if t == "hi"));
    }

    #[test]
    fn a_request_of_no_known_shape_is_the_user_message_as_text() {
        for (body, text) in [
            (json!("plain question"), "plain question"),
            (json!(42), "42"),
            (json!({"query": "q"}), r#"{"query":"q"}"#),
            (Json::Null, ""),
        ] {
            assert!(matches!(turn(&body), Turn::User(t) if t == text), "{body}");
        }
    }

    #[test]
    fn non_usd_costs_are_not_reported_as_dollars() {
        assert_eq!(
            cost_usd(&json!({"cost": {"total": 2.0, "currency": "EUR"}})),
            None
        );
        assert_eq!(
            cost_usd(&json!({"cost": {"total": 2.0, "currency": "usd"}})),
            Some(2.0)
        );
    }
}
