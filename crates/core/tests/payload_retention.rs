//! A delivered payload is freed soon after delivery, even while events keep
//! the dispatcher from ever going idle. (Its own test binary: it counts the
//! process's live heap bytes with a global allocator.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use nemo_relay_core::{subscriber_fn, Json, MarkOptions, Middleware, Registration, Runtime};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BIG: usize = 64 << 20;

#[test]
fn a_large_delivered_payload_is_freed_while_events_without_payloads_keep_flowing() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "noop",
        Middleware::Subscriber(subscriber_fn(|_| {})),
    ))
    .unwrap();
    rt.mark("warm", MarkOptions::default()).unwrap();
    rt.flush().unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    rt.mark(
        "big",
        MarkOptions {
            data: Some(Json::String("x".repeat(BIG))),
            ..Default::default()
        },
    )
    .unwrap();
    rt.flush().unwrap();
    // Payload-free marks every ~30 µs: the dispatcher never parks, the
    // moment it used to free its partial batch of payloads.
    let started = Instant::now();
    let mut retained = isize::MAX;
    while started.elapsed() < Duration::from_millis(500) {
        rt.mark("tick", MarkOptions::default()).unwrap();
        let pause = Instant::now();
        while pause.elapsed() < Duration::from_micros(30) {
            std::hint::spin_loop();
        }
        retained = LIVE.load(Ordering::Relaxed) - base;
        if retained < (BIG / 2) as isize {
            break;
        }
    }
    assert!(
        retained < (BIG / 2) as isize,
        "the {BIG}-byte payload delivered 500 ms ago is still allocated ({retained} bytes live)"
    );
    rt.shutdown().unwrap();
}
