//! The per-thread "last error" slot.
//!
//! # Rules
//!
//! * Every function that returns a [`NemoRelayStatus`] *sets* the slot when it
//!   fails and *clears* it when it succeeds, so after any status-returning call
//!   the slot describes exactly that call. Functions that return something else
//!   (accessors, `*_free`, `nemo_relay_string_*`, the last-error readers
//!   themselves) leave the slot alone, except that a caught panic is always
//!   recorded.
//! * `nemo_relay_last_error()` returns a pointer **borrowed** from the slot. It
//!   stays valid until the next status-returning call *on the same thread*, or
//!   `nemo_relay_clear_last_error()`, or thread exit. Never free it.
//! * `nemo_relay_last_error_copy()` copies the message into a caller buffer, so a
//!   binding can take the text with no lifetime question at all.
//!
//! # Why per thread, and the pitfall it brings
//!
//! A per-thread slot needs no locking and cannot mix up two threads' errors.
//! The price: the caller must read it on the thread that made the failing
//! call. Go can move a goroutine to another OS thread between two cgo calls, so
//! the Go binding pins the goroutine (`runtime.LockOSThread`) around "call,
//! then read the error"; upstream did not, and sometimes reported another
//! goroutine's error.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use super::error::FfiError;
use super::status::NemoRelayStatus;
use super::strings::to_c_string_lossy;

struct Slot {
    status: NemoRelayStatus,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Stores `err` as this thread's last error, replacing any previous one.
pub fn set(err: &FfiError) {
    let slot = Slot {
        status: err.status(),
        message: to_c_string_lossy(err.message()),
    };
    // `try_with` fails only while the thread is being torn down; there is no
    // one left to read the error then, so dropping it is correct.
    let _ = LAST_ERROR.try_with(|cell| *cell.borrow_mut() = Some(slot));
}

/// Empties this thread's slot.
pub fn clear() {
    let _ = LAST_ERROR.try_with(|cell| cell.borrow_mut().take());
}

/// Status of the last failure on this thread, or `Ok` when the slot is empty.
pub fn status() -> NemoRelayStatus {
    LAST_ERROR
        .try_with(|cell| cell.borrow().as_ref().map(|slot| slot.status))
        .ok()
        .flatten()
        .unwrap_or(NemoRelayStatus::Ok)
}

/// Borrowed pointer to the message, or NULL when the slot is empty.
///
/// The pointer targets the `CString` heap buffer owned by the slot; moving the
/// `Slot` value does not move that buffer, so it stays valid until [`set`] or
/// [`clear`] replaces the slot on this thread.
pub fn message_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|cell| {
            cell.borrow()
                .as_ref()
                .map_or(std::ptr::null(), |slot| slot.message.as_ptr())
        })
        .unwrap_or(std::ptr::null())
}

/// Runs `f` with the message bytes (without the NUL), or `None` when empty.
///
/// Panics only if called during thread teardown; every caller runs inside the
/// panic boundary, which turns that into a status.
pub fn with_message<R>(f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    LAST_ERROR.with(|cell| f(cell.borrow().as_ref().map(|slot| slot.message.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn set_then_clear_round_trip() {
        set(&FfiError::null_pointer("json"));
        assert_eq!(status(), NemoRelayStatus::NullPointer);
        let text = unsafe { CStr::from_ptr(message_ptr()) };
        assert_eq!(text.to_str().unwrap(), "argument `json` must not be NULL");
        clear();
        assert_eq!(status(), NemoRelayStatus::Ok);
        assert!(message_ptr().is_null());
    }

    #[test]
    fn slots_are_independent_per_thread() {
        set(&FfiError::internal("main thread"));
        std::thread::spawn(|| {
            assert!(message_ptr().is_null());
            set(&FfiError::internal("other thread"));
        })
        .join()
        .unwrap();
        with_message(|m| assert_eq!(m, Some(&b"main thread"[..])));
        clear();
    }
}
