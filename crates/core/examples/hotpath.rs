//! Runs the hot paths in a loop, for profilers (`valgrind --tool=callgrind`,
//! `perf record`). Usage: `hotpath <tool|tool3|toolsub|toolsubargs|mark|marksub|push> [iterations]`.
//! Prints the caller-side time per iteration (a rough number: use the
//! criterion benches for comparisons).
use std::pin::pin;
use std::task::Poll;

use nemo_relay_core::executor::poll_once;
use nemo_relay_core::middleware::{exec, guard, rewrite};
use nemo_relay_core::{
    subscriber_fn, CallOptions, Json, MarkOptions, Middleware, PopOptions, Registration, Runtime,
    ScopeOptions, ScopeStack, ScopeType, Verdict,
};
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "tool".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rt = Runtime::new();
    let stack = ScopeStack::new();
    match what.as_str() {
        "tool3" => {
            rt.register(Registration::new(
                "allow",
                Middleware::ToolConditionalExecution(guard(|_, _: &Json| Ok(Verdict::Allow))),
            ))
            .unwrap();
            rt.register(Registration::new(
                "tag",
                Middleware::ToolRequestIntercept(rewrite(|_, a: Json| Ok(a))),
            ))
            .unwrap();
            rt.register(Registration::new(
                "wrap",
                Middleware::ToolExecutionIntercept(exec(|_, a: Json, next| async move {
                    next.run(a).await
                })),
            ))
            .unwrap();
        }
        "marksub" | "toolsub" | "toolsubargs" => {
            rt.register(Registration::new(
                "sink",
                Middleware::Subscriber(subscriber_fn(|_| {})),
            ))
            .unwrap();
        }
        _ => {}
    }
    let opts = CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    for _ in 0..n {
        match what.as_str() {
            "tool" | "tool3" | "toolsub" => {
                let f = rt.tool_call("search", Json::Null, opts.clone(), |a| async move { Ok(a) });
                assert!(matches!(poll_once(pin!(f)), Poll::Ready(Ok(_))));
            }
            "mark" | "marksub" => rt
                .mark(
                    "m",
                    MarkOptions {
                        stack: Some(stack.clone()),
                        data: Some(json!(1)),
                        ..Default::default()
                    },
                )
                .unwrap(),
            "push" => {
                let so = ScopeOptions {
                    stack: Some(stack.clone()),
                    ..Default::default()
                };
                let h = rt.push_scope("s", ScopeType::Function, so).unwrap();
                let po = PopOptions {
                    stack: Some(stack.clone()),
                    ..Default::default()
                };
                rt.pop_scope(&h, po).unwrap();
            }
            "toolsubargs" => {
                let args = json!({"q": "rust"});
                let f = rt.tool_call("search", args, opts.clone(), |a| async move { Ok(a) });
                assert!(matches!(poll_once(pin!(f)), Poll::Ready(Ok(_))));
            }
            other => panic!("unknown workload {other}"),
        }
    }
    let elapsed = started.elapsed();
    rt.flush().unwrap();
    eprintln!(
        "{what}: {:.0} ns per iteration (caller side, {n} iterations; {} events dropped)",
        elapsed.as_nanos() as f64 / n as f64,
        rt.stats().dispatcher.dropped_full
    );
}
