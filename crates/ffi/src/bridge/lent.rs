//! Handles lent to C for the duration of one callback.
//!
//! A plugin kind's hooks receive a `NemoRelayConfigCheck *` or a
//! `NemoRelayPluginContext *` that stands for a Rust value living on the
//! library's stack while the hook runs. Like `NemoRelayNext`, such a handle
//! is a token into a table rather than a pointer to that value: the entry is
//! removed when the hook returns, so a handle kept past its callback (or
//! used from a thread that outlives it) gives `NEMO_RELAY_STATUS_INVALID_STATE`
//! instead of a use-after-free. Tokens are never reused, and each entry
//! records which handle type it was lent as, so a check handle passed where
//! a context is expected is rejected too.
//!
//! Operations run with the table locked, which makes "the hook returned"
//! and "an operation is using the value" mutually exclusive. They are short
//! (append a diagnostic, record a registration) and call no user code;
//! callers make sure a `free_fn` never runs under the lock.

use std::any::TypeId;
use std::collections::HashMap;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::status::NemoRelayStatus;

/// A C handle type that is only ever lent, never owned by C.
pub trait LentHandle: 'static {
    /// How the handle is named in error messages.
    const WHAT: &'static str;
}

struct Entry {
    handle_type: TypeId,
    target: usize,
}

fn lock() -> MutexGuard<'static, HashMap<usize, Entry>> {
    static TABLE: OnceLock<Mutex<HashMap<usize, Entry>>> = OnceLock::new();
    // No code panics while holding the lock; recover anyway rather than
    // poison every later hook.
    TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tokens step by 16 so they look like aligned, non-NULL pointers.
const TOKEN_STEP: usize = 16;
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(TOKEN_STEP);

/// One callback's loan of `target` as an `H`; ends on drop.
pub struct Lent<H: LentHandle> {
    token: usize,
    _handle: PhantomData<H>,
}

impl<H: LentHandle> Lent<H> {
    /// Lends `target` until the returned value drops. The caller keeps
    /// `target` alive and otherwise unused until then.
    pub fn new(target: *mut c_void) -> Self {
        let token = NEXT_TOKEN.fetch_add(TOKEN_STEP, Ordering::Relaxed);
        let entry = Entry {
            handle_type: TypeId::of::<H>(),
            target: target as usize,
        };
        lock().insert(token, entry);
        Lent {
            token,
            _handle: PhantomData,
        }
    }

    /// The value C receives.
    pub fn as_ptr(&self) -> *mut H {
        self.token as *mut H
    }
}

impl<H: LentHandle> Drop for Lent<H> {
    fn drop(&mut self) {
        lock().remove(&self.token);
    }
}

/// Runs `f` on the value behind a lent handle, with the loan held open.
///
/// NULL is `NULL_POINTER`; a token that is not (or no longer) lent as an
/// `H` is `INVALID_STATE`.
pub fn with_lent<H: LentHandle, R>(
    handle: *const H,
    name: &str,
    f: impl FnOnce(*mut c_void) -> FfiResult<R>,
) -> FfiResult<R> {
    if handle.is_null() {
        return Err(FfiError::null_pointer(name));
    }
    let table = lock();
    match table.get(&(handle as usize)) {
        Some(entry) if entry.handle_type == TypeId::of::<H>() => {
            let result = f(entry.target as *mut c_void);
            drop(table);
            result
        }
        _ => Err(FfiError::new(
            NemoRelayStatus::InvalidState,
            format!(
                "argument `{name}`: this {} is only valid during the callback that received it",
                H::WHAT
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    impl LentHandle for A {
        const WHAT: &'static str = "A";
    }
    struct B;
    impl LentHandle for B {
        const WHAT: &'static str = "B";
    }

    #[test]
    fn a_loan_resolves_while_it_lasts_and_expires_after() {
        let mut value = 41_u32;
        let lent = Lent::<A>::new(std::ptr::from_mut(&mut value).cast());
        let ptr = lent.as_ptr();
        let read = with_lent(ptr, "a", |target| Ok(unsafe { *target.cast::<u32>() } + 1));
        assert_eq!(read.unwrap(), 42);
        drop(lent);
        let err = with_lent(ptr, "a", |_| Ok(())).unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidState);
        assert!(
            err.message().contains("only valid during"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_handle_lent_as_one_type_is_refused_as_another() {
        let mut value = 0_u8;
        let lent = Lent::<A>::new(std::ptr::from_mut(&mut value).cast());
        let as_b = lent.as_ptr().cast::<B>().cast_const();
        let err = with_lent(as_b, "b", |_| Ok(())).unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidState);
        let null = with_lent::<A, ()>(std::ptr::null(), "a", |_| Ok(())).unwrap_err();
        assert_eq!(null.status(), NemoRelayStatus::NullPointer);
    }
}
