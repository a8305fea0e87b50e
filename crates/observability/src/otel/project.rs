//! What a finished scope looks like as a span, in each mode.
//!
//! | scope | `genai` name / kind | `openinference` name / kind / span.kind |
//! |---|---|---|
//! | agent | `invoke_agent {name}` / INTERNAL | `{name}` / INTERNAL / AGENT |
//! | llm | `chat {model}` / CLIENT | `{name}` / CLIENT / LLM |
//! | tool | `execute_tool {name}` / INTERNAL | `{name}` / CLIENT / TOOL |
//! | embedder | `embeddings {model}` / CLIENT | `{name}` / CLIENT / EMBEDDING |
//! | retriever | `retrieval {name}` / CLIENT | `{name}` / CLIENT / RETRIEVER |
//! | other | `{name}` / INTERNAL (no `gen_ai.*`: keeps parentage only) | `{name}` / INTERNAL / CHAIN … |
//!
//! Payload content (prompts, answers, tool arguments and results) is added
//! only when the resolved config captures it; usage, models and ids always are.
//! A failed scope (end metadata `otel.status_code = ERROR`) gets status
//! ERROR with its description, `error.type`, and an `exception` event.

use nemo_relay_core::{Event, Json, Payload, ScopeType};
use opentelemetry_proto::tonic::trace::v1::span::{Event as SpanEvent, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Status};
use serde_json::json;

use super::attrs::Attrs;
use super::config::{Mode, Resolved, REDACTED};
use super::semconv::{genai as g, openinference as oi, relay};
use crate::payload;

/// Facts about a span's place in its trace.
pub(crate) struct Context<'a> {
    /// Session of the trace (root `session_id` metadata, else root uuid).
    pub(crate) session: &'a str,
}

/// Name, kind, attributes and status of one span.
pub(crate) struct Projection {
    pub(crate) name: String,
    pub(crate) kind: SpanKind,
    pub(crate) attrs: Attrs,
    pub(crate) status: Option<Status>,
    pub(crate) events: Vec<SpanEvent>,
}

/// Project a scope from its start (if seen) and end events.
pub(crate) fn project(
    start: Option<&Event>,
    end: &Event,
    cfg: &Resolved,
    ctx: &Context<'_>,
) -> Projection {
    let mut p = match cfg.mode {
        Mode::Genai => genai(start, end, cfg, ctx),
        Mode::Openinference => openinference(start, end, cfg, ctx),
    };
    if end.metadata_str("otel.status_code") == Some("ERROR") {
        let message = end
            .metadata_str("otel.status_description")
            .unwrap_or("error");
        let kind = end.metadata_str("error.type").unwrap_or("_OTHER");
        p.attrs.str(g::ERROR_TYPE, kind);
        p.status = Some(Status {
            message: message.to_owned(),
            code: StatusCode::Error as i32,
        });
        let mut e = Attrs::default();
        e.str(
            "exception.type",
            end.metadata_str("exception.type").unwrap_or(kind),
        );
        e.str("exception.message", message);
        p.events.push(SpanEvent {
            time_unix_nano: end.timestamp.unix_nanos().max(0) as u64,
            name: "exception".into(),
            attributes: e.0,
            dropped_attributes_count: 0,
        });
    }
    p
}

fn request_body(start: Option<&Event>) -> Option<&Json> {
    start
        .and_then(|s| s.data.as_deref())
        .map(payload::request_body)
}

fn model_of<'e>(start: Option<&'e Event>, end: &'e Event) -> Option<&'e str> {
    request_body(start)
        .and_then(|b| b.get("model"))
        .and_then(Json::as_str)
        .or_else(|| {
            end.category_profile
                .as_ref()
                .and_then(|p| p.get("model_name"))
                .and_then(Json::as_str)
        })
}

/// `gen_ai.provider.name`: explicit metadata, else the prefix of a dotted
/// call name (`openai.chat` → `openai`).
fn provider_of(end: &Event) -> Option<String> {
    end.metadata_str(g::PROVIDER_NAME)
        .or_else(|| end.metadata_str("provider"))
        .map(str::to_owned)
        .or_else(|| end.name.split_once('.').map(|(p, _)| p.to_owned()))
}

fn tool_call_id(end: &Event) -> Option<&str> {
    end.category_profile
        .as_ref()
        .and_then(|p| p.get("tool_call_id"))
        .and_then(Json::as_str)
}

fn genai(start: Option<&Event>, end: &Event, cfg: &Resolved, ctx: &Context<'_>) -> Projection {
    let mut a = Attrs::default();
    let (name, kind) = match end.category {
        Some(ScopeType::Agent) => {
            a.str(g::OPERATION_NAME, g::op::INVOKE_AGENT);
            a.str(g::AGENT_NAME, &*end.name);
            a.str(g::AGENT_ID, end.uuid.to_string());
            a.str(g::CONVERSATION_ID, ctx.session);
            (format!("invoke_agent {}", end.name), SpanKind::Internal)
        }
        Some(ScopeType::Llm) => {
            let model = model_of(start, end);
            llm_genai(&mut a, start, end, cfg, model);
            a.str(g::CONVERSATION_ID, ctx.session);
            let name = match model {
                Some(m) => format!("chat {m}"),
                None => "chat".to_owned(),
            };
            (name, SpanKind::Client)
        }
        Some(ScopeType::Tool) => {
            a.str(g::OPERATION_NAME, g::op::EXECUTE_TOOL);
            a.str(g::TOOL_NAME, &*end.name);
            a.opt_str(g::TOOL_CALL_ID, tool_call_id(end));
            a.str(g::TOOL_TYPE, "function");
            a.str(g::CONVERSATION_ID, ctx.session);
            if cfg.capture_inputs {
                if let Some(args) = start.and_then(|s| s.data.as_ref()) {
                    a.payload(g::TOOL_CALL_ARGUMENTS, args);
                }
            }
            if cfg.capture_outputs {
                if let Some(out) = &end.data {
                    a.payload(g::TOOL_CALL_RESULT, out);
                }
            }
            (format!("execute_tool {}", end.name), SpanKind::Internal)
        }
        Some(ScopeType::Embedder) => {
            a.str(g::OPERATION_NAME, g::op::EMBEDDINGS);
            let model = model_of(start, end);
            a.opt_str(g::REQUEST_MODEL, model);
            (
                format!("embeddings {}", model.unwrap_or(&end.name)),
                SpanKind::Client,
            )
        }
        Some(ScopeType::Retriever) => {
            a.str(g::OPERATION_NAME, g::op::RETRIEVAL);
            a.str(g::DATA_SOURCE_ID, &*end.name);
            (format!("retrieval {}", end.name), SpanKind::Client)
        }
        _ => (end.name.to_string(), SpanKind::Internal),
    };
    Projection {
        name,
        kind,
        attrs: a,
        status: None,
        events: Vec::new(),
    }
}

fn llm_genai(
    a: &mut Attrs,
    start: Option<&Event>,
    end: &Event,
    cfg: &Resolved,
    model: Option<&str>,
) {
    a.str(g::OPERATION_NAME, g::op::CHAT);
    if let Some(p) = provider_of(end) {
        a.str(g::PROVIDER_NAME, p);
    }
    a.opt_str(g::REQUEST_MODEL, model);
    let body = request_body(start);
    if let Some(b) = body {
        a.scalar(
            g::REQUEST_MAX_TOKENS,
            b.get("max_tokens")
                .or_else(|| b.get("max_completion_tokens")),
        );
        a.scalar(g::REQUEST_TEMPERATURE, b.get("temperature"));
        a.scalar(g::REQUEST_TOP_P, b.get("top_p"));
        a.scalar(g::REQUEST_SEED, b.get("seed"));
    }
    let resp = payload::assembled(end.data.as_deref().unwrap_or(&Json::Null));
    let resp = &*resp;
    a.opt_str(g::RESPONSE_MODEL, payload::response_model(resp));
    a.opt_str(g::RESPONSE_ID, payload::response_id(resp));
    let reasons = payload::finish_reasons(resp);
    if !reasons.is_empty() {
        a.strs(g::RESPONSE_FINISH_REASONS, &reasons);
    }
    let u = payload::usage(resp, end.category_profile.as_ref());
    a.opt_u64(g::USAGE_INPUT_TOKENS, u.input);
    a.opt_u64(g::USAGE_OUTPUT_TOKENS, u.output);
    a.opt_u64(g::USAGE_CACHE_READ_INPUT_TOKENS, u.cache_read);
    a.opt_u64(g::USAGE_CACHE_CREATION_INPUT_TOKENS, u.cache_write);
    if cfg.capture_inputs {
        if let Some(b) = body {
            if let Some(s) = payload::system_text(b) {
                a.str(
                    g::SYSTEM_INSTRUCTIONS,
                    json!([{"type": "text", "content": s}]).to_string(),
                );
            }
            if let Some(msgs) = payload::messages(b) {
                let parts: Vec<Json> = msgs
                    .iter()
                    .filter(|m| !matches!(payload::role_of(m), "system" | "developer"))
                    .map(genai_message)
                    .collect();
                a.str(g::INPUT_MESSAGES, Json::Array(parts).to_string());
            }
        }
    }
    if cfg.capture_outputs && end.data.is_some() {
        let mut parts = vec![json!({"type": "text", "content": payload::response_text(resp)})];
        for c in payload::response_tool_calls(resp) {
            parts.push(
                json!({"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}),
            );
        }
        let mut msg = json!({"role": "assistant", "parts": parts});
        if let Some(r) = reasons.first() {
            msg["finish_reason"] = json!(r);
        }
        a.str(g::OUTPUT_MESSAGES, json!([msg]).to_string());
    }
}

/// One provider message in the GenAI structured-parts schema.
fn genai_message(m: &Json) -> Json {
    let role = payload::role_of(m);
    let mut parts = Vec::new();
    if role == "tool" {
        parts.push(json!({"type": "tool_call_response",
            "id": m.get("tool_call_id").or_else(|| m.get("call_id")),
            "response": m.get("content").or_else(|| m.get("output"))}));
    } else {
        if let Some(t) = m.get("content").and_then(payload::text_of) {
            parts.push(json!({"type": "text", "content": t}));
        }
        if let Some(calls) = m.get("tool_calls").and_then(Json::as_array) {
            for c in calls {
                let f = c.get("function").unwrap_or(c);
                parts.push(json!({"type": "tool_call", "id": c.get("id"), "name": f.get("name"),
                    "arguments": payload::normalize_arguments(f.get("arguments").unwrap_or(&Json::Null))}));
            }
        }
    }
    json!({"role": role, "parts": parts})
}

fn oi_kind(t: Option<ScopeType>) -> (&'static str, SpanKind) {
    use oi::kind::*;
    match t {
        Some(ScopeType::Agent) => (AGENT, SpanKind::Internal),
        Some(ScopeType::Llm) => (LLM, SpanKind::Client),
        Some(ScopeType::Tool) => (TOOL, SpanKind::Client),
        Some(ScopeType::Retriever) => (RETRIEVER, SpanKind::Client),
        Some(ScopeType::Embedder) => (EMBEDDING, SpanKind::Client),
        Some(ScopeType::Reranker) => (RERANKER, SpanKind::Client),
        Some(ScopeType::Guardrail) => (GUARDRAIL, SpanKind::Internal),
        Some(ScopeType::Evaluator) => (EVALUATOR, SpanKind::Internal),
        _ => (CHAIN, SpanKind::Internal),
    }
}

fn io_value(a: &mut Attrs, value_key: &str, mime_key: &str, v: Io<'_>) {
    let mime = match v {
        Io::Value(Json::String(_)) => "text/plain",
        Io::Payload(p) if p.text().starts_with('"') => "text/plain",
        _ => "application/json",
    };
    match v {
        Io::Value(v) => a.json(value_key, v),
        Io::Payload(p) => a.payload(value_key, p),
    }
    a.str(mime_key, mime);
}

/// An input or output: a whole payload (its text is used as it is), or a
/// value inside one (an LLM request's body).
#[derive(Clone, Copy)]
enum Io<'a> {
    Payload(&'a Payload),
    Value(&'a Json),
}

fn openinference(
    start: Option<&Event>,
    end: &Event,
    cfg: &Resolved,
    ctx: &Context<'_>,
) -> Projection {
    let mut a = Attrs::default();
    let (span_kind, kind) = oi_kind(end.category);
    a.str(oi::SPAN_KIND, span_kind);
    a.str(relay::UUID, end.uuid.to_string());
    if let Some(p) = end.parent_uuid {
        a.str(relay::PARENT_UUID, p.to_string());
    }
    a.str(oi::SESSION_ID, ctx.session);
    if let Some(m) = end.metadata_json() {
        a.json(oi::METADATA, &m);
    }
    let input = match end.category {
        Some(ScopeType::Llm) => request_body(start).map(Io::Value),
        _ => start.and_then(|s| s.data.as_ref()).map(Io::Payload),
    };
    if cfg.capture_inputs {
        if let Some(v) = input {
            io_value(&mut a, oi::INPUT_VALUE, oi::INPUT_MIME_TYPE, v);
        }
    }
    if cfg.capture_outputs {
        if let Some(v) = &end.data {
            io_value(
                &mut a,
                oi::OUTPUT_VALUE,
                oi::OUTPUT_MIME_TYPE,
                Io::Payload(v),
            );
        }
    }
    match end.category {
        Some(ScopeType::Agent) => a.str(oi::AGENT_NAME, &*end.name),
        Some(ScopeType::Llm) => llm_openinference(&mut a, start, end, cfg),
        Some(ScopeType::Tool) => {
            a.str(oi::TOOL_NAME, &*end.name);
            a.opt_str(oi::TOOL_CALL_ID, tool_call_id(end));
            a.str(oi::TOOL_CALL_FUNCTION_NAME, &*end.name);
            if cfg.capture_inputs {
                if let Some(args) = start.and_then(|s| s.data.as_ref()) {
                    a.str(oi::TOOL_CALL_FUNCTION_ARGUMENTS, args.text());
                }
            }
        }
        _ => {}
    }
    Projection {
        name: end.name.to_string(),
        kind,
        attrs: a,
        status: None,
        events: Vec::new(),
    }
}

fn llm_openinference(a: &mut Attrs, start: Option<&Event>, end: &Event, cfg: &Resolved) {
    let resp = payload::assembled(end.data.as_deref().unwrap_or(&Json::Null));
    let resp = &*resp;
    let model = payload::response_model(resp).or_else(|| model_of(start, end));
    a.opt_str(oi::LLM_MODEL_NAME, model);
    if let Some(p) = provider_of(end) {
        a.str(oi::LLM_PROVIDER, p);
    }
    let body = request_body(start);
    if let Some(Json::Object(b)) = body.filter(|_| !cfg.hide.invocation_parameters) {
        let params: serde_json::Map<String, Json> = b
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "messages" | "input" | "tools" | "model" | "system" | "prompt"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        a.str(
            oi::LLM_INVOCATION_PARAMETERS,
            Json::Object(params).to_string(),
        );
    }
    if cfg.capture_inputs && !cfg.hide.input_messages {
        if let Some(b) = body {
            super::oi_messages::input_messages(a, b, cfg.hide);
        }
    }
    if cfg.capture_outputs && !cfg.hide.output_messages && end.data.is_some() {
        let prefix = format!("{}.0.message", oi::LLM_OUTPUT_MESSAGES);
        a.str(&format!("{prefix}.role"), "assistant");
        let text = match cfg.hide.output_text {
            true => REDACTED.to_owned(),
            false => payload::response_text(resp),
        };
        a.str(&format!("{prefix}.content"), text);
        for (j, c) in payload::response_tool_calls(resp).into_iter().enumerate() {
            let tc = format!("{prefix}.tool_calls.{j}.tool_call");
            a.opt_str(&format!("{tc}.id"), c.id.as_deref());
            a.str(&format!("{tc}.function.name"), c.name);
            a.str(&format!("{tc}.function.arguments"), c.arguments.to_string());
        }
    }
    let u = payload::usage(resp, end.category_profile.as_ref());
    a.opt_u64(oi::LLM_TOKEN_COUNT_PROMPT, u.input);
    a.opt_u64(oi::LLM_TOKEN_COUNT_COMPLETION, u.output);
    let total = u.total.or(match (u.input, u.output) {
        (Some(i), Some(o)) => Some(i + o),
        _ => None,
    });
    a.opt_u64(oi::LLM_TOKEN_COUNT_TOTAL, total);
    a.opt_u64(oi::LLM_TOKEN_COUNT_CACHE_READ, u.cache_read);
    a.opt_u64(oi::LLM_TOKEN_COUNT_CACHE_WRITE, u.cache_write);
    a.opt_f64(oi::LLM_COST_TOTAL, u.cost_usd);
}
