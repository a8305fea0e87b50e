//! The addon's allocator: mimalloc, purging freed memory at once.
//!
//! Events are built on the JS thread and dropped on the dispatcher thread
//! (and JSON batches the other way round). glibc's malloc frees a block
//! from a foreign thread under its arena lock, which the other thread takes
//! too: a mark from JS cost 3.5-5 µs, mostly futex waits in malloc.
//! mimalloc frees foreign blocks with one lock-free push. Only the addon's
//! own (Rust) allocations use it.
//!
//! mimalloc returns freed pages to the OS 10 ms after they empty, but only
//! when the owning thread allocates again. A burst (100k events serialized
//! for a JS subscriber while the JS thread is busy: ~60 MB of JSON text)
//! therefore stayed resident after the dispatcher went idle: +100-140 MB of
//! RSS after a million scopes with a subscriber. Purging at once keeps the
//! growth under 50 MB, with no difference measurable in the benchmarks.
//! `MIMALLOC_PURGE_DELAY`, when set, still wins.
//!
//! No transparent huge pages. mimalloc asks for them on its arenas
//! (`madvise(MADV_HUGEPAGE)`), and with purging at once that turns every
//! reuse of purged memory into a 2 MiB fault: the kernel zeroes a huge page,
//! and under the common `defrag=madvise` setting it may first compact memory
//! to find one. On a 2-core machine the dispatcher stalled for ~10 ms in
//! such faults dozens of times per 100k marks, long enough for a JS loop to
//! fill the event queue (events dropped). Without them: 13 stalls instead
//! of 57, no drops, marks 437-539 k/s instead of 353-387 k/s in the same
//! minute. The option must be off before mimalloc maps its first arena,
//! which happens at the addon's first allocation, before any JS calls in:
//! so it is set by a load-time constructor (see [`before_first_allocation`]).
//! `MIMALLOC_ALLOW_THP`, when set, still wins. Only mimalloc's own mappings
//! are affected, never the rest of the process (V8's heap).

use std::os::raw::{c_int, c_long};
use std::sync::Once;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3).
const MI_OPTION_PURGE_DELAY: c_int = 15;
/// `mi_option_allow_thp` in mimalloc's `mi_option_e` (v3).
const MI_OPTION_ALLOW_THP: c_int = 43;

extern "C" {
    // Provided by libmimalloc-sys (linked through the `mimalloc` crate).
    fn mi_option_set(option: c_int, value: c_long);
}

/// Apply the addon's allocator options (once per process).
pub(crate) fn configure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: a plain option setter, valid at any time.
            unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
        }
    });
}

/// Runs when the addon is loaded: after mimalloc's own initializer (priority
/// 101, which decides about process-wide THP with the option still at its
/// default, so it leaves the process alone) and before the default-priority
/// constructors (napi-rs's registrations), whose allocations map mimalloc's
/// first arena. Allocates nothing (unless the variable is set).
#[cfg(target_os = "linux")]
extern "C" fn before_first_allocation() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: a plain option setter, valid at any time.
        unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    }
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array.00102"]
static BEFORE_FIRST_ALLOCATION: extern "C" fn() = before_first_allocation;
