//! ATIF exporter: trajectories of a run with tools, LLM calls, an error, a
//! guardrail rejection and a nested agent.

mod support;

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::guard;
use nemo_relay_core::{
    CallOptions, LlmRequest, Middleware, PopOptions, Registration, Runtime, ScopeHandle,
    ScopeOptions, ScopeStack, ScopeType, Verdict,
};
use nemo_relay_observability::atif::{AtifConfig, AtifExporter};
use serde_json::{json, Value};
use support::{agent_run, scratch_dir, Run};

fn exported_run() -> (Value, Run) {
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig::default()).unwrap();
    atif.register(&rt).unwrap();
    let run = agent_run(&rt);
    (atif.export_value().unwrap(), run)
}

/// A runtime with an ATIF exporter that writes files to a fresh directory.
fn writing_files(name: &str) -> (std::path::PathBuf, Runtime, AtifExporter) {
    let dir = scratch_dir(name);
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig {
        output_directory: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    atif.register(&rt).unwrap();
    (dir, rt, atif)
}

/// The trajectory file written for session `id` under `dir`.
fn written(dir: &std::path::Path, id: impl std::fmt::Display) -> Value {
    let path = dir.join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// One flow of work on its own stack of `rt`.
struct Flow<'a> {
    rt: &'a Runtime,
    stack: ScopeStack,
}

impl<'a> Flow<'a> {
    fn new(rt: &'a Runtime) -> Self {
        Flow {
            rt,
            stack: ScopeStack::new(),
        }
    }

    fn push(&self, name: &str, t: ScopeType) -> ScopeHandle {
        let opts = ScopeOptions {
            stack: Some(self.stack.clone()),
            ..Default::default()
        };
        self.rt.push_scope(name, t, opts).unwrap()
    }

    fn pop(&self, h: &ScopeHandle) {
        let opts = PopOptions {
            stack: Some(self.stack.clone()),
            ..Default::default()
        };
        self.rt.pop_scope(h, opts).unwrap();
    }

    fn calls(&self) -> CallOptions {
        CallOptions {
            stack: Some(self.stack.clone()),
            ..Default::default()
        }
    }

    /// A tool call `name(args)` that returns `out`.
    fn tool(&self, name: &str, args: Value, out: Value) {
        block_on(self.rt.tool_call(name, args, self.calls(), move |_| {
            let out = out.clone();
            async move { Ok(out) }
        }))
        .unwrap();
    }
}

/// The names of the tool calls of every step, in order.
fn tool_names(doc: &Value) -> Vec<&str> {
    steps(doc)
        .iter()
        .flat_map(|s| s["tool_calls"].as_array().into_iter().flatten())
        .map(|c| c["function_name"].as_str().unwrap())
        .collect()
}

fn steps(doc: &Value) -> &Vec<Value> {
    doc["steps"].as_array().unwrap()
}

/// The step whose tool_calls contain `id`.
fn step_with_call<'a>(doc: &'a Value, id: &str) -> &'a Value {
    steps(doc)
        .iter()
        .find(|s| {
            s["tool_calls"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["tool_call_id"] == id))
        })
        .unwrap_or_else(|| panic!("no step calls {id}"))
}

fn result_for<'a>(step: &'a Value, id: &str) -> &'a Value {
    step["observation"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source_call_id"] == id)
        .unwrap_or_else(|| panic!("no result for {id} in {step:#}"))
}

#[test]
fn the_root_agent_becomes_one_trajectory_with_sequential_steps() {
    let (doc, run) = exported_run();
    assert_eq!(doc["schema_version"], "ATIF-v1.7");
    assert_eq!(doc["session_id"], run.agent.as_str());
    assert_eq!(doc["trajectory_id"], run.agent.as_str());
    assert_eq!(doc["agent"]["name"], "weather-agent");
    assert_eq!(doc["agent"]["model_name"], "gpt-4.1-2025");
    assert_eq!(doc["extra"]["nemo_relay"]["session_id"], "s-1");
    let ids: Vec<u64> = steps(&doc)
        .iter()
        .map(|s| s["step_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    let sources: Vec<&str> = steps(&doc)
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    // system prompt, user turn, 3 agent turns; the continuation calls add no user step.
    assert_eq!(sources, ["system", "user", "agent", "agent", "agent"]);
    assert_eq!(steps(&doc)[0]["message"], "You are a weather bot.");
    assert_eq!(
        steps(&doc)[1]["message"],
        "Weather in Paris? Also clean my disk."
    );
    assert_eq!(steps(&doc)[4]["message"], "It is 18C and sunny in Paris.");
}

#[test]
fn agent_only_fields_appear_only_on_agent_steps() {
    let (doc, _) = exported_run();
    for s in steps(&doc) {
        if s["source"] != "agent" {
            for f in [
                "model_name",
                "reasoning_effort",
                "reasoning_content",
                "tool_calls",
                "metrics",
            ] {
                assert!(s.get(f).is_none(), "{f} on a {} step", s["source"]);
            }
        }
    }
}

#[test]
fn tool_results_are_matched_to_the_requesting_step_by_call_id() {
    let (doc, _) = exported_run();
    let step = step_with_call(&doc, "call_1");
    let call = &step["tool_calls"].as_array().unwrap()[0];
    assert_eq!(call["function_name"], "get_weather");
    assert_eq!(
        call["arguments"],
        json!({"city": "Paris"}),
        "JSON-string arguments become an object"
    );
    assert_eq!(result_for(step, "call_1")["content"], "18C, sunny");
    for s in steps(&doc) {
        let calls: Vec<&Value> = s["tool_calls"]
            .as_array()
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        for r in s["observation"]["results"].as_array().into_iter().flatten() {
            let id = &r["source_call_id"];
            assert!(
                calls.iter().any(|c| &c["tool_call_id"] == id),
                "{id} resolves in its own step"
            );
        }
    }
}

#[test]
fn a_rejected_call_is_answered_with_the_guardrail_reason() {
    let (doc, _) = exported_run();
    let r = result_for(step_with_call(&doc, "call_2"), "call_2");
    assert_eq!(r["content"], "rejected by guardrail 'no-rm': rm is blocked");
    assert_eq!(r["extra"]["status"], "rejected");
}

#[test]
fn a_failed_tool_is_answered_with_its_error() {
    let (doc, _) = exported_run();
    let r = result_for(step_with_call(&doc, "call_4"), "call_4");
    assert!(r["content"].as_str().unwrap().contains("disk full"), "{r}");
    assert_eq!(r["extra"]["error"]["type"], "internal");
}

#[test]
fn llm_metrics_carry_tokens_cache_and_cost_and_final_metrics_sum_them() {
    let (doc, _) = exported_run();
    let first = step_with_call(&doc, "call_1");
    assert_eq!(first["metrics"]["prompt_tokens"], 20);
    assert_eq!(first["metrics"]["completion_tokens"], 10);
    assert_eq!(first["metrics"]["cached_tokens"], 4);
    assert_eq!(first["metrics"]["cost_usd"], 0.001);
    assert_eq!(first["llm_call_count"], 1);
    let fm = &doc["final_metrics"];
    assert_eq!(fm["total_prompt_tokens"], 20 + 40 + 60);
    assert_eq!(fm["total_completion_tokens"], 10 + 12 + 9);
    assert_eq!(fm["total_cached_tokens"], 4);
    assert_eq!(fm["total_cost_usd"], 0.001);
    assert_eq!(fm["total_steps"], steps(&doc).len());
}

#[test]
fn a_nested_agent_is_embedded_and_referenced_from_the_delegating_call() {
    let (doc, run) = exported_run();
    let subs = doc["subagent_trajectories"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    let sub = &subs[0];
    assert_eq!(sub["trajectory_id"], run.researcher.as_str());
    assert_eq!(sub["agent"]["name"], "researcher");
    let sub_sources: Vec<&str> = steps(sub)
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sub_sources, ["user", "agent"]);
    assert_eq!(steps(sub)[1]["message"], "Mild and rainy.");
    // Anthropic usage: prompt = input + cache read + cache write.
    assert_eq!(steps(sub)[1]["metrics"]["prompt_tokens"], 12);
    assert_eq!(steps(sub)[1]["metrics"]["cached_tokens"], 5);

    let r = result_for(step_with_call(&doc, "call_3"), "call_3");
    assert_eq!(
        r["subagent_trajectory_ref"][0]["trajectory_id"],
        run.researcher.as_str()
    );
    assert_eq!(r["content"], "Mild and rainy.");
    // The nested agent's steps are not repeated in the parent.
    assert!(steps(&doc)
        .iter()
        .all(|s| s["message"] != "Mild and rainy."));
}

#[test]
fn optional_fields_are_omitted_rather_than_null() {
    let (doc, _) = exported_run();
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Null => panic!("null at {path}"),
            Value::Object(m) => {
                for (k, v) in m {
                    if k != "extra" && k != "llm_request" && k != "llm_response" {
                        walk(v, &format!("{path}.{k}"));
                    }
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, &format!("{path}[{i}]"))),
            _ => {}
        }
    }
    walk(&doc, "$");
}

#[test]
fn calls_of_one_tool_without_call_ids_are_matched_by_arguments_else_in_the_models_order() {
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig::default()).unwrap();
    atif.register(&rt).unwrap();
    let flow = Flow::new(&rt);
    let agent = flow.push("agent", ScopeType::Agent);
    let call = |name: &str, q: &str| json!({"type": "function", "function": {"name": name, "arguments": json!({"q": q}).to_string()}});
    block_on(rt.llm_call(
        "chat",
        LlmRequest::new(json!({"messages": [{"role": "user", "content": "find a, b, c"}]})),
        flow.calls(),
        move |_| async move {
            Ok(
                json!({"choices": [{"message": {"role": "assistant", "tool_calls": [
                call("search", "a"), call("search", "b"), call("search", "c")]}}]}),
            )
        },
    ))
    .unwrap();
    // Run out of order: "b" first; "c" with arguments an intercept changed.
    for args in [
        json!({"q": "b"}),
        json!({"q": "a"}),
        json!({"q": "c", "limit": 5}),
    ] {
        let out = json!(format!("found {}", args["q"].as_str().unwrap()));
        flow.tool("search", args, out);
    }
    flow.pop(&agent);
    rt.flush().unwrap();

    let doc = atif.export_value().unwrap();
    let step = step_with_call(&doc, "search:1");
    let ids: Vec<&str> = step["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["search:1", "search:2", "search:3"],
        "no call was added"
    );
    assert_eq!(result_for(step, "search:1")["content"], "found a");
    assert_eq!(result_for(step, "search:2")["content"], "found b");
    assert_eq!(result_for(step, "search:3")["content"], "found c");
}

#[test]
fn a_tool_run_after_another_branch_answered_still_answers_its_own_call() {
    // Two branches of one agent: each asks the model, which requests a
    // search, and runs it; branch B's model answers before A's search runs.
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig::default()).unwrap();
    atif.register(&rt).unwrap();
    let flow = Flow::new(&rt);
    let agent = flow.push("agent", ScopeType::Agent);
    let ask = |id: &'static str, q: &'static str| {
        block_on(rt.llm_call(
            "chat",
            LlmRequest::new(json!({"messages": [{"role": "user", "content": q}]})),
            flow.calls(),
            move |_| async move {
                let call = json!({"id": id, "type": "function",
                    "function": {"name": "search", "arguments": json!({"q": q}).to_string()}});
                Ok(json!({"choices": [{"message": {"role": "assistant", "tool_calls": [call]}}]}))
            },
        ))
        .unwrap();
    };
    ask("call_A", "A");
    ask("call_B", "B");
    flow.tool("search", json!({"q": "A"}), json!("found A"));
    flow.tool("search", json!({"q": "B"}), json!("found B"));
    flow.pop(&agent);
    rt.flush().unwrap();

    let doc = atif.export_value().unwrap();
    assert_eq!(tool_names(&doc).len(), 2, "no call was added: {doc}");
    let a = result_for(step_with_call(&doc, "call_A"), "call_A");
    assert_eq!(a["content"], "found A");
    let b = result_for(step_with_call(&doc, "call_B"), "call_B");
    assert_eq!(b["content"], "found B");
}

#[test]
fn a_refused_llm_call_is_told_as_an_llm_call_and_answers_no_tool_call() {
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig::default()).unwrap();
    atif.register(&rt).unwrap();
    rt.register(Registration::new(
        "no-llm",
        Middleware::LlmConditionalExecution(guard(|_, _: &LlmRequest| {
            Ok(Verdict::Reject("llm blocked".into()))
        })),
    ))
    .unwrap();
    let flow = Flow::new(&rt);
    let agent = flow.push("agent", ScopeType::Agent);
    let refused = block_on(rt.llm_call(
        "chat",
        LlmRequest::new(json!({"messages": [{"role": "user", "content": "hi"}]})),
        flow.calls(),
        |_| async { Ok(json!("never")) },
    ));
    assert!(refused.is_err());
    flow.pop(&agent);
    rt.flush().unwrap();

    let doc = atif.export_value().unwrap();
    let texts: Vec<&str> = steps(&doc)
        .iter()
        .filter_map(|s| s["message"].as_str())
        .collect();
    assert!(
        texts.contains(&"LLM call 'chat' rejected by guardrail 'no-llm': llm blocked"),
        "{texts:?}"
    );
}

#[test]
fn a_file_is_written_when_the_root_scope_ends_and_its_events_are_released() {
    let (dir, rt, atif) = writing_files("atif-files");
    let run = agent_run(&rt);
    rt.flush().unwrap();
    let path = dir.join(format!("{}.json", run.agent));
    assert_eq!(atif.written_files(), std::slice::from_ref(&path));
    let doc = written(&dir, &run.agent);
    assert_eq!(doc["session_id"], run.agent.as_str());
    assert_eq!(doc["subagent_trajectories"].as_array().unwrap().len(), 1);
    let why = atif.export().unwrap_err().to_string();
    assert!(
        why.contains("released once its file is written"),
        "the session's events were released after writing: {why}"
    );
}

#[test]
fn writing_files_it_holds_nothing_of_the_work_done_outside_agents() {
    let (dir, rt, atif) = writing_files("atif-outside");
    let flow = Flow::new(&rt);
    for _ in 0..100 {
        flow.tool("outside", json!({"q": 1}), json!(1));
    }
    // An agent under a request scope is still a root agent with its file.
    let request = flow.push("request", ScopeType::Function);
    let agent = flow.push("agent", ScopeType::Agent);
    flow.tool("inside", json!({}), json!(2));
    flow.pop(&agent);
    flow.pop(&request);
    rt.flush().unwrap();

    let doc = written(&dir, agent.uuid());
    assert_eq!(tool_names(&doc), ["inside"]);
    assert!(atif.export().is_err(), "nothing else is buffered");
}

#[test]
fn an_agent_that_started_before_the_exporter_still_gets_its_file_with_its_calls() {
    let dir = scratch_dir("atif-late-register");
    let rt = Runtime::new();
    let flow = Flow::new(&rt);
    let agent = flow.push("agent", ScopeType::Agent);
    let atif = AtifExporter::new(AtifConfig {
        output_directory: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    atif.register(&rt).unwrap();
    flow.tool("search", json!({"q": 1}), json!(1));
    flow.pop(&agent);
    rt.flush().unwrap();
    let doc = written(&dir, agent.uuid());
    assert_eq!(tool_names(&doc), ["search"]);
}

#[test]
fn shutdown_writes_sessions_that_are_still_open() {
    let (dir, rt, atif) = writing_files("atif-open");
    let open = rt
        .push_scope("unfinished", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    atif.shutdown().unwrap();
    assert_eq!(
        atif.written_files(),
        [dir.join(format!("{}.json", open.uuid()))]
    );
    rt.pop_scope(&open, PopOptions::default()).unwrap();
}

#[test]
fn clear_forgets_buffered_events_and_export_picks_the_configured_session() {
    let rt = Runtime::new();
    let atif = AtifExporter::new(AtifConfig {
        session_id: Some("s-1".into()),
        ..Default::default()
    })
    .unwrap();
    atif.register(&rt).unwrap();
    let run = agent_run(&rt);
    let other = rt
        .push_scope("other", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    rt.pop_scope(&other, PopOptions::default()).unwrap();
    assert_eq!(
        atif.export_value().unwrap()["session_id"],
        run.agent.as_str()
    );
    assert_eq!(atif.export_all().len(), 2);
    atif.clear();
    assert!(atif.export().is_err());
}

#[test]
fn config_errors_name_the_offending_field() {
    let err = AtifConfig::from_json(json!({"filename_template": "out.json"})).unwrap_err();
    assert_eq!(err.path, "filename_template");
    let err = AtifConfig::from_json(json!({"include_raw_events": "yes"})).unwrap_err();
    assert_eq!(err.path, "include_raw_events");
}
