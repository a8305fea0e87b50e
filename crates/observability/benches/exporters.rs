//! Caller-side latency of a managed tool call, with and without exporters.
//!
//! Both variants run in one process, one after the other, on the same
//! machine state:
//!
//! * `no_subscriber` — nobody listens: the runtime builds no event at all.
//! * `noop_subscriber` — one subscriber that ignores events: the runtime's
//!   own cost of building and enqueueing events, without any exporter.
//! * `atof_and_otlp` — an ATOF exporter (rotating files under the target
//!   dir) and an OTLP exporter (protobuf to a discarding receiver on
//!   127.0.0.1) are registered, so every call builds and enqueues two events
//!   that the dispatcher serializes and turns into a span.
//!
//! Only the caller's time is measured. Calls are timed in chunks of 256;
//! between chunks, outside the timed region, the runtime and the exporters
//! are flushed, so the queues never fill and nothing is dropped (a full
//! queue would make the exporter variant look cheaper than it is); the
//! bench asserts that. The dispatcher still serializes events *during* the
//! timed chunks, so on a machine with few cores its CPU use shows up in the
//! caller's numbers too.
//!
//! Criterion measures the variants one after the other, a few seconds each.
//! This machine's speed drifts by more than the differences in question
//! between such windows, so the bench then measures them *interleaved*:
//! each round times one chunk of every variant, in rotating order, and the
//! summary reports the median ns per call of each variant and the median of
//! the per-round differences (exporters minus no subscriber), the number the
//! target is about.
//!
//! Run: `cargo bench -p nemo-relay-observability --bench exporters`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use nemo_relay_core::executor::block_on;
use nemo_relay_core::{CallOptions, Runtime};
use nemo_relay_observability::atof::{AtofConfig, AtofExporter, FileMode, Rotation};
use nemo_relay_observability::otel::{OtlpConfig, OtlpExporter, Protocol};
use serde_json::json;

const CHUNK: u64 = 256;

fn call(rt: &Runtime) {
    let out = block_on(rt.tool_call(
        "search",
        json!({"q": "rust"}),
        CallOptions::default(),
        |a| async move { Ok(a) },
    ));
    assert!(out.is_ok());
}

/// Time `iters` calls in chunks, running `settle` between chunks.
fn timed(rt: &Runtime, iters: u64, settle: &dyn Fn()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let t = Instant::now();
        for _ in 0..n {
            call(rt);
        }
        total += t.elapsed();
        left -= n;
        rt.flush().unwrap();
        settle();
    }
    total
}

/// An OTLP endpoint that accepts and discards every request.
fn discarding_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err()
                        || w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn bench(c: &mut Criterion) {
    let plain = Runtime::new();
    let noop = Runtime::new();
    noop.register(nemo_relay_core::Registration::new(
        "noop",
        nemo_relay_core::Middleware::Subscriber(nemo_relay_core::subscriber_fn(|_| {})),
    ))
    .unwrap();

    let exported = Runtime::new();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-atof");
    let atof = AtofExporter::new(AtofConfig {
        output_directory: dir,
        filename: "bench.jsonl".into(),
        mode: FileMode::Overwrite,
        rotation: Some(Rotation {
            max_bytes: 64 << 20,
            max_files: Some(2),
        }),
        ..Default::default()
    })
    .unwrap();
    atof.register(&exported).unwrap();
    let otlp = OtlpExporter::new(OtlpConfig {
        endpoint: Some(discarding_receiver()),
        protocol: Some(Protocol::HttpProtobuf),
        use_env: false,
        ..Default::default()
    })
    .unwrap();
    otlp.register(&exported).unwrap();

    let mut g = c.benchmark_group("managed_tool_call");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let nothing = || {};
    let exporters = || {
        atof.flush().unwrap();
        otlp.flush().unwrap();
    };
    g.bench_function("no_subscriber", |b| {
        b.iter_custom(|n| timed(&plain, n, &nothing))
    });
    g.bench_function("noop_subscriber", |b| {
        b.iter_custom(|n| timed(&noop, n, &nothing))
    });
    g.bench_function("atof_and_otlp", |b| {
        b.iter_custom(|n| timed(&exported, n, &exporters))
    });
    g.finish();

    let variants: [(&str, &Runtime, &dyn Fn()); 3] = [
        ("no_subscriber", &plain, &nothing),
        ("noop_subscriber", &noop, &nothing),
        ("atof_and_otlp", &exported, &exporters),
    ];
    interleaved(&variants, 400);

    otlp.flush().unwrap();
    let stats = exported.stats().dispatcher;
    assert_eq!(stats.dropped_full, 0, "the dispatcher kept up");
    assert_eq!(
        otlp.stats().dropped_queue_full + otlp.stats().dropped_export_failed,
        0
    );
    eprintln!(
        "atof_and_otlp: {} events written, {} spans exported, 0 dropped",
        atof.stats().events,
        otlp.stats().exported
    );
}

/// Time one chunk of each variant per round, rotating which goes first,
/// and print medians (see the module docs).
fn interleaved(variants: &[(&str, &Runtime, &dyn Fn())], rounds: usize) {
    let mut per_call: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    let mut gap = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut this_round = vec![0.0; variants.len()];
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let (_, rt, settle) = variants[i];
            let ns = timed(rt, CHUNK, settle).as_nanos() as f64 / CHUNK as f64;
            per_call[i].push(ns);
            this_round[i] = ns;
        }
        gap.push(this_round[variants.len() - 1] - this_round[0]);
    }
    eprintln!(
        "interleaved, {rounds} rounds of {CHUNK} calls per variant (median [p25 p75] ns/call):"
    );
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let (p25, p50, p75) = quartiles(&mut per_call[i]);
        eprintln!("  {name:<16} {p50:>7.0} [{p25:.0} {p75:.0}]");
    }
    let (p25, p50, p75) = quartiles(&mut gap);
    eprintln!(
        "  {} - {}: {p50:.0} [{p25:.0} {p75:.0}] ns per call (target: within 1000)",
        variants[variants.len() - 1].0,
        variants[0].0
    );
}

fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

criterion_group!(benches, bench);
criterion_main!(benches);
