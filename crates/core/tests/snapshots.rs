//! Call snapshots taken by the caller, registration origins and per-call
//! extensions: what a binding uses to decide, before a call starts, what
//! the call will run, and to reach its own middleware during it.

mod support;

use std::sync::{Arc, Mutex};

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::guard;
use nemo_relay_core::{
    CallExtension, CallOptions, CallSnapshot, Json, Middleware, Origin, Registration, Runtime,
    ScopeStack, Verdict,
};
use serde_json::json;
use support::Recorder;

fn opts(stack: &ScopeStack) -> CallOptions {
    CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    }
}

fn log_guard(log: &Arc<Mutex<Vec<String>>>, name: &'static str) -> Middleware {
    let log = log.clone();
    Middleware::ToolConditionalExecution(guard(move |_, _: &Json| {
        log.lock().unwrap().push(name.into());
        Ok(Verdict::Allow)
    }))
}

#[test]
fn a_call_given_a_snapshot_runs_exactly_the_middleware_it_holds() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.register(Registration::new("before", log_guard(&log, "before")))
        .unwrap();
    let snapshot = rt.call_snapshot(Some(stack.clone()));
    rt.register(Registration::new("after", log_guard(&log, "after")))
        .unwrap();
    let run = |snapshot| {
        block_on(rt.tool_call(
            "search",
            json!({}),
            CallOptions {
                snapshot,
                ..opts(&stack)
            },
            |_| async { Ok(json!(1)) },
        ))
        .unwrap()
    };
    run(Some(snapshot));
    assert_eq!(*log.lock().unwrap(), ["before"]);
    log.lock().unwrap().clear();
    run(None);
    assert_eq!(*log.lock().unwrap(), ["after", "before"]);
}

#[test]
fn a_snapshot_tells_whether_anyone_listens_and_who_registered_each_middleware() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let mine = Origin(7);
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.register(Registration::new("g", log_guard(&log, "g")).origin(mine))
        .unwrap();
    let origins = |s: &CallSnapshot| {
        s.levels()
            .flat_map(|l| l.tool.conditional.entries().iter().map(|e| e.origin))
            .collect::<Vec<_>>()
    };
    let s = rt.call_snapshot(Some(stack.clone()));
    assert!(!s.has_subscribers());
    assert_eq!(origins(&s), [mine]);
    let _rec = Recorder::install(&rt);
    rt.register(Registration::new("h", log_guard(&log, "h")))
        .unwrap();
    let s = rt.call_snapshot(Some(stack.clone()));
    assert!(s.has_subscribers());
    assert_eq!(origins(&s), [mine, Origin::UNKNOWN]);
}

#[test]
fn every_middleware_of_a_call_sees_the_extension_its_caller_gave() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.register(Registration::new(
        "peek",
        Middleware::ToolConditionalExecution(guard(move |ctx, _: &Json| {
            let tag = ctx
                .extension
                .as_ref()
                .and_then(|e| e.0.downcast_ref::<&'static str>().copied());
            s.lock().unwrap().push(tag);
            Ok(Verdict::Allow)
        })),
    ))
    .unwrap();
    for extension in [Some(CallExtension(Arc::new("node"))), None] {
        block_on(rt.tool_call(
            "search",
            json!({}),
            CallOptions {
                extension,
                ..opts(&stack)
            },
            |_| async { Ok(json!(1)) },
        ))
        .unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), [Some("node"), None]);
}

#[test]
fn deregistering_an_origin_removes_its_middleware_and_subscribers_and_nothing_else() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let worker = Origin(9);
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.register(Registration::new("theirs", log_guard(&log, "theirs")).origin(worker))
        .unwrap();
    rt.register(Registration::new("ours", log_guard(&log, "ours")))
        .unwrap();
    let heard = Arc::new(Mutex::new(0usize));
    let h = heard.clone();
    rt.register(
        Registration::new(
            "their-log",
            Middleware::Subscriber(nemo_relay_core::subscriber_fn(move |_| {
                *h.lock().unwrap() += 1
            })),
        )
        .origin(worker),
    )
    .unwrap();

    assert!(rt.deregister_origin(worker));
    assert!(!rt.deregister_origin(worker), "nothing is left to remove");
    assert!(
        !rt.deregister_origin(Origin::UNKNOWN),
        "untagged entries are never removed"
    );

    block_on(rt.tool_call("search", json!({}), opts(&stack), |_| async {
        Ok(json!(1))
    }))
    .unwrap();
    rt.flush().unwrap();
    assert_eq!(*log.lock().unwrap(), ["ours"]);
    assert_eq!(*heard.lock().unwrap(), 0);
    assert!(!rt.call_snapshot(Some(stack)).has_subscribers());
    // The names are free again.
    rt.register(Registration::new("theirs", log_guard(&log, "theirs")))
        .unwrap();
}
