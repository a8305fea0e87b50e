//! Runtime configuration from the environment (its own test binary: it sets
//! a process-wide variable).

use nemo_relay_core::middleware::guard;
use nemo_relay_core::{CallKind, Json, Middleware, Registration, Runtime, RuntimeConfig, Verdict};

#[test]
fn the_queue_capacity_can_be_set_from_the_environment() {
    std::env::set_var("NEMO_RELAY_QUEUE_CAPACITY", "1234");
    assert_eq!(RuntimeConfig::default().queue_capacity, 1234);
    std::env::set_var("NEMO_RELAY_QUEUE_CAPACITY", "zero");
    assert_eq!(
        RuntimeConfig::default().queue_capacity,
        16_384,
        "garbage falls back to the default"
    );
    std::env::remove_var("NEMO_RELAY_QUEUE_CAPACITY");
    let rt = Runtime::new();
    assert_eq!(rt.stats().dispatcher.capacity, 16_384);
    std::env::set_var("NEMO_RELAY_QUEUE_OVERFLOW", "0");
    assert_eq!(
        RuntimeConfig::default().overflow_capacity,
        0,
        "0 turns the overflow off"
    );
    std::env::remove_var("NEMO_RELAY_QUEUE_OVERFLOW");
    assert_eq!(RuntimeConfig::default().overflow_capacity, 1 << 18);
}

#[test]
fn is_bare_tells_whether_calls_of_a_kind_have_anything_to_do() {
    let rt = Runtime::new();
    assert!(rt.is_bare(CallKind::Tool) && rt.is_bare(CallKind::Llm));
    rt.register(Registration::new(
        "g",
        Middleware::ToolConditionalExecution(guard(|_, _: &Json| Ok(Verdict::Allow))),
    ))
    .unwrap();
    assert!(!rt.is_bare(CallKind::Tool));
    assert!(
        rt.is_bare(CallKind::Llm),
        "tool middleware does not affect LLM calls"
    );
    assert!(rt.deregister(nemo_relay_core::Family::ToolConditionalExecution, "g"));
    assert!(rt.is_bare(CallKind::Tool));
    rt.register(Registration::new(
        "sub",
        Middleware::Subscriber(nemo_relay_core::subscriber_fn(|_| {})),
    ))
    .unwrap();
    assert!(!rt.is_bare(CallKind::Llm), "a subscriber sees every call");
}

#[test]
fn activity_counters_follow_registrations_and_subscribers_count_themselves_out() {
    use std::sync::atomic::Ordering::Relaxed;
    let rt = Runtime::new();
    let a = rt.activity();
    assert_eq!(
        (
            a.listeners.load(Relaxed),
            a.tool_middleware.load(Relaxed),
            a.llm_middleware.load(Relaxed)
        ),
        (0, 0, 0)
    );
    rt.register(Registration::new(
        "g",
        Middleware::LlmConditionalExecution(guard(|_, _: &nemo_relay_core::LlmRequest| {
            Ok(Verdict::Allow)
        })),
    ))
    .unwrap();
    rt.register(Registration::new(
        "sub",
        Middleware::Subscriber(nemo_relay_core::subscriber_fn(|_| {})),
    ))
    .unwrap();
    assert_eq!(
        (
            a.listeners.load(Relaxed),
            a.tool_middleware.load(Relaxed),
            a.llm_middleware.load(Relaxed)
        ),
        (1, 0, 1)
    );
    assert!(rt.deregister(nemo_relay_core::Family::Subscriber, "sub"));
    rt.flush().unwrap();
    assert_eq!(
        a.listeners.load(Relaxed),
        0,
        "a removed subscriber counts itself out"
    );
}

#[test]
fn a_bare_calls_scope_stack_is_topped_by_the_call_under_the_current_scope() {
    use nemo_relay_core::{CallOptions, ScopeOptions, ScopeStack, ScopeType};
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let agent = rt
        .push_scope(
            "agent",
            ScopeType::Agent,
            ScopeOptions {
                stack: Some(stack.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let opts = |metadata| CallOptions {
        stack: Some(stack.clone()),
        tool_call_id: Some("call_7".into()),
        metadata,
        ..Default::default()
    };
    let child = rt
        .bare_call_stack(CallKind::Tool, "search", opts(None))
        .unwrap();
    let top = child.top();
    assert_eq!((top.name(), top.scope_type()), ("search", ScopeType::Tool));
    assert_eq!(top.parent_uuid(), Some(agent.uuid()));
    assert_eq!(top.tool_call_id(), Some("call_7"));
    assert_eq!(stack.top(), agent, "the caller's stack is unchanged");
    let bad = rt.bare_call_stack(CallKind::Tool, "search", opts(Some(serde_json::json!(1))));
    assert_eq!(
        bad.unwrap_err().code(),
        nemo_relay_core::ErrorCode::InvalidArgument
    );
    let empty = rt.bare_call_stack(CallKind::Llm, "", CallOptions::default());
    assert_eq!(
        empty.unwrap_err().code(),
        nemo_relay_core::ErrorCode::InvalidArgument
    );
}
