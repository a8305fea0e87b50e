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
