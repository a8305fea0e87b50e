//! Scope stack behaviour.

mod support;

use std::sync::Arc;
use std::time::Duration;

use nemo_relay_core::executor::block_on;
use nemo_relay_core::scope::isolate;
use nemo_relay_core::{
    middleware, CallOptions, ErrorCode, Json, Middleware, PopOptions, Registration, Runtime,
    ScopeOptions, ScopeStack, ScopeType, Verdict,
};
use serde_json::json;
use support::{data, Recorder};

fn push(rt: &Runtime, stack: &ScopeStack, name: &str) -> nemo_relay_core::ScopeHandle {
    rt.push_scope(
        name,
        ScopeType::Function,
        ScopeOptions {
            stack: Some(stack.clone()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn pop(
    rt: &Runtime,
    stack: &ScopeStack,
    h: &nemo_relay_core::ScopeHandle,
) -> nemo_relay_core::Result<()> {
    rt.pop_scope(
        h,
        PopOptions {
            stack: Some(stack.clone()),
            ..Default::default()
        },
    )
}

#[test]
fn nested_scopes_name_their_enclosing_scope_as_parent() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let a = push(&rt, &stack, "a");
    let b = push(&rt, &stack, "b");
    assert_eq!(a.parent_uuid(), Some(stack.root_uuid()));
    assert_eq!(b.parent_uuid(), Some(a.uuid()));
    assert_eq!(stack.top(), b);
    assert_eq!(stack.scopes(), vec![a, b]);
}

#[test]
fn popping_a_scope_that_is_not_on_top_fails_and_changes_nothing() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let a = push(&rt, &stack, "a");
    let b = push(&rt, &stack, "b");
    let err = pop(&rt, &stack, &a).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ScopeNotOnTop);
    assert!(err.to_string().contains("'a'") && err.to_string().contains("'b'"));
    assert_eq!(stack.scopes(), vec![a.clone(), b.clone()]);
    pop(&rt, &stack, &b).unwrap();
    pop(&rt, &stack, &a).unwrap();
    assert_eq!(stack.depth(), 0);
}

#[test]
fn every_copy_of_a_scope_handle_sees_that_it_ended() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let h = push(&rt, &stack, "once");
    let seen_elsewhere = stack.top();
    assert!(!h.is_ended());
    pop(&rt, &stack, &seen_elsewhere).unwrap();
    assert!(h.is_ended());
    // A failed pop ends nothing.
    let a = push(&rt, &stack, "a");
    let b = push(&rt, &stack, "b");
    assert!(pop(&rt, &stack, &a).is_err());
    assert!(!a.is_ended());
    pop(&rt, &stack, &b).unwrap();
    pop(&rt, &stack, &a).unwrap();
}

#[test]
fn popping_a_scope_twice_reports_not_found() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let a = push(&rt, &stack, "a");
    pop(&rt, &stack, &a).unwrap();
    assert_eq!(
        pop(&rt, &stack, &a).unwrap_err().code(),
        ErrorCode::NotFound
    );
}

#[test]
fn popping_a_scope_from_another_stack_is_a_foreign_scope_error() {
    let rt = Runtime::new();
    let s1 = ScopeStack::new();
    let s2 = ScopeStack::new();
    let a = push(&rt, &s1, "a");
    let b = push(&rt, &s2, "b");
    assert_eq!(
        pop(&rt, &s2, &a).unwrap_err().code(),
        ErrorCode::ForeignScope
    );
    assert_eq!(s2.top(), b);
    assert_eq!(s1.top(), a);
}

#[test]
fn the_implicit_root_cannot_be_popped() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let root = stack.top();
    assert_eq!(
        pop(&rt, &stack, &root).unwrap_err().code(),
        ErrorCode::RootScope
    );
}

#[test]
fn a_fork_inherits_open_scopes_but_cannot_pop_them_and_does_not_leak_back() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let a = push(&rt, &stack, "a");
    let fork = stack.fork();
    assert_eq!(fork.top(), a);
    assert_eq!(
        pop(&rt, &fork, &a).unwrap_err().code(),
        ErrorCode::ForeignScope
    );
    let inner = push(&rt, &fork, "inner");
    assert_eq!(inner.parent_uuid(), Some(a.uuid()));
    assert_eq!(
        stack.top(),
        a,
        "the original stack never sees the fork's scopes"
    );
    pop(&rt, &fork, &inner).unwrap();
}

#[test]
fn a_fork_at_an_open_scope_or_the_base_starts_there_whatever_was_pushed_since() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let agent = push(&rt, &stack, "agent");
    let child = stack.fork();
    let sibling = push(&rt, &stack, "sibling");

    let at_agent = stack.fork_at(Some(agent.uuid()));
    assert_eq!(at_agent.top(), agent, "not the sibling pushed since");
    assert_eq!(
        pop(&rt, &at_agent, &agent).unwrap_err().code(),
        ErrorCode::ForeignScope
    );
    assert_eq!(child.fork_at(None).top(), agent, "the base of a fork");
    assert_eq!(stack.owned_scopes(), [sibling.clone(), agent.clone()]);
    assert!(
        child.owned_scopes().is_empty(),
        "a fork owns what it pushed"
    );
    // A scope no longer on the stack: a plain fork.
    pop(&rt, &stack, &sibling).unwrap();
    assert_eq!(stack.fork_at(Some(sibling.uuid())).top(), agent);
}

#[test]
fn a_stack_of_100k_unended_scopes_is_freed_without_overflowing_a_small_thread_stack() {
    // Users who leak `push_scope` build deep stacks; freeing one must not
    // recurse once per frame. 256 KiB is far less than any default thread
    // stack: a recursive drop of 100k frames needs several megabytes.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let rt = Runtime::new();
            let stack = ScopeStack::new();
            for i in 0..100_000 {
                push(&rt, &stack, if i % 2 == 0 { "even" } else { "odd" });
            }
            assert_eq!(stack.depth(), 100_000);
            let fork = stack.fork();
            drop(stack);
            assert_eq!(
                fork.depth(),
                100_000,
                "a fork keeps the shared frames alive"
            );
            drop(fork);
        })
        .unwrap()
        .join()
        .expect("dropping a deep stack must not overflow the thread's stack");
}

#[test]
fn empty_scope_names_are_rejected() {
    let rt = Runtime::new();
    let err = rt
        .push_scope("", ScopeType::Agent, ScopeOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[test]
fn the_current_stack_is_per_thread_by_default() {
    let rt = Runtime::new();
    let here = rt
        .push_scope("main-thread", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    let other_top = std::thread::spawn(|| ScopeStack::current().top().name().to_owned())
        .join()
        .unwrap();
    assert_eq!(other_top, "root");
    rt.pop_scope(&here, PopOptions::default()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokio_tasks_keep_separate_parents() {
    let rt = Runtime::new();
    let agent = rt
        .push_scope("agent", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    let stack = ScopeStack::current();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let rt = rt.clone();
        let task = stack.fork().scope(async move {
            let outer = rt
                .push_scope(
                    &format!("task-{i}"),
                    ScopeType::Function,
                    ScopeOptions::default(),
                )
                .unwrap();
            tokio::time::sleep(Duration::from_millis((i % 5) as u64)).await;
            let inner = rt
                .push_scope("step", ScopeType::Function, ScopeOptions::default())
                .unwrap();
            tokio::task::yield_now().await;
            assert_eq!(inner.parent_uuid(), Some(outer.uuid()));
            rt.pop_scope(&inner, PopOptions::default()).unwrap();
            rt.pop_scope(&outer, PopOptions::default()).unwrap();
            outer.parent_uuid()
        });
        tasks.push(tokio::spawn(task));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Some(agent.uuid()));
    }
    assert_eq!(stack.top(), agent);
}

#[tokio::test]
async fn isolate_gives_each_branch_its_own_stack() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let branch = |name: &'static str| {
        let rt = rt.clone();
        async move {
            let s = rt
                .push_scope(name, ScopeType::Function, ScopeOptions::default())
                .unwrap();
            tokio::task::yield_now().await;
            let top = ScopeStack::current().top();
            rt.pop_scope(&s, PopOptions::default()).unwrap();
            top.name().to_owned()
        }
    };
    let (a, b) = stack
        .clone()
        .scope(async { tokio::join!(isolate(branch("a")), isolate(branch("b"))) })
        .await;
    assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
    assert_eq!(stack.depth(), 0);
}

#[test]
fn subscribers_are_delivered_in_priority_order_across_global_and_scope_local_ones() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = |label: &'static str| {
        let order = order.clone();
        Middleware::Subscriber(nemo_relay_core::subscriber_fn(move |e| {
            if &*e.name == "probe" {
                order.lock().unwrap().push(label);
            }
        }))
    };
    rt.register(Registration::new("global-0", recorder("global-0")))
        .unwrap();
    rt.register(Registration::new("global--1", recorder("global--1")).priority(-1))
        .unwrap();
    let outer = push(&rt, &stack, "outer");
    rt.register(
        Registration::new("outer-0", recorder("outer-0"))
            .in_scope(&outer)
            .on_stack(&stack),
    )
    .unwrap();
    rt.register(
        Registration::new("outer--2", recorder("outer--2"))
            .priority(-2)
            .in_scope(&outer)
            .on_stack(&stack),
    )
    .unwrap();
    rt.mark(
        "probe",
        nemo_relay_core::MarkOptions {
            stack: Some(stack.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    rt.flush().unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["outer--2", "global--1", "global-0", "outer-0"]
    );
    pop(&rt, &stack, &outer).unwrap();
}

#[test]
fn scope_local_middleware_applies_inside_its_scope_and_disappears_on_pop() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let call = |rt: &Runtime| {
        block_on(rt.tool_call(
            "shell",
            json!({}),
            CallOptions {
                stack: Some(stack.clone()),
                ..Default::default()
            },
            |_| async { Ok(json!("ran")) },
        ))
    };
    let scope = push(&rt, &stack, "request");
    rt.register(
        Registration::new(
            "deny-all",
            Middleware::ToolConditionalExecution(middleware::guard(|_, _: &Json| {
                Ok(Verdict::Reject("not in this request".into()))
            })),
        )
        .in_scope(&scope)
        .on_stack(&stack),
    )
    .unwrap();
    let inner = push(&rt, &stack, "inner");
    assert_eq!(
        call(&rt).unwrap_err().code(),
        ErrorCode::GuardrailRejected,
        "visible from nested scopes"
    );
    pop(&rt, &stack, &inner).unwrap();
    pop(&rt, &stack, &scope).unwrap();
    assert_eq!(call(&rt).unwrap(), json!("ran"));
}

#[test]
fn scope_local_registration_needs_an_open_scope() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let s = push(&rt, &stack, "s");
    pop(&rt, &stack, &s).unwrap();
    let err = rt
        .register(
            Registration::new(
                "x",
                Middleware::ToolRequestIntercept(middleware::rewrite(|_, v: Json| Ok(v))),
            )
            .in_scope(&s)
            .on_stack(&stack),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
}

#[test]
fn a_scope_local_subscriber_sees_its_own_scopes_end_event_and_nothing_after() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let scope = push(&rt, &stack, "owner");
    let rec = Arc::new(Recorder::default());
    rt.register(
        Registration::new("local", Middleware::Subscriber(rec.clone()))
            .in_scope(&scope)
            .on_stack(&stack),
    )
    .unwrap();
    assert!(rt.has_listeners());
    let child = push(&rt, &stack, "child");
    pop(&rt, &stack, &child).unwrap();
    pop(&rt, &stack, &scope).unwrap();
    push(&rt, &stack, "after");
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:child", "end:child", "end:owner"]);
}

#[test]
fn end_metadata_is_merged_over_start_metadata_and_output_is_emitted() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let stack = ScopeStack::new();
    let s = rt
        .push_scope(
            "planner",
            ScopeType::Agent,
            ScopeOptions {
                stack: Some(stack.clone()),
                input: Some(json!({"task": "summarize"})),
                metadata: Some(json!({"session_id": "s-1"})),
                data: Some(json!("private")),
                ..Default::default()
            },
        )
        .unwrap();
    rt.pop_scope(
        &s,
        PopOptions {
            stack: Some(stack),
            output: Some(json!({"ok": true})),
            metadata: Some(json!({"turns": 3})),
            ..Default::default()
        },
    )
    .unwrap();
    rt.flush().unwrap();
    let start = rec.find("planner", Some(nemo_relay_core::ScopePhase::Start));
    let end = rec.find("planner", Some(nemo_relay_core::ScopePhase::End));
    assert_eq!(data(&start), json!({"task": "summarize"}));
    assert_eq!(data(&end), json!({"ok": true}));
    assert_eq!(end.metadata, Some(json!({"session_id": "s-1", "turns": 3})));
    assert!(end.timestamp > start.timestamp);
}

#[test]
fn a_panic_inside_a_scoped_future_restores_the_callers_current_stack() {
    let outer = ScopeStack::new();
    let rt = Runtime::new();
    let h = rt
        .push_scope(
            "outer",
            ScopeType::Agent,
            ScopeOptions {
                stack: Some(outer.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    outer.clone().sync_scope(|| {
        let inner = ScopeStack::new();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(inner.scope(async { panic!("callback failed") }))
        }));
        assert!(caught.is_err());
        assert_eq!(
            ScopeStack::current().top(),
            h,
            "the outer scope is current again"
        );
    });
    assert_eq!(ScopeStack::current().top().name(), "root");
}

#[test]
fn a_scoped_futures_destructors_still_see_its_stack() {
    struct SeesStack(Arc<std::sync::Mutex<Option<String>>>);
    impl Drop for SeesStack {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(ScopeStack::current().top().name().to_owned());
        }
    }
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    rt.push_scope(
        "owner",
        ScopeType::Function,
        ScopeOptions {
            stack: Some(stack.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let guard = SeesStack(seen.clone());
    let fut = stack.scope(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let mut fut = Box::pin(fut);
    assert!(nemo_relay_core::executor::poll_once(fut.as_mut()).is_pending());
    drop(fut);
    assert_eq!(seen.lock().unwrap().as_deref(), Some("owner"));
}

#[test]
fn a_far_future_timestamp_does_not_drag_later_ids_into_the_future() {
    // Ids are strictly increasing per thread; minted for a caller's
    // timestamp, one in 2200 would make every later id of the thread 2200.
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let far = nemo_relay_core::Timestamp::from_unix_nanos(7_258_118_400_000_000_000); // 2200
    let future = rt
        .push_scope(
            "backfilled",
            ScopeType::Function,
            ScopeOptions {
                stack: Some(stack.clone()),
                timestamp: Some(far),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        future.started_at(),
        far,
        "the event keeps the caller's time"
    );
    let later = push(&rt, &stack, "now");
    let id_ms =
        |h: &nemo_relay_core::ScopeHandle| h.uuid().get_timestamp().unwrap().to_unix().0 * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        * 1000;
    assert!(
        id_ms(&later).abs_diff(now_ms) < 60_000,
        "the next id is minted for now"
    );
    assert!(id_ms(&future).abs_diff(now_ms) < 60_000);
}
