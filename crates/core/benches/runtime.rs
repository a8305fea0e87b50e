//! Hot-path benchmarks of the core runtime.
//!
//! Targets on the 2-core CI machine (issue 2): managed tool call with no
//! middleware ≤ 300 ns; with 3 native middleware ≤ 1 µs; mark with no
//! subscriber ≤ 50 ns; mark + enqueue with a subscriber ≤ 300 ns; dispatcher
//! ≥ 3 M events/s to one native subscriber. Each group also measures a
//! baseline (the bare callback, a bare Vec push) in the same run, so results
//! can be read as ratios.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nemo_relay_core::executor::poll_once;
use nemo_relay_core::middleware::{exec, guard, rewrite};
use nemo_relay_core::{
    subscriber_fn, CallOptions, Json, MarkOptions, Middleware, Registration, Runtime,
    RuntimeConfig, ScopeOptions, ScopeStack, ScopeType, Verdict,
};
use serde_json::json;

/// Synchronous middleware completes on the first poll: drive it that way, as
/// a binding does, instead of paying for an executor in the measurement.
fn now<F: Future>(f: F) -> F::Output {
    match poll_once(pin!(f)) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a synchronous pipeline must complete on its first poll"),
    }
}

fn tool_calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("tool_call");
    let args = json!({"q": "rust"});
    let stack = ScopeStack::new();
    let opts = CallOptions {
        stack: Some(stack.clone()),
        ..Default::default()
    };

    g.bench_function("baseline_direct_callback", |b| {
        let f = |a: Json| async move { Ok::<_, ()>(a) };
        b.iter(|| now(f(black_box(args.clone()))))
    });

    let rt = Runtime::new();
    g.bench_function("managed_no_middleware", |b| {
        b.iter(|| {
            now(rt.tool_call(
                "search",
                black_box(args.clone()),
                opts.clone(),
                |a| async move { Ok(a) },
            ))
        })
    });

    let rt3 = Runtime::new();
    rt3.register(Registration::new(
        "allow",
        Middleware::ToolConditionalExecution(guard(|_, _: &Json| Ok(Verdict::Allow))),
    ))
    .unwrap();
    rt3.register(Registration::new(
        "tag",
        Middleware::ToolRequestIntercept(rewrite(|_, mut a: Json| {
            a["tagged"] = Json::Bool(true);
            Ok(a)
        })),
    ))
    .unwrap();
    rt3.register(Registration::new(
        "wrap",
        Middleware::ToolExecutionIntercept(exec(
            |_, a: Json, next| async move { next.run(a).await },
        )),
    ))
    .unwrap();
    g.bench_function("managed_3_middleware", |b| {
        b.iter(|| {
            now(rt3.tool_call(
                "search",
                black_box(args.clone()),
                opts.clone(),
                |a| async move { Ok(a) },
            ))
        })
    });

    let rts = Runtime::new();
    rts.register(Registration::new(
        "sink",
        Middleware::Subscriber(subscriber_fn(|_| {})),
    ))
    .unwrap();
    g.bench_function("managed_no_middleware_with_subscriber", |b| {
        b.iter(|| {
            now(rts.tool_call(
                "search",
                black_box(args.clone()),
                opts.clone(),
                |a| async move { Ok(a) },
            ))
        })
    });
    g.finish();
    rts.shutdown().unwrap();
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("emit");
    let stack = ScopeStack::new();
    let opts = || MarkOptions {
        stack: Some(stack.clone()),
        data: Some(json!(1)),
        ..Default::default()
    };

    g.bench_function("baseline_vec_push", |b| {
        let mut v = Vec::with_capacity(1 << 20);
        b.iter(|| {
            if v.len() == v.capacity() {
                v.clear();
            }
            v.push(black_box(opts()));
        })
    });

    let quiet = Runtime::new();
    g.bench_function("mark_no_subscriber", |b| {
        b.iter(|| quiet.mark(black_box("m"), MarkOptions::default()))
    });

    let rt = Runtime::new();
    rt.register(Registration::new(
        "sink",
        Middleware::Subscriber(subscriber_fn(|_| {})),
    ))
    .unwrap();
    g.bench_function("mark_enqueue_with_subscriber", |b| {
        b.iter(|| rt.mark(black_box("m"), opts()))
    });
    rt.flush().unwrap();

    g.bench_function("scope_push_pop", |b| {
        b.iter(|| {
            let h = quiet
                .push_scope(
                    "s",
                    ScopeType::Function,
                    ScopeOptions {
                        stack: Some(stack.clone()),
                        ..Default::default()
                    },
                )
                .unwrap();
            quiet
                .pop_scope(
                    &h,
                    nemo_relay_core::PopOptions {
                        stack: Some(stack.clone()),
                        ..Default::default()
                    },
                )
                .unwrap();
        })
    });
    g.finish();
    let s = rt.stats().dispatcher;
    eprintln!("emit bench dispatcher stats: {s:?}");
    rt.shutdown().unwrap();
}

fn dispatcher_throughput(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = c.benchmark_group("dispatcher");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("deliver_100k_marks_to_one_subscriber", |b| {
        b.iter_custom(|iters| {
            let rt = Runtime::with_config(RuntimeConfig {
                queue_capacity: N as usize,
                ..Default::default()
            });
            let seen = Arc::new(AtomicU64::new(0));
            let s = seen.clone();
            rt.register(Registration::new(
                "count",
                Middleware::Subscriber(subscriber_fn(move |_| {
                    s.fetch_add(1, Ordering::Relaxed);
                })),
            ))
            .unwrap();
            let stack = ScopeStack::new();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                for _ in 0..N {
                    rt.mark(
                        "m",
                        MarkOptions {
                            stack: Some(stack.clone()),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                }
                rt.flush().unwrap();
                total += t.elapsed();
            }
            assert_eq!(
                seen.load(Ordering::Relaxed),
                N * iters,
                "every event delivered"
            );
            rt.shutdown().unwrap();
            total
        })
    });
    g.finish();
}

/// The canonical JSON of events, as the JS subscriber and the ATOF
/// exporter write it on the dispatcher thread (baseline: serde_json's
/// generic serializer over the same event, in the same run).
fn serialize(c: &mut Criterion) {
    let mut g = c.benchmark_group("serialize");
    let rt = Runtime::new();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    rt.register(Registration::new(
        "keep",
        Middleware::Subscriber(subscriber_fn(move |e| sink.lock().unwrap().push(e.clone()))),
    ))
    .unwrap();
    let stack = ScopeStack::new();
    rt.mark(
        "m",
        MarkOptions {
            stack: Some(stack.clone()),
            data: Some(json!({"i": 1})),
            ..Default::default()
        },
    )
    .unwrap();
    now(rt.tool_call(
        "search",
        json!({"q": "rust"}),
        CallOptions {
            stack: Some(stack.clone()),
            tool_call_id: Some("call_1".into()),
            ..Default::default()
        },
        |a| async move { Ok(json!({"hits": [a]})) },
    ))
    .unwrap();
    rt.flush().unwrap();
    let events = events.lock().unwrap().clone();
    let (mark, end) = (&events[0], &events[2]);
    let mut buf = Vec::with_capacity(1024);
    g.bench_function("baseline_serde_mark", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(mark)).unwrap();
        })
    });
    g.bench_function("write_json_mark", |b| {
        b.iter(|| {
            buf.clear();
            black_box(mark).write_json(&mut buf);
        })
    });
    g.bench_function("write_json_tool_end", |b| {
        b.iter(|| {
            buf.clear();
            black_box(end).write_json(&mut buf);
        })
    });
    g.finish();
    rt.shutdown().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = tool_calls, emit, dispatcher_throughput, serialize
}
criterion_main!(benches);
