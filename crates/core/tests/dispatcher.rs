//! Dispatcher: non-blocking emission, FIFO, flush, isolation, overflow, shutdown.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use nemo_relay_core::{
    subscriber_fn, ErrorCode, Event, Json, MarkOptions, Middleware, Registration, Runtime,
    RuntimeConfig, ScopeStack,
};
use serde_json::json;
use support::Recorder;

fn mark(rt: &Runtime, name: &str, data: Json) {
    rt.mark(
        name,
        MarkOptions {
            data: Some(data),
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn with_no_subscriber_nothing_is_queued_and_no_thread_starts() {
    let rt = Runtime::new();
    assert!(!rt.has_listeners());
    mark(&rt, "lost-to-nobody", json!(1));
    let s = rt.stats().dispatcher;
    assert_eq!((s.delivered, s.queued, s.dropped_full), (0, 0, 0));
    rt.flush().unwrap();
}

#[test]
fn emitting_returns_while_a_subscriber_is_blocked() {
    let rt = Runtime::new();
    let release = Arc::new(Barrier::new(2));
    let r = release.clone();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    rt.register(Registration::new(
        "blocked",
        Middleware::Subscriber(subscriber_fn(move |_| {
            if !e.swap(true, Ordering::SeqCst) {
                r.wait();
            }
        })),
    ))
    .unwrap();
    mark(&rt, "first", json!(1));
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let t = Instant::now();
    for i in 0..100 {
        mark(&rt, "more", json!(i));
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "emission never waits for subscribers"
    );
    release.wait();
    rt.flush().unwrap();
    assert_eq!(rt.stats().dispatcher.delivered, 101);
}

#[test]
fn events_are_delivered_in_emission_order() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    for i in 0..1000 {
        mark(&rt, "m", json!(i));
    }
    rt.flush().unwrap();
    let got: Vec<i64> = rec
        .events()
        .iter()
        .map(|e| e.data.as_ref().unwrap().as_i64().unwrap())
        .collect();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn flush_called_from_inside_a_subscriber_returns_instead_of_deadlocking() {
    let rt = Runtime::new();
    let inner = rt.clone();
    let flushed = Arc::new(AtomicUsize::new(0));
    let f = flushed.clone();
    rt.register(Registration::new(
        "flusher",
        Middleware::Subscriber(subscriber_fn(move |_| {
            inner.flush().unwrap();
            inner.flush_timeout(Duration::from_millis(1)).unwrap();
            f.fetch_add(1, Ordering::SeqCst);
        })),
    ))
    .unwrap();
    mark(&rt, "m", json!(1));
    rt.flush_timeout(Duration::from_secs(10))
        .expect("no deadlock");
    assert_eq!(flushed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_subscriber_is_isolated_and_counted() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "a-panics",
        Middleware::Subscriber(subscriber_fn(|e: &Event| {
            if e.data.as_deref() == Some(&json!(2)) {
                panic!("subscriber bug (expected in this test)")
            }
        })),
    ))
    .unwrap();
    let rec = Arc::new(Recorder::default());
    rt.register(Registration::new(
        "b-records",
        Middleware::Subscriber(rec.clone()),
    ))
    .unwrap();
    for i in 1..=3 {
        mark(&rt, "m", json!(i));
    }
    rt.flush().unwrap();
    assert_eq!(
        rec.events().len(),
        3,
        "the healthy subscriber got every event"
    );
    assert_eq!(rt.stats().dispatcher.subscriber_panics, 1);
}

#[test]
fn a_full_queue_and_overflow_drop_and_count_instead_of_blocking() {
    let rt = Runtime::with_config(RuntimeConfig {
        queue_capacity: 8,
        overflow_capacity: 8,
    });
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = gate.clone();
    rt.register(Registration::new(
        "stuck",
        Middleware::Subscriber(subscriber_fn(move |_| drop(g.lock().unwrap()))),
    ))
    .unwrap();
    for i in 0..100 {
        mark(&rt, "m", json!(i));
    }
    let s = rt.stats().dispatcher;
    assert!(s.dropped_full >= 100 - 8 - 8 - 1, "{s:?}");
    assert_eq!(s.overflowed, 8, "{s:?}");
    drop(held);
    rt.flush().unwrap();
    let s = rt.stats().dispatcher;
    assert_eq!(s.delivered + s.dropped_full, 100, "{s:?}");
}

#[test]
fn a_burst_the_ring_cannot_hold_waits_in_the_overflow_and_is_delivered_in_order() {
    let rt = Runtime::with_config(RuntimeConfig {
        queue_capacity: 8,
        ..Default::default()
    });
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, s) = (gate.clone(), seen.clone());
    rt.register(Registration::new(
        "slow",
        Middleware::Subscriber(subscriber_fn(move |e: &Event| {
            drop(g.lock().unwrap());
            s.lock()
                .unwrap()
                .push(e.data.as_ref().unwrap().as_u64().unwrap());
        })),
    ))
    .unwrap();
    for i in 0..5000 {
        mark(&rt, "m", json!(i));
    }
    let s = rt.stats().dispatcher;
    assert!(s.overflowed >= 5000 - 8 - 1, "{s:?}");
    assert!(s.queued >= 5000 - 1, "the overflow counts as queued: {s:?}");
    drop(held);
    rt.flush().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..5000).collect::<Vec<u64>>());
    let s = rt.stats().dispatcher;
    assert_eq!(
        (s.delivered, s.dropped_full, s.queued),
        (5000, 0, 0),
        "{s:?}"
    );
    // Drained: the ring takes events again.
    mark(&rt, "m", json!(5000));
    rt.flush().unwrap();
    assert_eq!(rt.stats().dispatcher.overflowed, s.overflowed);
}

#[test]
fn eight_producer_threads_have_every_event_delivered_in_per_thread_order() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 100_000;
    // An overflow that can hold every event: how far 8 producers on 2
    // cores get ahead of the worker depends on scheduling, and this test is
    // about ordering and loss across the ring and its overflow, not about
    // dropping.
    let rt = Runtime::with_config(RuntimeConfig {
        queue_capacity: 1024,
        overflow_capacity: THREADS * PER_THREAD,
    });
    let seen: Arc<Mutex<Vec<Vec<u64>>>> = Arc::new(Mutex::new(vec![Vec::new(); THREADS]));
    let s = seen.clone();
    rt.register(Registration::new(
        "collect",
        Middleware::Subscriber(subscriber_fn(move |e: &Event| {
            let d = e.data.as_ref().unwrap();
            let t = d["t"].as_u64().unwrap() as usize;
            s.lock().unwrap()[t].push(d["i"].as_u64().unwrap());
        })),
    ))
    .unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let rt = rt.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let stack = ScopeStack::new();
                start.wait();
                for i in 0..PER_THREAD {
                    rt.mark(
                        "m",
                        MarkOptions {
                            stack: Some(stack.clone()),
                            data: Some(json!({"t": t, "i": i})),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    rt.flush().unwrap();
    let seen = seen.lock().unwrap();
    for (t, got) in seen.iter().enumerate() {
        assert_eq!(got.len(), PER_THREAD, "thread {t} lost events");
        assert!(
            got.windows(2).all(|w| w[0] + 1 == w[1]),
            "thread {t} out of order"
        );
    }
    let st = rt.stats().dispatcher;
    assert_eq!(
        (st.delivered, st.dropped_full),
        ((THREADS * PER_THREAD) as u64, 0)
    );
}

#[test]
fn shutdown_delivers_what_is_queued_is_idempotent_and_counts_later_events() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    for i in 0..500 {
        mark(&rt, "m", json!(i));
    }
    rt.shutdown().unwrap();
    assert_eq!(rec.events().len(), 500);
    rt.shutdown().unwrap();
    mark(&rt, "late", json!(0));
    assert_eq!(rt.stats().dispatcher.dropped_closed, 1);
    rt.flush().unwrap();
}

#[test]
fn subscribing_after_shutdown_is_refused_instead_of_silently_never_delivering() {
    let rt = Runtime::new();
    rt.shutdown().unwrap();
    let err = rt
        .register(Registration::new(
            "late",
            Middleware::Subscriber(subscriber_fn(|_| {})),
        ))
        .unwrap_err();
    assert_eq!(err.code(), nemo_relay_core::ErrorCode::ShutDown);
    assert!(!rt.has_listeners());
}

#[test]
fn deregistering_a_subscriber_does_not_undeliver_queued_events() {
    let rt = Runtime::new();
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = gate.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    rt.register(Registration::new(
        "slow",
        Middleware::Subscriber(subscriber_fn(move |_| {
            drop(g.lock().unwrap());
            c.fetch_add(1, Ordering::SeqCst);
        })),
    ))
    .unwrap();
    for i in 0..10 {
        mark(&rt, "m", json!(i));
    }
    assert!(rt.deregister(nemo_relay_core::Family::Subscriber, "slow"));
    mark(&rt, "after", json!(0));
    drop(held);
    rt.flush().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert!(
        !rt.has_listeners(),
        "listener count falls once queued snapshots are delivered"
    );
}

#[test]
fn batching_subscribers_are_told_when_a_batch_ends() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    for i in 0..10 {
        mark(&rt, "m", json!(i));
    }
    rt.flush().unwrap();
    assert!(rec.batches() >= 1);
    assert!(rec.batches() <= 10);
}

#[test]
fn a_subscriber_removed_after_flush_stops_counting_as_a_listener_at_once() {
    let rt = Runtime::new();
    for round in 0..200 {
        let name = format!("sub-{round}");
        rt.register(Registration::new(
            name.as_str(),
            Middleware::Subscriber(subscriber_fn(|_| {})),
        ))
        .unwrap();
        for i in 0..10 {
            mark(&rt, "m", json!(i));
        }
        rt.flush().unwrap();
        assert!(rt.deregister(nemo_relay_core::Family::Subscriber, &name));
        assert!(
            !rt.has_listeners(),
            "round {round}: the removed subscriber still counts, so the next call is not bare"
        );
    }
}

#[test]
fn a_panicking_flush_callback_is_counted_and_delivery_goes_on() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    mark(&rt, "before", json!(0));
    rt.dispatcher()
        .on_drained(Box::new(|| panic!("a barrier callback that panics")));
    mark(&rt, "after", json!(1));
    rt.flush().unwrap();
    let names: Vec<String> = rec.events().iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, ["before", "after"]);
    assert_eq!(rt.stats().dispatcher.subscriber_panics, 1);
}

#[test]
fn shutdown_from_a_subscriber_with_a_full_queue_delivers_what_was_queued_and_returns() {
    let rt = Runtime::with_config(RuntimeConfig {
        queue_capacity: 8,
        overflow_capacity: 4,
    });
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let (g, n, inner) = (gate.clone(), seen.clone(), rt.clone());
    rt.register(Registration::new(
        "stopper",
        Middleware::Subscriber(subscriber_fn(move |_| {
            drop(g.lock().unwrap());
            if n.fetch_add(1, Ordering::SeqCst) == 0 {
                // The queue is full and only this thread drains it.
                inner.shutdown().unwrap();
            }
        })),
    ))
    .unwrap();
    for i in 0..20 {
        mark(&rt, "m", json!(i)); // fills the queue; the rest are dropped
    }
    let queued = rt.stats().dispatcher.queued;
    assert!(queued >= 12, "the ring and the overflow are full: {queued}");
    drop(held);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = rt.clone();
    std::thread::spawn(move || {
        waiter.flush().unwrap();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("flush returns after a shutdown from inside a subscriber");
    let s = rt.stats().dispatcher;
    assert!(rt.dispatcher().is_shut_down());
    assert_eq!(seen.load(Ordering::SeqCst) as u64, s.delivered);
    assert_eq!(s.delivered + s.dropped_full + s.dropped_closed, 20, "{s:?}");
}

#[test]
fn a_concurrent_second_shutdown_returns_only_after_everything_queued_was_delivered() {
    let rt = Arc::new(Runtime::new());
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    rt.register(Registration::new(
        "slow",
        Middleware::Subscriber(subscriber_fn(move |_| {
            e.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            d.fetch_add(1, Ordering::SeqCst);
        })),
    ))
    .unwrap();
    for i in 0..50 {
        mark(&rt, "queued", json!(i));
    }
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let first = {
        let rt = rt.clone();
        std::thread::spawn(move || rt.shutdown().unwrap())
    };
    // Let the first call begin stopping, then race it.
    while rt.stats().dispatcher.queued == 50 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(5));
    rt.shutdown().unwrap();
    assert_eq!(delivered.load(Ordering::SeqCst), 50);
    first.join().unwrap();
}

#[test]
fn shutdowns_called_at_the_same_time_both_return_after_everything_was_delivered() {
    for round in 0..1000 {
        let rt = Arc::new(Runtime::new());
        let rec = Recorder::install(&rt);
        for i in 0..20 {
            mark(&rt, "queued", json!(i));
        }
        let start = Arc::new(Barrier::new(2));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (rt, start, rec, done) = (rt.clone(), start.clone(), rec.clone(), done_tx.clone());
            std::thread::spawn(move || {
                start.wait();
                rt.shutdown().unwrap();
                let _ = done.send(rec.events().len());
            });
        }
        for _ in 0..2 {
            let seen = done_rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("round {round}: a concurrent shutdown never returned"));
            assert_eq!(
                seen, 20,
                "round {round}: a shutdown returned before delivery finished"
            );
        }
    }
}

#[test]
fn stats_count_queued_events_and_not_flush_barriers() {
    let rt = Runtime::new();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = gate.clone();
    let entered = Mutex::new(Some(entered_tx));
    rt.register(Registration::new(
        "blocking",
        Middleware::Subscriber(subscriber_fn(move |_| {
            if let Some(tx) = entered.lock().unwrap().take() {
                let _ = tx.send(());
            }
            drop(g.lock().unwrap());
        })),
    ))
    .unwrap();
    mark(&rt, "first", json!(0));
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the subscriber receives the first event");
    // The worker is inside the subscriber and the queue is empty.
    let drained = Arc::new(AtomicBool::new(false));
    let d = drained.clone();
    rt.dispatcher()
        .on_drained(Box::new(move || d.store(true, Ordering::SeqCst)));
    assert_eq!(
        rt.stats().dispatcher.queued,
        0,
        "a waiting barrier is not an event"
    );
    mark(&rt, "second", json!(1));
    mark(&rt, "third", json!(2));
    assert_eq!(rt.stats().dispatcher.queued, 2);
    drop(held);
    rt.flush().unwrap();
    assert!(drained.load(Ordering::SeqCst));
    assert_eq!(rt.stats().dispatcher.queued, 0);
    rt.shutdown().unwrap();
    assert_eq!(rt.stats().dispatcher.queued, 0, "nor is the stop marker");
}

#[test]
fn a_flush_during_a_shutdown_from_a_subscriber_returns_after_the_queued_events_were_delivered() {
    let rt = Arc::new(Runtime::new());
    let delivered = Arc::new(AtomicUsize::new(0));
    let (stopped_tx, stopped_rx) = std::sync::mpsc::channel::<()>();
    let stopped_tx = Mutex::new(Some(stopped_tx));
    // Held until all ten are queued, so the shutdown comes after them.
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let (d, inner, g) = (delivered.clone(), rt.clone(), gate.clone());
    rt.register(Registration::new(
        "stopper",
        Middleware::Subscriber(subscriber_fn(move |_| {
            drop(g.lock().unwrap());
            if let Some(tx) = stopped_tx.lock().unwrap().take() {
                inner.shutdown().unwrap();
                let _ = tx.send(());
            }
            std::thread::sleep(Duration::from_millis(2));
            d.fetch_add(1, Ordering::SeqCst);
        })),
    ))
    .unwrap();
    for i in 0..10 {
        mark(&rt, "queued", json!(i));
    }
    drop(held);
    stopped_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the subscriber shuts down");
    rt.flush().unwrap();
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        10,
        "everything queued before the shutdown was delivered before flush returned"
    );
    assert!(rt.dispatcher().is_shut_down());
}

#[test]
fn a_zero_timeout_flush_is_ok_once_everything_was_delivered_and_a_timeout_while_not() {
    let rt = Runtime::new();
    let gate = Arc::new(Mutex::new(()));
    let g = gate.clone();
    rt.register(Registration::new(
        "gated",
        Middleware::Subscriber(subscriber_fn(move |_| drop(g.lock().unwrap()))),
    ))
    .unwrap();
    mark(&rt, "m", json!(1));
    rt.flush().unwrap();
    for _ in 0..100 {
        rt.flush_timeout(Duration::ZERO)
            .expect("nothing is left to deliver");
    }
    let held = gate.lock().unwrap();
    mark(&rt, "m", json!(2));
    assert_eq!(
        rt.flush_timeout(Duration::ZERO).unwrap_err().code(),
        ErrorCode::Timeout
    );
    drop(held);
    rt.flush().unwrap();
}
