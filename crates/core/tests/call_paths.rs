//! The three ways a managed call runs — bare (nobody observes it),
//! observed (only subscribers), full (middleware) — behave as one: the same
//! events, the same scopes, the same answers, whichever stages answer at once
//! and whichever later.

mod support;

use std::sync::{Arc, Mutex};

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::{guard, rewrite};
use nemo_relay_core::{
    CallOptions, ErrorCode, Json, Middleware, Registration, RelayError, Runtime, ScopeStack, Step,
    Verdict,
};
use serde_json::json;
use support::Recorder;

fn opts(stack: &ScopeStack) -> CallOptions {
    CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    }
}

/// The events of one call, without what differs run to run.
fn shape(events: &[nemo_relay_core::Event]) -> Vec<Json> {
    events
        .iter()
        .map(|e| {
            let mut v = e.to_json();
            let m = v.as_object_mut().unwrap();
            for key in ["uuid", "parent_uuid", "timestamp"] {
                m.remove(key);
            }
            v
        })
        .collect()
}

#[test]
fn a_call_only_subscribers_observe_emits_what_the_full_pipeline_emits() {
    // Same calls three times: observed only; observed only on a snapshot
    // the caller took (as the Node addon does); then with a middleware that
    // does nothing, which takes them through every stage of the pipeline.
    #[derive(Clone, Copy, PartialEq)]
    enum Path {
        Observed,
        CallerSnapshot,
        Full,
    }
    let run = |path: Path| {
        let rt = Runtime::new();
        let rec = Recorder::install(&rt);
        if path == Path::Full {
            rt.register(Registration::new(
                "noop",
                Middleware::ToolRequestIntercept(rewrite(|_, a: Json| Ok(a))),
            ))
            .unwrap();
        }
        let stack = ScopeStack::new();
        let base = CallOptions {
            stack: Some(stack.clone()),
            tool_call_id: Some("call_9".into()),
            data: Some(json!({"app": "state"})),
            metadata: Some(json!({"caller": "test"})),
            ..Default::default()
        };
        // A snapshot is for one call: each call takes its own.
        let o = || CallOptions {
            snapshot: (path == Path::CallerSnapshot).then(|| rt.call_snapshot(Some(stack.clone()))),
            ..base.clone()
        };
        let ok = block_on(
            rt.tool_call("lookup", json!({"q": 1}), o(), |a| async move {
                Ok(json!({"got": a}))
            }),
        );
        assert!(ok.is_ok());
        let failed = block_on(rt.tool_call("lookup", json!({"q": 2}), o(), |_| async {
            Err::<Json, _>(RelayError::callback("nope"))
        }));
        assert!(failed.is_err());
        let mut pending = Box::pin(rt.tool_call("lookup", json!({"q": 3}), o(), |_| {
            std::future::pending::<nemo_relay_core::Result<Json>>()
        }));
        assert!(nemo_relay_core::executor::poll_once(pending.as_mut()).is_pending());
        drop(pending);
        // Cancelled with a nested call in flight: the inner call ends first.
        let inner_rt = rt.clone();
        let mut outer = Box::pin(rt.tool_call("outer", json!({}), o(), move |_| {
            let rt = inner_rt.clone();
            async move {
                rt.tool_call("inner", json!({}), CallOptions::default(), |_| {
                    std::future::pending::<nemo_relay_core::Result<Json>>()
                })
                .await
            }
        }));
        assert!(nemo_relay_core::executor::poll_once(outer.as_mut()).is_pending());
        drop(outer);
        rt.flush().unwrap();
        let trace = rec.trace();
        assert_eq!(
            trace[trace.len() - 4..],
            ["start:outer", "start:inner", "end:inner", "end:outer"]
        );
        shape(&rec.events())
    };
    let observed = run(Path::Observed);
    assert_eq!(observed.len(), 10);
    assert_eq!(observed, run(Path::CallerSnapshot));
    assert_eq!(observed, run(Path::Full));
}

/// Pending once (waking itself), then ready: middleware that answers later.
struct Later(bool);
impl std::future::Future for Later {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A stage's answer: `f()` at once, or after one pending poll.
fn answer<T: Send + 'static>(later: bool, f: impl FnOnce() -> T + Send + 'static) -> Step<T> {
    if later {
        Step::pending(async move {
            Later(false).await;
            f()
        })
    } else {
        Step::ready(f())
    }
}

#[test]
fn stages_mixing_immediate_and_later_answers_run_every_middleware_in_order() {
    let rt = Runtime::new();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let guard = |name: &'static str, later: bool, reject: bool| {
        let log = log.clone();
        Middleware::ToolConditionalExecution(Arc::new(move |_, args: &Json| {
            let log = log.clone();
            let reject = reject && args["reject"] == true;
            let verdict = move || {
                log.lock().unwrap().push(name.into());
                Ok(if reject {
                    Verdict::Reject(format!("{name} says no"))
                } else {
                    Verdict::Allow
                })
            };
            answer(later, verdict)
        }))
    };
    let append = |tag: &'static str, later: bool| {
        Middleware::ToolRequestIntercept(Arc::new(move |_, mut args: Json| {
            let tag = tag.to_owned();
            let add = move || {
                let s = format!("{}{tag}", args["path"].as_str().unwrap_or(""));
                args["path"] = json!(s);
                Ok(args.clone())
            };
            answer(later, add)
        }))
    };
    for (i, (name, later, reject)) in [
        ("g1", false, false),
        ("g2", true, false),
        ("g3", false, true),
    ]
    .into_iter()
    .enumerate()
    {
        rt.register(Registration::new(name, guard(name, later, reject)).priority(i as i32))
            .unwrap();
    }
    for (i, (tag, later, stop)) in [
        ("a", true, false),
        ("b", false, false),
        ("c", true, true),
        ("d", false, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut reg = Registration::new(tag, append(tag, later)).priority(i as i32);
        if stop {
            reg = reg.break_chain(true);
        }
        rt.register(reg).unwrap();
    }
    let out = block_on(rt.tool_call(
        "t",
        json!({"path": ""}),
        CallOptions::default(),
        |a| async move { Ok(a) },
    ));
    assert_eq!(
        out.unwrap(),
        json!({"path": "abc"}),
        "d comes after break_chain"
    );
    assert_eq!(*log.lock().unwrap(), ["g1", "g2", "g3"]);
    log.lock().unwrap().clear();
    let err = block_on(rt.tool_call(
        "t",
        json!({"reject": true}),
        CallOptions::default(),
        |_| async { panic!("a rejected call never runs") },
    ))
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::GuardrailRejected);
    assert!(err.to_string().contains("g3 says no"), "{err}");
    assert_eq!(*log.lock().unwrap(), ["g1", "g2", "g3"]);
}

#[test]
fn with_middleware_and_nobody_listening_the_callback_still_runs_as_the_call_middleware_saw() {
    let rt = Runtime::new();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    rt.register(Registration::new(
        "note-uuid",
        Middleware::ToolConditionalExecution(guard(move |ctx, _: &Json| {
            *s.lock().unwrap() = Some(ctx.uuid);
            Ok(Verdict::Allow)
        })),
    ))
    .unwrap();
    let stack = ScopeStack::new();
    let top = block_on(rt.tool_call("lookup", json!({}), opts(&stack), |_| async {
        let top = ScopeStack::current().top();
        Ok(json!([
            top.uuid().to_string(),
            top.name(),
            top.scope_type().as_str()
        ]))
    }))
    .unwrap();
    let uuid = seen.lock().unwrap().unwrap();
    assert_eq!(top, json!([uuid.to_string(), "lookup", "tool"]));
}

#[test]
fn a_bare_calls_scope_asked_for_inside_the_callback_carries_everything_the_call_was_given() {
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let name = String::from("lookup"); // not a literal: the call borrows it
    let handle = block_on(rt.tool_call(
        &name,
        json!({}),
        CallOptions {
            stack: Some(stack.clone()),
            tool_call_id: Some("call_3".into()),
            data: Some(json!({"app": 1})),
            metadata: Some(json!({"k": "v"})),
            attributes: nemo_relay_core::Attributes::REMOTE,
            ..Default::default()
        },
        |_| async {
            let h = ScopeStack::current().top();
            Ok(json!({
                "name": h.name(),
                "type": h.scope_type().as_str(),
                "parent": h.parent_uuid().map(|u| u.to_string()),
                "tool_call_id": h.tool_call_id(),
                "data": h.data(),
                "metadata": h.metadata(),
                "remote": h.attributes().contains(nemo_relay_core::Attributes::REMOTE),
            }))
        },
    ))
    .unwrap();
    assert_eq!(
        handle,
        json!({
            "name": "lookup",
            "type": "tool",
            "parent": stack.root_uuid().to_string(),
            "tool_call_id": "call_3",
            "data": {"app": 1},
            "metadata": {"k": "v"},
            "remote": true,
        })
    );
}

#[test]
fn an_option_of_the_other_kind_of_call_is_refused_on_every_path() {
    // Bare (nothing observes), observed (a subscriber), full (middleware):
    // the same refusal, before the callback runs.
    for path in 0..3 {
        let rt = Runtime::new();
        let _rec = (path >= 1).then(|| Recorder::install(&rt));
        if path == 2 {
            rt.register(Registration::new(
                "noop",
                Middleware::ToolRequestIntercept(rewrite(|_, a: Json| Ok(a))),
            ))
            .unwrap();
        }
        let stack = ScopeStack::new();
        let ran = Arc::new(Mutex::new(0));
        let r = ran.clone();
        let tool = block_on(rt.tool_call(
            "t",
            json!({}),
            CallOptions {
                model_name: Some("gpt".into()),
                ..opts(&stack)
            },
            move |a| {
                *r.lock().unwrap() += 1;
                async move { Ok(a) }
            },
        ));
        let r = ran.clone();
        let llm = block_on(rt.llm_call(
            "m",
            nemo_relay_core::LlmRequest::new(json!({})),
            CallOptions {
                tool_call_id: Some("call_1".into()),
                ..opts(&stack)
            },
            move |_| {
                *r.lock().unwrap() += 1;
                async move { Ok(json!({})) }
            },
        ));
        let manual = block_on(rt.tool_call_start(
            "t",
            &json!({}),
            CallOptions {
                model_name: Some("gpt".into()),
                ..opts(&stack)
            },
        ));
        for (what, r) in [
            ("tool", tool.err()),
            ("llm", llm.err()),
            ("manual", manual.err()),
        ] {
            let e = r.unwrap_or_else(|| panic!("path {path}: {what} call accepted the option"));
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "path {path}: {e}");
        }
        assert_eq!(*ran.lock().unwrap(), 0, "path {path}");
    }
}
