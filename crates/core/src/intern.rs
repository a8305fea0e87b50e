//! A tiny per-thread cache of `Arc<str>` names.
//!
//! Agents emit the same few names over and over (`llm.chunk`, `search`,
//! `openai.chat`). Allocating a fresh `Arc<str>` per event costs a malloc on
//! the emitting thread and a free on the dispatcher thread — the most
//! expensive part of emitting. A 64-entry direct-mapped cache turns repeat
//! names into one pointer copy and a reference-count increment.

use std::cell::RefCell;
use std::sync::Arc;

const SLOTS: usize = 64;
/// Longer names are rare and not worth caching.
const MAX_LEN: usize = 64;

thread_local! {
    static CACHE: RefCell<[Option<Arc<str>>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

fn slot(name: &str) -> usize {
    // FNV-1a: cheap and good enough to spread short names over 64 slots.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h as usize % SLOTS
}

/// An `Arc<str>` equal to `name`, shared with earlier calls when possible.
pub(crate) fn intern(name: &str) -> Arc<str> {
    if name.len() > MAX_LEN {
        return Arc::from(name);
    }
    let i = slot(name);
    CACHE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            match &c[i] {
                Some(hit) if **hit == *name => hit.clone(),
                _ => {
                    let fresh: Arc<str> = Arc::from(name);
                    c[i] = Some(fresh.clone());
                    fresh
                }
            }
        })
        // During thread teardown the cache may be gone; just allocate.
        .unwrap_or_else(|_| Arc::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_share_one_allocation_and_stay_equal() {
        let a = intern("search");
        let b = intern("search");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*intern("other"), "other");
        let long = "x".repeat(100);
        assert_eq!(&*intern(&long), long);
    }
}
