//! A request's messages as OpenInference's flattened attributes.
//!
//! OpenInference writes each message as indexed attributes under
//! `llm.input_messages.{i}.message.`:
//!
//! | provider shape | attributes |
//! |---|---|
//! | `content` a string | `.content` |
//! | `content` an array of parts | `.contents.{k}.message_content.type` = `text` (with `.text`) or `image` (with `.image.image.url`) |
//! | assistant `tool_calls` (OpenAI) or `tool_use` parts (Anthropic) | `.tool_calls.{j}.tool_call.{id,function.name,function.arguments}` |
//! | a tool result's `tool_call_id` (Anthropic: a `tool_result` part's `tool_use_id`) | `.tool_call_id` |
//!
//! A system prompt given beside the messages (Anthropic `system`, the
//! Responses API's `instructions`) becomes message 0 with role `system`,
//! as viewers such as Phoenix show it only from the message list. Parts of
//! other types (audio, documents) are left to `input.value`, which holds
//! the whole request.

use nemo_relay_core::Json;

use super::attrs::Attrs;
use super::config::{Hide, REDACTED};
use super::semconv::openinference as oi;
use crate::payload;

/// The longest `data:` image URL written; a longer one is left out (its
/// part keeps its type). OpenInference's own instrumentations default to
/// the same bound (`OPENINFERENCE_BASE64_IMAGE_MAX_LENGTH`).
const MAX_DATA_URL: usize = 32_000;

/// Write `body`'s messages (and its separate system prompt) to `a`, less
/// what `hide` hides.
pub(super) fn input_messages(a: &mut Attrs, body: &Json, hide: Hide) {
    let msgs = payload::messages(body).map(Vec::as_slice).unwrap_or(&[]);
    let mut at = 0;
    let separate_system = body.get("system").and_then(payload::text_of).or_else(|| {
        body.get("instructions")
            .and_then(Json::as_str)
            .map(str::to_owned)
    });
    if let Some(system) = separate_system {
        let prefix = format!("{}.0.message", oi::LLM_INPUT_MESSAGES);
        a.str(&format!("{prefix}.role"), "system");
        text(a, &format!("{prefix}.content"), system, hide);
        at = 1;
    }
    for (i, m) in msgs.iter().enumerate() {
        let prefix = format!("{}.{}.message", oi::LLM_INPUT_MESSAGES, at + i);
        message(a, &prefix, m, hide);
    }
}

/// Text content at `key`, or the placeholder when input text is hidden.
fn text(a: &mut Attrs, key: &str, value: String, hide: Hide) {
    match hide.input_text {
        true => a.str(key, REDACTED),
        false => a.str(key, value),
    }
}

/// One message under `prefix` (`llm.input_messages.{i}.message`).
fn message(a: &mut Attrs, prefix: &str, m: &Json, hide: Hide) {
    a.str(&format!("{prefix}.role"), payload::role_of(m));
    let mut calls = 0;
    match m.get("content") {
        Some(Json::Array(parts)) => {
            let (mut k, mut results) = (0, 0);
            for part in parts {
                let at = format!("{prefix}.contents.{k}.message_content");
                if let Some((id, name, arguments)) = tool_use(part) {
                    tool_call(a, prefix, calls, id, name, &arguments);
                    calls += 1;
                } else if kind(part) == "tool_result" {
                    // Anthropic's tool result, a part of a user message.
                    // OpenInference has one id per message (and keys must
                    // be unique): the first result's; each is a content.
                    if results == 0 {
                        let id = part.get("tool_use_id").and_then(Json::as_str);
                        a.opt_str(&format!("{prefix}.tool_call_id"), id);
                    }
                    results += 1;
                    if let Some(t) = part.get("content").and_then(payload::text_of) {
                        content_part(a, &at, &Json::String(t), hide);
                        k += 1;
                    }
                } else if content_part(a, &at, part, hide) {
                    k += 1;
                }
            }
        }
        Some(content) => {
            if let Some(t) = payload::text_of(content) {
                text(a, &format!("{prefix}.content"), t, hide);
            }
        }
        None => {}
    }
    for c in m
        .get("tool_calls")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let f = c.get("function").unwrap_or(c);
        let name = f.get("name").and_then(Json::as_str);
        let arguments = f.get("arguments").map_or_else(String::new, json_text);
        let id = c.get("id").and_then(Json::as_str);
        tool_call(a, prefix, calls, id, name, &arguments);
        calls += 1;
    }
    a.opt_str(
        &format!("{prefix}.tool_call_id"),
        m.get("tool_call_id").and_then(Json::as_str),
    );
}

/// An Anthropic `tool_use` part: `(id, name, arguments)`.
fn tool_use(part: &Json) -> Option<(Option<&str>, Option<&str>, String)> {
    (part.get("type").and_then(Json::as_str) == Some("tool_use")).then(|| {
        (
            part.get("id").and_then(Json::as_str),
            part.get("name").and_then(Json::as_str),
            part.get("input").map_or_else(String::new, json_text),
        )
    })
}

fn tool_call(
    a: &mut Attrs,
    prefix: &str,
    j: usize,
    id: Option<&str>,
    name: Option<&str>,
    arguments: &str,
) {
    let tc = format!("{prefix}.tool_calls.{j}.tool_call");
    a.opt_str(&format!("{tc}.id"), id);
    a.opt_str(&format!("{tc}.function.name"), name);
    a.str(&format!("{tc}.function.arguments"), arguments);
}

/// A text or image part under `prefix`; whether it was one.
fn content_part(a: &mut Attrs, prefix: &str, part: &Json, hide: Hide) -> bool {
    let found = match part {
        Json::String(s) => Some(s.as_str()),
        _ => part
            .get("text")
            .and_then(Json::as_str)
            .filter(|_| matches!(kind(part), "text" | "input_text" | "output_text" | "")),
    };
    if let Some(t) = found {
        a.str(&format!("{prefix}.type"), "text");
        text(a, &format!("{prefix}.text"), t.to_owned(), hide);
        return true;
    }
    if matches!(kind(part), "image_url" | "image" | "input_image") {
        a.str(&format!("{prefix}.type"), "image");
        let url = image_url(part)
            .filter(|_| !hide.input_images)
            .filter(|u| !u.starts_with("data:") || u.len() <= MAX_DATA_URL);
        if let Some(url) = url {
            a.str(&format!("{prefix}.image.image.url"), url);
        }
        return true;
    }
    false
}

fn kind(part: &Json) -> &str {
    part.get("type").and_then(Json::as_str).unwrap_or("")
}

/// The URL of an image part: OpenAI chat `image_url.url` (or a bare string),
/// Responses `image_url`, Anthropic `source` (a URL, or base64 data as a
/// `data:` URL).
fn image_url(part: &Json) -> Option<String> {
    if let Some(u) = part.get("image_url") {
        return u
            .get("url")
            .and_then(Json::as_str)
            .or_else(|| u.as_str())
            .map(str::to_owned);
    }
    let source = part.get("source")?;
    match source.get("type").and_then(Json::as_str) {
        Some("url") => source.get("url").and_then(Json::as_str).map(str::to_owned),
        Some("base64") => {
            let media = source.get("media_type").and_then(Json::as_str)?;
            let data = source.get("data").and_then(Json::as_str)?;
            Some(format!("data:{media};base64,{data}"))
        }
        _ => None,
    }
}

/// Arguments as OpenInference holds them: the JSON text (OpenAI's is text
/// already).
fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use serde_json::json;

    fn flattened(body: Json) -> Vec<(String, String)> {
        hidden(body, Hide::default())
    }

    fn hidden(body: Json, hide: Hide) -> Vec<(String, String)> {
        let mut a = Attrs::default();
        input_messages(&mut a, &body, hide);
        let text = |v: Option<Value>| match v {
            Some(Value::StringValue(s)) => s,
            other => panic!("not a string: {other:?}"),
        };
        a.0.into_iter()
            .map(|kv| (kv.key, text(kv.value.and_then(|v| v.value))))
            .collect()
    }

    fn get<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn parts_tool_calls_and_tool_results_are_flattened() {
        let attrs = flattened(json!({"messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
        ]}));
        let m = "llm.input_messages";
        assert_eq!(
            get(
                &attrs,
                &format!("{m}.0.message.contents.0.message_content.text")
            ),
            Some("what is this?")
        );
        assert_eq!(
            get(
                &attrs,
                &format!("{m}.0.message.contents.1.message_content.type")
            ),
            Some("image")
        );
        assert_eq!(
            get(
                &attrs,
                &format!("{m}.0.message.contents.1.message_content.image.image.url")
            ),
            Some("https://x/cat.png")
        );
        let tc = format!("{m}.1.message.tool_calls.0.tool_call");
        assert_eq!(get(&attrs, &format!("{tc}.id")), Some("call_1"));
        assert_eq!(get(&attrs, &format!("{tc}.function.name")), Some("lookup"));
        assert_eq!(
            get(&attrs, &format!("{tc}.function.arguments")),
            Some("{\"q\":\"cat\"}")
        );
        assert_eq!(
            get(&attrs, &format!("{m}.2.message.tool_call_id")),
            Some("call_1")
        );
        assert_eq!(
            get(&attrs, &format!("{m}.2.message.content")),
            Some("a cat")
        );
    }

    #[test]
    fn a_separate_system_prompt_is_message_zero_and_tool_use_parts_are_tool_calls() {
        let attrs = flattened(json!({"system": "You are terse", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "looking"},
                {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "x"}}]}
        ]}));
        let m = "llm.input_messages";
        assert_eq!(get(&attrs, &format!("{m}.0.message.role")), Some("system"));
        assert_eq!(
            get(&attrs, &format!("{m}.0.message.content")),
            Some("You are terse")
        );
        assert_eq!(get(&attrs, &format!("{m}.1.message.content")), Some("hi"));
        assert_eq!(
            get(
                &attrs,
                &format!("{m}.2.message.contents.0.message_content.text")
            ),
            Some("looking")
        );
        let tc = format!("{m}.2.message.tool_calls.0.tool_call");
        assert_eq!(get(&attrs, &format!("{tc}.id")), Some("tu_1"));
        assert_eq!(
            get(&attrs, &format!("{tc}.function.arguments")),
            Some("{\"q\":\"x\"}")
        );
        let answered = flattened(json!({"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu_1", "content": "found x"},
            {"type": "tool_result", "tool_use_id": "tu_2", "content": "found y"}]}]}));
        let keys: std::collections::HashSet<_> = answered.iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), answered.len(), "every key once: {answered:?}");
        assert_eq!(
            get(&answered, &format!("{m}.0.message.tool_call_id")),
            Some("tu_1")
        );
        let text = format!("{m}.0.message.contents.0.message_content.text");
        assert_eq!(get(&answered, &text), Some("found x"));
    }

    #[test]
    fn hidden_input_text_is_the_placeholder_and_hidden_images_lose_their_url() {
        let hide = Hide {
            input_text: true,
            input_images: true,
            ..Hide::default()
        };
        let attrs = hidden(
            json!({"system": "secret rules", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "my ssn"},
                {"type": "image_url", "image_url": {"url": "https://x/id.png"}}]}]}),
            hide,
        );
        let m = "llm.input_messages";
        assert_eq!(
            get(&attrs, &format!("{m}.0.message.content")),
            Some(REDACTED)
        );
        let part = format!("{m}.1.message.contents");
        assert_eq!(
            get(&attrs, &format!("{part}.0.message_content.text")),
            Some(REDACTED)
        );
        assert_eq!(
            get(&attrs, &format!("{part}.1.message_content.type")),
            Some("image")
        );
        assert!(attrs
            .iter()
            .all(|(_, v)| !v.contains("ssn") && !v.contains("id.png")));
    }

    #[test]
    fn a_base64_image_is_a_data_url_unless_it_is_too_long() {
        let image = |data: String| {
            json!({"messages": [{"role": "user", "content": [{"type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": data}}]}]})
        };
        let url = "llm.input_messages.0.message.contents.0.message_content.image.image.url";
        assert_eq!(
            get(&flattened(image("AAAA".into())), url),
            Some("data:image/png;base64,AAAA")
        );
        let big = flattened(image("A".repeat(MAX_DATA_URL)));
        assert_eq!(get(&big, url), None);
        let kind = "llm.input_messages.0.message.contents.0.message_content.type";
        assert_eq!(get(&big, kind), Some("image"));
    }
}
