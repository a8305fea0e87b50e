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

use std::os::raw::{c_int, c_long};
use std::sync::Once;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3).
const MI_OPTION_PURGE_DELAY: c_int = 15;

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
