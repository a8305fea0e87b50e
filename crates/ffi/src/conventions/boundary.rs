//! The panic boundary around every `extern "C"` body.
//!
//! A Rust panic unwinding into C is undefined behaviour; since Rust 1.81 it
//! aborts the whole process instead, which for a library loaded into a Go or
//! Python program is no better. Every exported function therefore runs its body
//! through one of two macros:
//!
//! * [`ffi_status!`] for functions that return a [`NemoRelayStatus`]. The body
//!   is a block evaluating to [`FfiResult<()>`] and may use `?`. `Ok` clears the
//!   thread's last error and returns `NEMO_RELAY_STATUS_OK`; `Err` records it
//!   and returns its status; a panic records a message and returns
//!   `NEMO_RELAY_STATUS_PANIC`.
//! * [`ffi_value!`] for functions returning anything else (pointers, integers,
//!   `void`). The body evaluates to the value; a panic records the last error
//!   and returns the type's [`PanicFallback`] (NULL, 0, `false`, nothing).
//!
//! ```
//! use nemo_relay_ffi::{ffi_status, NemoRelayStatus};
//! use nemo_relay_ffi::conventions::error::FfiError;
//!
//! extern "C" fn always_fails() -> NemoRelayStatus {
//!     ffi_status!({ Err(FfiError::internal("no")) })
//! }
//! assert_eq!(always_fails(), NemoRelayStatus::Internal);
//! ```
//!
//! These are plain macros used *inside* hand-written `#[no_mangle]` functions,
//! never macros that *define* exported functions: cbindgen does not expand
//! macros, so functions generated that way would be missing from the header.
//!
//! # Unwind safety
//!
//! The body is wrapped in `AssertUnwindSafe`. After a panic the only state the
//! caller can observe is the runtime's shared state, which the core keeps
//! consistent under panics (it catches panics in callbacks itself and uses
//! locks that do not poison); the body's own locals are discarded.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{FfiError, FfiResult};
use super::last_error;
use super::status::NemoRelayStatus;

/// What a non-status function returns when its body panicked.
pub trait PanicFallback {
    /// The value returned after a caught panic.
    fn fallback() -> Self;
}

impl PanicFallback for () {
    fn fallback() -> Self {}
}

impl PanicFallback for bool {
    fn fallback() -> Self {
        false
    }
}

impl PanicFallback for NemoRelayStatus {
    fn fallback() -> Self {
        NemoRelayStatus::Panic
    }
}

impl<T> PanicFallback for *mut T {
    fn fallback() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicFallback for *const T {
    fn fallback() -> Self {
        std::ptr::null()
    }
}

macro_rules! zero_fallback {
    ($($ty:ty),*) => {
        $(impl PanicFallback for $ty {
            fn fallback() -> Self {
                0
            }
        })*
    };
}
zero_fallback!(i32, u32, i64, u64, usize);

/// Runs a status-returning body; see the module docs. Prefer [`ffi_status!`].
pub fn run_status(body: impl FnOnce() -> FfiResult<()>) -> NemoRelayStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            last_error::clear();
            NemoRelayStatus::Ok
        }
        Ok(Err(err)) => {
            last_error::set(&err);
            err.status()
        }
        Err(payload) => {
            last_error::set(&FfiError::from_panic(payload.as_ref()));
            NemoRelayStatus::Panic
        }
    }
}

/// Runs a value-returning body; see the module docs. Prefer [`ffi_value!`].
pub fn run_value<T: PanicFallback>(body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        last_error::set(&FfiError::from_panic(payload.as_ref()));
        T::fallback()
    })
}

/// Wraps the body of a status-returning `extern "C"` function.
///
/// The block evaluates to `FfiResult<()>`; `?` and `return Err(..)` work as in a
/// normal function body.
#[macro_export]
macro_rules! ffi_status {
    ($body:block) => {
        $crate::conventions::boundary::run_status(
            || -> $crate::conventions::error::FfiResult<()> { $body },
        )
    };
}

/// Wraps the body of an `extern "C"` function that returns a plain value.
#[macro_export]
macro_rules! ffi_value {
    ($body:block) => {
        $crate::conventions::boundary::run_value(|| $body)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_clears_a_previous_error() {
        last_error::set(&FfiError::internal("stale"));
        assert_eq!(ffi_status!({ Ok(()) }), NemoRelayStatus::Ok);
        assert!(last_error::message_ptr().is_null());
    }

    #[test]
    fn errors_become_status_and_message() {
        let status = ffi_status!({
            Err(FfiError::null_pointer("out"))?;
            Ok(())
        });
        assert_eq!(status, NemoRelayStatus::NullPointer);
        assert_eq!(last_error::status(), NemoRelayStatus::NullPointer);
    }

    #[test]
    fn panics_become_the_panic_status() {
        let status = ffi_status!({ panic!("kaboom") });
        assert_eq!(status, NemoRelayStatus::Panic);
        last_error::with_message(|m| {
            let text = std::str::from_utf8(m.unwrap()).unwrap();
            assert!(text.contains("kaboom"), "{text}");
        });
    }

    #[test]
    fn value_bodies_fall_back_on_panic_and_leave_the_slot_alone_otherwise() {
        last_error::clear();
        let ptr: *mut u8 = ffi_value!({ panic!("no pointer for you") });
        assert!(ptr.is_null());
        assert_eq!(last_error::status(), NemoRelayStatus::Panic);

        last_error::set(&FfiError::internal("kept"));
        let n: u32 = ffi_value!({ 7 });
        assert_eq!(n, 7);
        assert_eq!(last_error::status(), NemoRelayStatus::Internal);
        last_error::clear();
    }
}
