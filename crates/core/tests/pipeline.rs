//! Managed tool and LLM call pipeline.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::{exec, guard, rewrite};
use nemo_relay_core::{
    CallOptions, EndOptions, ErrorCode, Json, LlmRequest, Middleware, Registration, RelayError,
    Runtime, ScopePhase, ScopeStack, Step, Verdict,
};
use serde_json::json;
use support::{data, status, Recorder};

fn opts(stack: &ScopeStack) -> CallOptions {
    CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    }
}

fn tool(rt: &Runtime, stack: &ScopeStack, args: Json) -> nemo_relay_core::Result<Json> {
    block_on(rt.tool_call("search", args, opts(stack), |a| async move {
        Ok(json!({"echo": a}))
    }))
}

fn log_guard(log: &Arc<Mutex<Vec<String>>>, name: &'static str, verdict: Verdict) -> Middleware {
    let log = log.clone();
    Middleware::ToolConditionalExecution(guard(move |_, _: &Json| {
        log.lock().unwrap().push(name.into());
        Ok(verdict.clone())
    }))
}

#[test]
fn a_call_with_no_middleware_returns_the_callback_result_and_emits_start_and_end() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let stack = ScopeStack::new();
    let out = block_on(rt.tool_call(
        "search",
        json!({"q": "rust"}),
        CallOptions {
            stack: Some(stack.clone()),
            tool_call_id: Some("call_1".into()),
            metadata: Some(json!({"caller": "demo"})),
            ..Default::default()
        },
        |a| async move { Ok(json!({"results": [a["q"]]})) },
    ))
    .unwrap();
    assert_eq!(out, json!({"results": ["rust"]}));
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:search", "end:search"]);
    let (start, end) = (rec.events()[0].clone(), rec.events()[1].clone());
    assert_eq!(start.uuid, end.uuid);
    assert_eq!(start.parent_uuid, Some(stack.root_uuid()));
    assert_eq!(data(&start), json!({"q": "rust"}));
    assert_eq!(data(&end), json!({"results": ["rust"]}));
    assert_eq!(
        end.category_profile,
        Some(json!({"tool_call_id": "call_1"}))
    );
    assert_eq!(
        end.metadata_json(),
        Some(json!({"caller": "demo", "otel.status_code": "OK"}))
    );
    assert_eq!(
        end.to_json()["metadata"],
        json!({"caller": "demo", "otel.status_code": "OK"}),
        "the wire form merges the status into metadata"
    );
}

#[test]
fn the_first_guardrail_rejection_wins_and_replaces_the_call_events_with_a_mark() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let log = Arc::new(Mutex::new(Vec::new()));
    let intercepted = Arc::new(AtomicUsize::new(0));
    rt.register(Registration::new("a-allow", log_guard(&log, "a", Verdict::Allow)).priority(1))
        .unwrap();
    rt.register(
        Registration::new(
            "b-deny",
            log_guard(&log, "b", Verdict::Reject("rm is blocked".into())),
        )
        .priority(2),
    )
    .unwrap();
    rt.register(
        Registration::new(
            "c-deny",
            log_guard(&log, "c", Verdict::Reject("later".into())),
        )
        .priority(3),
    )
    .unwrap();
    let i = intercepted.clone();
    rt.register(Registration::new(
        "count",
        Middleware::ToolRequestIntercept(rewrite(move |_, v| {
            i.fetch_add(1, Ordering::SeqCst);
            Ok(v)
        })),
    ))
    .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let opts = CallOptions {
        tool_call_id: Some("call_7".into()),
        ..Default::default()
    };
    let err = block_on(rt.tool_call("shell", json!({"cmd": "rm"}), opts, move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        async { Ok(Json::Null) }
    }))
    .unwrap_err();
    match &err {
        RelayError::GuardrailRejected { guardrail, reason } => {
            assert_eq!(
                (guardrail.as_str(), reason.as_str()),
                ("b-deny", "rm is blocked")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(*log.lock().unwrap(), ["a", "b"]);
    assert_eq!(
        intercepted.load(Ordering::SeqCst),
        0,
        "request intercepts never ran"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["mark:shell"]);
    assert_eq!(
        data(&rec.events()[0]),
        json!({"rejected": true, "rejection_reason": "rm is blocked", "guardrail": "b-deny",
               "kind": "tool_conditional_execution"})
    );
    assert_eq!(
        rec.events()[0].category_profile,
        Some(json!({"tool_call_id": "call_7"})),
        "the rejection names the model's tool call"
    );
}

#[test]
fn a_failing_guardrail_fails_the_call_closed() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "broken",
        Middleware::ToolConditionalExecution(guard(|_, _: &Json| {
            Err(RelayError::callback("policy store down"))
        })),
    ))
    .unwrap();
    let err = tool(&rt, &ScopeStack::new(), json!({})).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallbackFailed);
}

#[test]
fn request_intercepts_rewrite_the_real_arguments_in_priority_order_until_break_chain() {
    let rt = Runtime::new();
    let add = |key: &'static str| {
        Middleware::ToolRequestIntercept(rewrite(move |_, mut v: Json| {
            v[key] = json!(true);
            Ok(v)
        }))
    };
    rt.register(
        Registration::new("second", add("b"))
            .priority(2)
            .break_chain(true),
    )
    .unwrap();
    rt.register(Registration::new("first", add("a")).priority(1))
        .unwrap();
    rt.register(Registration::new("skipped", add("c")).priority(3))
        .unwrap();
    let out = tool(&rt, &ScopeStack::new(), json!({})).unwrap();
    assert_eq!(out, json!({"echo": {"a": true, "b": true}}));
}

#[test]
fn sanitizers_rewrite_only_the_emitted_payloads() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "redact-args",
        Middleware::ToolSanitizeRequest(rewrite(|_, mut v: Json| {
            v["password"] = json!("[redacted]");
            Ok(v)
        })),
    ))
    .unwrap();
    rt.register(Registration::new(
        "redact-result",
        Middleware::ToolSanitizeResponse(rewrite(|_, _| Ok(json!("[hidden]")))),
    ))
    .unwrap();
    let seen = Arc::new(Mutex::new(Json::Null));
    let s = seen.clone();
    let out = block_on(rt.tool_call(
        "login",
        json!({"password": "hunter2"}),
        CallOptions::default(),
        move |a| {
            *s.lock().unwrap() = a.clone();
            async move { Ok(json!({"token": "secret-token"})) }
        },
    ))
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        json!({"password": "hunter2"}),
        "the callback got the real args"
    );
    assert_eq!(
        out,
        json!({"token": "secret-token"}),
        "the caller got the real result"
    );
    rt.flush().unwrap();
    assert_eq!(
        data(&rec.find("login", Some(ScopePhase::Start))),
        json!({"password": "[redacted]"})
    );
    assert_eq!(
        data(&rec.find("login", Some(ScopePhase::End))),
        json!("[hidden]")
    );
}

#[test]
fn a_failing_sanitizer_omits_the_payload_records_why_and_leaves_the_call_alone() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "broken",
        Middleware::ToolSanitizeRequest(rewrite(|_, _| Err(RelayError::callback("boom")))),
    ))
    .unwrap();
    let out = tool(&rt, &ScopeStack::new(), json!({"secret": 1})).unwrap();
    assert_eq!(out, json!({"echo": {"secret": 1}}));
    rt.flush().unwrap();
    let start = rec.find("search", Some(ScopePhase::Start));
    assert_eq!(start.data, None, "never emitted unsanitized");
    assert!(start
        .metadata_str("nemo_relay.sanitizer_error")
        .unwrap()
        .contains("broken"));
    assert_eq!(rt.stats().sanitizer_failures, 1);
}

#[test]
fn a_failing_callback_emits_an_error_end_event_and_returns_the_error() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let err = block_on(rt.tool_call(
        "disk",
        json!({}),
        CallOptions {
            data: Some(json!({"fallback": true})),
            ..Default::default()
        },
        |_| async {
            Err::<Json, _>(RelayError::Callback {
                message: "disk full".into(),
                exception_type: Some("IOError".into()),
                payload: None,
            })
        },
    ))
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallbackFailed);
    rt.flush().unwrap();
    let end = rec.find("disk", Some(ScopePhase::End));
    assert_eq!(status(&end).as_deref(), Some("ERROR"));
    assert_eq!(end.metadata_str("error.type"), Some("callback_failed"));
    assert_eq!(end.metadata_str("exception.type"), Some("IOError"));
    assert!(end
        .metadata_str("otel.status_description")
        .unwrap()
        .contains("disk full"));
    assert_eq!(data(&end), json!({"fallback": true}));
}

#[test]
fn execution_intercepts_wrap_the_callback_with_the_lowest_priority_outermost() {
    let rt = Runtime::new();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    for (name, prio) in [("outer", 1), ("inner", 2)] {
        let log = log.clone();
        rt.register(
            Registration::new(
                name,
                Middleware::ToolExecutionIntercept(exec(move |_, args: Json, next| {
                    let log = log.clone();
                    async move {
                        log.lock().unwrap().push(format!("{name}.before"));
                        let out = next.run(args).await;
                        log.lock().unwrap().push(format!("{name}.after"));
                        out
                    }
                })),
            )
            .priority(prio),
        )
        .unwrap();
    }
    let l = log.clone();
    block_on(
        rt.tool_call("t", json!(1), CallOptions::default(), move |_| {
            l.lock().unwrap().push("callback".into());
            async { Ok(Json::Null) }
        }),
    )
    .unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer.before",
            "inner.before",
            "callback",
            "inner.after",
            "outer.after"
        ]
    );
}

#[test]
fn an_execution_intercept_can_retry_through_next_and_short_circuit() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "retry",
        Middleware::ToolExecutionIntercept(exec(|_, args: Json, next| async move {
            match next.run(args.clone()).await {
                Ok(v) => Ok(v),
                Err(_) => next.run(args).await,
            }
        })),
    ))
    .unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let out = block_on(
        rt.tool_call("flaky", json!({}), CallOptions::default(), move |_| {
            let n = a.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(RelayError::callback("transient"))
                } else {
                    Ok(json!("ok"))
                }
            }
        }),
    )
    .unwrap();
    assert_eq!((out, attempts.load(Ordering::SeqCst)), (json!("ok"), 2));

    let rt = Runtime::new();
    rt.register(Registration::new(
        "cache",
        Middleware::ToolExecutionIntercept(exec(|_, _: Json, _next| async { Ok(json!("cached")) })),
    ))
    .unwrap();
    let out = block_on(
        rt.tool_call("t", json!({}), CallOptions::default(), |_| async {
            panic!("short-circuited callbacks never run")
        }),
    );
    assert_eq!(out.unwrap(), json!("cached"));
}

#[test]
fn a_next_whose_call_was_cancelled_while_its_intercept_ran_says_cancelled() {
    let rt = Runtime::new();
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    rt.register(Registration::new(
        "stalls",
        Middleware::ToolExecutionIntercept(exec(move |_, _: Json, next| {
            *k.lock().unwrap() = Some(next.clone());
            std::future::pending::<nemo_relay_core::Result<Json>>()
        })),
    ))
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut call = Box::pin(
        rt.tool_call("t", json!({}), CallOptions::default(), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok(Json::Null) }
        }),
    );
    assert!(nemo_relay_core::executor::poll_once(call.as_mut()).is_pending());
    drop(call); // the caller gave up: the intercept is cancelled
    let next = kept.lock().unwrap().take().unwrap();
    let err = block_on(next.run(json!({}))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_next_kept_after_its_intercept_settled_is_expired() {
    let rt = Runtime::new();
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    rt.register(Registration::new(
        "leaky",
        Middleware::ToolExecutionIntercept(exec(move |_, args: Json, next| {
            *k.lock().unwrap() = Some(next.clone());
            async move { next.run(args).await }
        })),
    ))
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    block_on(
        rt.tool_call("t", json!({}), CallOptions::default(), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok(Json::Null) }
        }),
    )
    .unwrap();
    let next = kept.lock().unwrap().take().unwrap();
    let err = block_on(next.run(json!({}))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ContinuationExpired);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn asynchronous_middleware_is_awaited() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "slow-guard",
        Middleware::ToolConditionalExecution(Arc::new(|_, args: &Json| {
            let deny = args["deny"].as_bool().unwrap_or(false);
            Step::pending(async move {
                tokio::task::yield_now().await;
                Ok(if deny {
                    Verdict::Reject("async no".into())
                } else {
                    Verdict::Allow
                })
            })
        })),
    ))
    .unwrap();
    let rt2 = rt.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let ok = rt2
            .tool_call(
                "t",
                json!({"deny": false}),
                CallOptions::default(),
                |_| async { Ok(json!(1)) },
            )
            .await;
        assert_eq!(ok.unwrap(), json!(1));
        let err = rt2
            .tool_call(
                "t",
                json!({"deny": true}),
                CallOptions::default(),
                |_| async { Ok(json!(1)) },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::GuardrailRejected);
    });
}

#[test]
fn work_done_inside_a_tool_is_parented_to_that_tool() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let rt2 = rt.clone();
    block_on(
        rt.tool_call("outer", json!({}), CallOptions::default(), move |_| {
            let rt = rt2.clone();
            async move {
                rt.mark("inside", Default::default())?;
                rt.tool_call("inner", json!({}), CallOptions::default(), |_| async {
                    Ok(Json::Null)
                })
                .await
            }
        }),
    )
    .unwrap();
    rt.flush().unwrap();
    let outer = rec.find("outer", Some(ScopePhase::Start));
    assert_eq!(rec.find("inside", None).parent_uuid, Some(outer.uuid));
    assert_eq!(
        rec.find("inner", Some(ScopePhase::Start)).parent_uuid,
        Some(outer.uuid)
    );
}

#[test]
fn dropping_a_call_midway_emits_a_cancelled_end_event() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let call = rt.tool_call("slow", json!({}), CallOptions::default(), |_| async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok(Json::Null)
        });
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(10), call).await;
        assert!(timed_out.is_err());
    });
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:slow", "end:slow"]);
    let end = rec.find("slow", Some(ScopePhase::End));
    assert_eq!(status(&end).as_deref(), Some("ERROR"));
    assert_eq!(end.metadata_str("error.type"), Some("cancelled"));
}

#[test]
fn a_call_dropped_while_its_sanitize_response_runs_still_ends_cancelled() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "slow-redaction",
        Middleware::ToolSanitizeResponse(Arc::new(|_, v: Json| {
            Step::pending(async move {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                Ok(v)
            })
        })),
    ))
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let call = rt.tool_call("t", json!({}), CallOptions::default(), |_| async {
            Ok(json!("done"))
        });
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(10), call).await;
        assert!(timed_out.is_err());
    });
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:t", "end:t"]);
    let end = rec.find("t", Some(ScopePhase::End));
    assert_eq!(end.metadata_str("error.type"), Some("cancelled"));
}

#[test]
fn llm_calls_run_the_llm_families_and_strip_credentials_from_events() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "header-injection",
        Middleware::LlmRequestIntercept(rewrite(|_, mut r: LlmRequest| {
            r.headers.insert("x-team".into(), json!("agents"));
            Ok(r)
        })),
    ))
    .unwrap();
    let mut req = LlmRequest::new(json!({"messages": [{"role": "user", "content": "hi"}]}));
    req.headers
        .insert("Authorization".into(), json!("Bearer sk-123"));
    let out = block_on(rt.llm_call(
        "openai.chat",
        req,
        CallOptions {
            model_name: Some("gpt-4.1".into()),
            ..Default::default()
        },
        |r: LlmRequest| async move {
            assert_eq!(
                r.headers["Authorization"],
                json!("Bearer sk-123"),
                "provider sees credentials"
            );
            Ok(json!({"team": r.headers["x-team"]}))
        },
    ))
    .unwrap();
    assert_eq!(out, json!({"team": "agents"}));
    rt.flush().unwrap();
    let start = rec.find("openai.chat", Some(ScopePhase::Start));
    assert_eq!(data(&start)["headers"], json!({"x-team": "agents"}));
    assert_eq!(
        start.category_profile,
        Some(json!({"model_name": "gpt-4.1"}))
    );
}

#[test]
fn manual_calls_emit_sanitized_start_and_end_events() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "mask",
        Middleware::ToolSanitizeResponse(rewrite(|_, _| Ok(json!("masked")))),
    ))
    .unwrap();
    let h =
        block_on(rt.tool_call_start("lookup", &json!({"id": 1}), CallOptions::default())).unwrap();
    block_on(rt.call_end(&h, &json!("raw"), EndOptions::default())).unwrap();
    let h2 = block_on(rt.tool_call_start("lookup2", &json!({}), CallOptions::default())).unwrap();
    rt.call_failed(&h2, &RelayError::callback("nope"), EndOptions::default())
        .unwrap();
    rt.flush().unwrap();
    assert_eq!(
        rec.trace(),
        ["start:lookup", "end:lookup", "start:lookup2", "end:lookup2"]
    );
    assert_eq!(
        data(&rec.find("lookup", Some(ScopePhase::End))),
        json!("masked")
    );
    assert_eq!(
        status(&rec.find("lookup2", Some(ScopePhase::End))).as_deref(),
        Some("ERROR")
    );
}

#[test]
fn a_manual_call_ends_once_and_a_second_end_or_failure_emits_nothing() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let h = block_on(rt.tool_call_start("lookup", &json!({}), CallOptions::default())).unwrap();
    block_on(rt.call_end(&h, &json!(1), EndOptions::default())).unwrap();
    let again = block_on(rt.call_end(&h, &json!(2), EndOptions::default())).unwrap_err();
    assert_eq!(again.code(), ErrorCode::NotFound);
    let failed = rt
        .call_failed(&h, &RelayError::callback("late"), EndOptions::default())
        .unwrap_err();
    assert_eq!(failed.code(), ErrorCode::NotFound);
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:lookup", "end:lookup"]);
    assert_eq!(data(&rec.find("lookup", Some(ScopePhase::End))), json!(1));
}

#[test]
fn a_manual_call_end_refuses_metadata_that_is_not_an_object_and_stays_open() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let h = block_on(rt.tool_call_start("lookup", &json!({}), CallOptions::default())).unwrap();
    let with = |metadata: Json| EndOptions {
        metadata: Some(metadata),
        ..Default::default()
    };
    for bad in [json!(5), json!("text"), json!([1]), json!(true)] {
        let e = block_on(rt.call_end(&h, &json!(1), with(bad.clone()))).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad}");
        let e = rt
            .call_failed(&h, &RelayError::callback("x"), with(bad.clone()))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad}");
    }
    // Nothing was consumed: the call still ends, once.
    block_on(rt.call_end(&h, &json!(1), with(json!({"rows": 3})))).unwrap();
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:lookup", "end:lookup"]);
}

#[test]
fn synchronous_callback_code_already_runs_inside_the_calls_scope() {
    // The synchronous part of a callback (all of a C or JS callback) runs
    // when it is invoked; it must see the managed call as the current scope.
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.register(Registration::new(
        "sync-intercept",
        Middleware::ToolExecutionIntercept(Arc::new(move |ctx, args: Json, next| {
            s.lock()
                .unwrap()
                .push((ctx.uuid, ScopeStack::current().top().uuid()));
            Step::pending(next.run(args))
        })),
    ))
    .unwrap();
    let s = seen.clone();
    let call_uuid = Arc::new(Mutex::new(None));
    let cu = call_uuid.clone();
    block_on(rt.tool_call("t", json!({}), opts(&stack), move |_| {
        let top = ScopeStack::current().top();
        *cu.lock().unwrap() = Some(top.uuid());
        s.lock().unwrap().push((top.uuid(), top.uuid()));
        async { Ok(Json::Null) }
    }))
    .unwrap();
    let seen = seen.lock().unwrap();
    let (call, in_intercept) = seen[0];
    assert_eq!(
        in_intercept, call,
        "the intercept sees the call as current scope"
    );
    assert_eq!(
        call_uuid.lock().unwrap().unwrap(),
        call,
        "so does the callback's synchronous part"
    );
    assert_eq!(
        stack.top().uuid(),
        stack.root_uuid(),
        "the caller's stack is untouched"
    );
}
