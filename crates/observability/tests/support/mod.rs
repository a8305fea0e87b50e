//! Shared test helpers: scratch directories and one realistic agent run.
#![allow(dead_code)]

pub mod otlp;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::guard;
use nemo_relay_core::{
    CallOptions, LlmRequest, Middleware, PopOptions, Registration, RelayError, Runtime,
    ScopeOptions, ScopeStack, ScopeType, Verdict,
};
use serde_json::{json, Value};

/// A fresh directory under the target dir's tmp (removed and recreated).
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Parse every line of every file, in order.
pub fn read_jsonl(files: &[PathBuf]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// The uuids of the scopes opened by [`agent_run`].
pub struct Run {
    pub agent: String,
    pub researcher: String,
}

fn opts(stack: &ScopeStack) -> CallOptions {
    CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    }
}

/// One agent session exercising everything the exporters project:
///
/// ```text
/// agent "weather-agent" (metadata session_id = "s-1")
///   llm openai.chat #1  user asks → model calls get_weather (call_1) and shell (call_2)
///   tool get_weather (call_1)        ok
///   tool shell                       rejected by guardrail "no-rm"
///   llm openai.chat #2  continuation → model calls research (call_3) and flaky (call_4)
///   tool research (call_3)
///     agent "researcher"             nested agent
///       llm anthropic.messages       answer with usage incl. cache tokens
///   tool flaky (call_4)              fails
///   mark "checkpoint"
///   llm openai.chat #3               final answer
/// ```
pub fn agent_run(rt: &Runtime) -> Run {
    rt.register(Registration::new(
        "no-rm",
        Middleware::ToolConditionalExecution(guard(|_ctx, args: &Value| {
            Ok(if args["cmd"] == "rm -rf /" {
                Verdict::Reject("rm is blocked".into())
            } else {
                Verdict::Allow
            })
        })),
    ))
    .unwrap();
    let stack = ScopeStack::new();
    let agent = rt
        .push_scope(
            "weather-agent",
            ScopeType::Agent,
            ScopeOptions {
                stack: Some(stack.clone()),
                input: Some(json!({"task": "weather in Paris"})),
                metadata: Some(json!({"session_id": "s-1"})),
                ..Default::default()
            },
        )
        .unwrap();

    let llm = |content: Value, response: Value| {
        block_on(rt.llm_call(
            "openai.chat",
            LlmRequest::new(content),
            CallOptions {
                model_name: Some("gpt-4.1".into()),
                ..opts(&stack)
            },
            move |_req| {
                let response = response.clone();
                async move { Ok(response) }
            },
        ))
        .unwrap()
    };

    let user_turn = json!({"model": "gpt-4.1", "temperature": 0.2, "messages": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris? Also clean my disk."}]});
    llm(
        user_turn,
        json!({"id": "resp-1", "model": "gpt-4.1-2025", "choices": [{"finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"rm -rf /\"}"}}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30,
                      "prompt_tokens_details": {"cached_tokens": 4}}, "cost_usd": 0.001}),
    );

    block_on(rt.tool_call(
        "get_weather",
        json!({"city": "Paris"}),
        CallOptions {
            tool_call_id: Some("call_1".into()),
            ..opts(&stack)
        },
        |_| async { Ok(json!("18C, sunny")) },
    ))
    .unwrap();
    let rejected = block_on(rt.tool_call(
        "shell",
        json!({"cmd": "rm -rf /"}),
        CallOptions {
            tool_call_id: Some("call_2".into()),
            ..opts(&stack)
        },
        |_| async { Ok(json!("unreachable")) },
    ));
    assert!(rejected.is_err());

    llm(
        json!({"model": "gpt-4.1", "messages": [
            {"role": "user", "content": "Weather in Paris? Also clean my disk."},
            {"role": "assistant", "content": "Let me check."},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"}]}),
        json!({"id": "resp-2", "model": "gpt-4.1", "choices": [{"finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_3", "type": "function", "function": {"name": "research", "arguments": "{\"topic\":\"Paris climate\"}"}},
                {"id": "call_4", "type": "function", "function": {"name": "flaky", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 12}}),
    );

    let researcher = {
        let rt2 = rt.clone();
        let uuid = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let seen = uuid.clone();
        block_on(rt.tool_call(
            "research",
            json!({"topic": "Paris climate"}),
            CallOptions {
                tool_call_id: Some("call_3".into()),
                ..opts(&stack)
            },
            move |_| {
                let rt = rt2.clone();
                let seen = seen.clone();
                async move {
                    let sub = rt.push_scope("researcher", ScopeType::Agent, ScopeOptions::default())?;
                    *seen.lock().unwrap() = sub.uuid().to_string();
                    let answer = rt
                        .llm_call(
                            "anthropic.messages",
                            LlmRequest::new(json!({"model": "claude-sonnet", "messages": [
                                {"role": "user", "content": "Summarize the climate of Paris."}]})),
                            CallOptions {
                                model_name: Some("claude-sonnet".into()),
                                ..Default::default()
                            },
                            |_| async {
                                Ok(json!({"id": "msg_1", "model": "claude-sonnet", "stop_reason": "end_turn",
                                    "content": [{"type": "text", "text": "Mild and rainy."}],
                                    "usage": {"input_tokens": 7, "output_tokens": 5,
                                              "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}}))
                            },
                        )
                        .await?;
                    rt.pop_scope(&sub, PopOptions { output: Some(answer.clone()), ..Default::default() })?;
                    Ok(json!("Mild and rainy."))
                }
            },
        ))
        .unwrap();
        let s = uuid.lock().unwrap().clone();
        s
    };

    let failed = block_on(rt.tool_call(
        "flaky",
        json!({}),
        CallOptions {
            tool_call_id: Some("call_4".into()),
            ..opts(&stack)
        },
        |_| async { Err(RelayError::Internal("disk full".into())) },
    ));
    assert!(failed.is_err());

    rt.mark(
        "checkpoint",
        nemo_relay_core::MarkOptions {
            stack: Some(stack.clone()),
            data: Some(json!({"step": 2})),
            ..Default::default()
        },
    )
    .unwrap();

    llm(
        json!({"model": "gpt-4.1", "messages": [
            {"role": "user", "content": "Weather in Paris? Also clean my disk."},
            {"role": "tool", "tool_call_id": "call_3", "content": "Mild and rainy."}]}),
        json!({"id": "resp-3", "model": "gpt-4.1", "choices": [{"finish_reason": "stop",
            "message": {"role": "assistant", "content": "It is 18C and sunny in Paris."}}],
            "usage": {"prompt_tokens": 60, "completion_tokens": 9}}),
    );

    rt.pop_scope(
        &agent,
        PopOptions {
            stack: Some(stack.clone()),
            output: Some(json!({"answer": "It is 18C and sunny in Paris."})),
            ..Default::default()
        },
    )
    .unwrap();
    Run {
        agent: agent.uuid().to_string(),
        researcher,
    }
}
