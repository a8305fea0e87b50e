//! `user_data` pointers and the `free_fn` that releases them.
//!
//! Every callback registration takes `(callback, void *user_data,
//! NemoRelayFreeFn free_fn)`. The library passes `user_data` back to the
//! callback unchanged and never dereferences it.
//!
//! # Ownership rule
//!
//! **From the moment a registration call starts, the library owns
//! `user_data`, and calls `free_fn(user_data)` exactly once**: when the
//! registration is dropped, or before the call returns if it fails for any
//! reason (NULL name, duplicate name, NULL callback, ...). A NULL `free_fn`
//! means there is nothing to release. Upstream handled failed registrations
//! differently per function, so bindings leaked or double-freed; one rule with
//! no exceptions is easier to get right. Entry points enforce it mechanically
//! by wrapping the pair in a [`UserData`] as their first statement.
//!
//! # Thread contract
//!
//! By passing `user_data`, the caller promises that:
//!
//! * callbacks may be invoked with it from any thread, including several
//!   threads at once (subscribers run on a dispatcher thread, middleware on the
//!   thread of whichever call triggered it);
//! * `free_fn` may run on any thread, possibly **after** the deregistration call
//!   has returned (an in-flight callback or queued event can still hold the
//!   registration);
//! * `free_fn` may call back into the library. The library therefore never
//!   drops a registration while holding one of its own locks.
//!
//! That promise is what makes the `unsafe impl Send + Sync` below sound.

use std::ffi::c_void;

/// Releases a `user_data` pointer. Called exactly once per registration.
pub type NemoRelayFreeFn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// An owned `user_data` pointer that calls its `free_fn` on drop.
#[derive(Debug)]
pub struct UserData {
    ptr: *mut c_void,
    free_fn: NemoRelayFreeFn,
}

// SAFETY: the thread contract in the module docs: the C caller guarantees that
// `ptr` may be used and released from any thread, concurrently.
unsafe impl Send for UserData {}
// SAFETY: as above; the library only ever copies the pointer value.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes ownership of `ptr`. Call this first in every entry point that
    /// accepts a `user_data`/`free_fn` pair, so every exit path releases it.
    ///
    /// # Safety
    /// `free_fn`, if given, must accept `ptr`, and the pair must satisfy the
    /// thread contract in the module docs.
    pub unsafe fn adopt(ptr: *mut c_void, free_fn: NemoRelayFreeFn) -> Self {
        Self { ptr, free_fn }
    }

    /// The pointer to pass back to the C callback.
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free_fn) = self.free_fn.take() {
            // SAFETY: `adopt`'s contract: `free_fn` accepts `ptr`; `take`
            // guarantees this runs at most once.
            unsafe { free_fn(self.ptr) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    unsafe extern "C" fn count_free(user_data: *mut c_void) {
        // SAFETY: the tests below pass a pointer to a live AtomicUsize.
        let counter = unsafe { &*user_data.cast::<AtomicUsize>() };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn free_fn_runs_once_on_drop() {
        let counter = AtomicUsize::new(0);
        let ptr = std::ptr::from_ref(&counter).cast_mut().cast::<c_void>();
        let data = unsafe { UserData::adopt(ptr, Some(count_free)) };
        assert_eq!(data.as_ptr(), ptr);
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        drop(data);
        assert_eq!(counter.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn free_fn_runs_once_when_the_last_shared_owner_drops_on_another_thread() {
        let counter = Arc::new(AtomicUsize::new(0));
        let ptr = Arc::as_ptr(&counter).cast_mut().cast::<c_void>();
        let data = Arc::new(unsafe { UserData::adopt(ptr, Some(count_free)) });
        let clone = Arc::clone(&data);
        std::thread::spawn(move || drop(clone)).join().unwrap();
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        drop(data);
        assert_eq!(counter.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn null_free_fn_is_allowed() {
        drop(unsafe { UserData::adopt(std::ptr::null_mut(), None) });
    }
}
