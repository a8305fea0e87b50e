//! A streamed LLM answer, put back together.
//!
//! A streaming call's end event carries its chunks (`{"chunks": [...]}`),
//! each in the provider's streaming format. The projections (ATIF steps,
//! GenAI and OpenInference span attributes) read responses, so the chunks
//! are folded into the response they stand for:
//!
//! | chunks | folded into |
//! |---|---|
//! | OpenAI chat completion chunks (`choices[].delta`) | `choices[0].message` with the content and tool calls joined, the last `finish_reason`, `usage`, `model`, `id` |
//! | Anthropic message events (`message_start`, `content_block_*`, `message_delta`) | a message: `content` blocks, `stop_reason`, `usage` |
//! | OpenAI Responses events | the `response` of `response.completed` (else the `output_text` deltas) |
//! | strings, or objects with a string `text` / `content` / `delta` | `{"content": <joined text>}` |
//!
//! Anything else is left as it is.

use std::borrow::Cow;

use nemo_relay_core::Json;
use serde_json::{json, Map};

/// `resp` with a streamed answer's chunks folded into one response (see
/// the [module docs](self)); any other value as it is.
pub(crate) fn assembled(resp: &Json) -> Cow<'_, Json> {
    let Some(chunks) = resp.get("chunks").and_then(Json::as_array) else {
        return Cow::Borrowed(resp);
    };
    let is = |pred: fn(&Json) -> bool| chunks.iter().any(pred);
    let folded = if is(|c| c.get("choices").is_some_and(Json::is_array)) {
        chat_completion(chunks)
    } else if is(|c| c.get("type").and_then(Json::as_str) == Some("message_start")) {
        anthropic(chunks)
    } else if is(|c| {
        c.get("type")
            .and_then(Json::as_str)
            .is_some_and(|t| t.starts_with("response."))
    }) {
        responses(chunks)
    } else {
        match plain(chunks) {
            Some(text) => json!({ "content": text }),
            None => return Cow::Borrowed(resp),
        }
    };
    Cow::Owned(folded)
}

fn str_at<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Json::as_str)
}

/// Not null, and not an empty string.
fn filled(v: &Json) -> bool {
    !v.is_null() && v.as_str() != Some("")
}

/// OpenAI chat completion chunks.
fn chat_completion(chunks: &[Json]) -> Json {
    let mut content = String::new();
    let mut calls: Vec<Json> = Vec::new();
    let mut finish = Json::Null;
    let (mut id, mut model, mut usage) = (Json::Null, Json::Null, Json::Null);
    for c in chunks {
        // The first that says something: Azure's first chunk has them empty.
        for (field, slot) in [("id", &mut id), ("model", &mut model)] {
            if slot.is_null() {
                if let Some(v) = c.get(field).filter(|v| filled(v)) {
                    *slot = v.clone();
                }
            }
        }
        if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
            usage = u.clone();
        }
        // The first choice (`index` 0): with `n` > 1, a chunk's other
        // choices are other answers, not parts of this one.
        let first = c.get("choices").and_then(Json::as_array).and_then(|cs| {
            cs.iter()
                .find(|ch| ch.get("index").and_then(Json::as_u64).unwrap_or(0) == 0)
        });
        let Some(choice) = first else {
            continue;
        };
        if let Some(r) = choice.get("finish_reason").filter(|r| !r.is_null()) {
            finish = r.clone();
        }
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        if let Some(t) = str_at(delta, "content") {
            content.push_str(t);
        }
        for d in delta
            .get("tool_calls")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let at = d
                .get("index")
                .and_then(Json::as_u64)
                .unwrap_or(calls.len() as u64) as usize;
            while calls.len() <= at {
                calls.push(json!({"type": "function", "function": {"name": "", "arguments": ""}}));
            }
            let call = &mut calls[at];
            if let Some(v) = d.get("id") {
                call["id"] = v.clone();
            }
            if let Some(f) = d.get("function") {
                for key in ["name", "arguments"] {
                    if let Some(part) = str_at(f, key) {
                        let whole = call["function"][key].as_str().unwrap_or_default();
                        call["function"][key] = Json::String(format!("{whole}{part}"));
                    }
                }
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Json::Array(calls);
    }
    json!({
        "id": id,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    })
}

/// Anthropic message stream events.
fn anthropic(chunks: &[Json]) -> Json {
    let mut message = Map::new();
    let mut blocks: Vec<Json> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    let mut usage = Map::new();
    for c in chunks {
        match str_at(c, "type") {
            Some("message_start") => {
                if let Some(Json::Object(m)) = c.get("message") {
                    message = m.clone();
                    if let Some(Json::Object(u)) = m.get("usage") {
                        usage.extend(u.clone());
                    }
                }
            }
            Some("content_block_start") => {
                let at = c
                    .get("index")
                    .and_then(Json::as_u64)
                    .unwrap_or(blocks.len() as u64) as usize;
                while blocks.len() <= at {
                    blocks.push(Json::Null);
                    partial_json.push(String::new());
                }
                blocks[at] = c.get("content_block").cloned().unwrap_or(Json::Null);
            }
            Some("content_block_delta") => {
                let at = c.get("index").and_then(Json::as_u64).unwrap_or(0) as usize;
                let (Some(block), Some(delta)) = (blocks.get_mut(at), c.get("delta")) else {
                    continue;
                };
                match str_at(delta, "type") {
                    Some("text_delta") => append(block, "text", str_at(delta, "text")),
                    Some("thinking_delta") => append(block, "thinking", str_at(delta, "thinking")),
                    Some("input_json_delta") => {
                        partial_json[at].push_str(str_at(delta, "partial_json").unwrap_or_default())
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(Json::Object(d)) = c.get("delta") {
                    message.extend(d.clone());
                }
                if let Some(Json::Object(u)) = c.get("usage") {
                    usage.extend(u.clone());
                }
            }
            _ => {}
        }
    }
    for (block, args) in blocks.iter_mut().zip(&partial_json) {
        if !args.is_empty() {
            if let Ok(input) = serde_json::from_str::<Json>(args) {
                block["input"] = input;
            }
        }
    }
    message.insert("content".into(), Json::Array(blocks));
    if !usage.is_empty() {
        message.insert("usage".into(), Json::Object(usage));
    }
    Json::Object(message)
}

fn append(block: &mut Json, key: &str, part: Option<&str>) {
    if let (Json::Object(b), Some(part)) = (block, part) {
        let whole = b.get(key).and_then(Json::as_str).unwrap_or_default();
        let joined = format!("{whole}{part}");
        b.insert(key.into(), Json::String(joined));
    }
}

/// OpenAI Responses stream events.
fn responses(chunks: &[Json]) -> Json {
    let completed = chunks.iter().rev().find(|c| {
        matches!(
            str_at(c, "type"),
            Some("response.completed" | "response.incomplete" | "response.failed")
        )
    });
    if let Some(r) = completed.and_then(|c| c.get("response")) {
        return r.clone();
    }
    let text: String = chunks
        .iter()
        .filter(|c| str_at(c, "type") == Some("response.output_text.delta"))
        .filter_map(|c| str_at(c, "delta"))
        .collect();
    json!({ "output_text": text })
}

/// Strings, or objects with a string `text`, `content` or `delta`.
fn plain(chunks: &[Json]) -> Option<String> {
    let mut text = String::new();
    for c in chunks {
        let part = match c {
            Json::String(s) => s.as_str(),
            _ => ["text", "content", "delta"]
                .iter()
                .find_map(|k| str_at(c, k))?,
        };
        text.push_str(part);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload;

    #[test]
    fn openai_chat_chunks_read_as_the_completion_they_stream() {
        let resp = json!({"chunks": [
            {"id": "", "model": "", "choices": []},
            {"id": "c1", "model": "gpt-4.1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
            {"choices": [{"index": 1, "delta": {"content": "another answer"}}]},
            {"choices": [{"index": 0, "delta": {"content": "lo", "tool_calls": [
                {"index": 0, "id": "call_1", "function": {"name": "search", "arguments": "{\"q\":"}}]}}]},
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                "finish_reason": "tool_calls"}]},
            {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
        ]});
        let r = assembled(&resp);
        assert_eq!(payload::response_text(&r), "Hello");
        assert_eq!(payload::response_model(&r), Some("gpt-4.1"));
        assert_eq!(payload::finish_reasons(&r), ["tool_calls"]);
        let calls = payload::response_tool_calls(&r);
        assert_eq!(
            (calls[0].name.as_str(), &calls[0].arguments),
            ("search", &json!({"q": 1}))
        );
        let u = payload::usage(&r, None);
        assert_eq!((u.input, u.output), (Some(7), Some(3)));
    }

    #[test]
    fn anthropic_events_read_as_the_message_they_stream() {
        let resp = json!({"chunks": [
            {"type": "message_start", "message": {"id": "m1", "model": "claude", "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
            {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "search", "input": {}}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": 2}"}},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
            {"type": "message_stop"},
        ]});
        let r = assembled(&resp);
        assert_eq!(payload::response_text(&r), "Hi there");
        assert_eq!(
            payload::response_tool_calls(&r)[0].arguments,
            json!({"q": 2})
        );
        let u = payload::usage(&r, None);
        assert_eq!((u.input, u.output), (Some(9), Some(5)));
    }

    #[test]
    fn responses_events_and_plain_text_chunks_read_as_their_text() {
        let done = json!({"chunks": [
            {"type": "response.output_text.delta", "delta": "ab"},
            {"type": "response.completed", "response": {"output_text": "ab", "usage": {"input_tokens": 1, "output_tokens": 2}}},
        ]});
        assert_eq!(payload::response_text(&assembled(&done)), "ab");
        let deltas = json!({"chunks": [{"type": "response.output_text.delta", "delta": "x"}, {"type": "response.output_text.delta", "delta": "y"}]});
        assert_eq!(payload::response_text(&assembled(&deltas)), "xy");
        for chunks in [
            json!(["He", "llo"]),
            json!([{"text": "He"}, {"delta": "llo"}]),
        ] {
            assert_eq!(
                payload::response_text(&assembled(&json!({ "chunks": chunks }))),
                "Hello"
            );
        }
        let odd = json!({"chunks": [1, 2]});
        assert!(matches!(assembled(&odd), Cow::Borrowed(_)));
    }
}
