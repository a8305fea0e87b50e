//! Strings that cross the boundary, and who frees them.
//!
//! # Ownership rules
//!
//! | Direction | Rule |
//! |---|---|
//! | C → library (`const char *` argument) | Borrowed for the duration of the call only. Must be NUL-terminated UTF-8. |
//! | library → C (`char **out`, `char *` result) | Allocated with the C allocator (`malloc`). The caller owns it and releases it with `nemo_relay_string_free()`, which accepts NULL. |
//! | `const char *` results (`nemo_relay_version()`, `nemo_relay_status_name()`) | Static; never free them. |
//! | C → library (a callback's `char *` result) | Ownership passes to the library, which frees it exactly once with `free()`. Allocate it with `nemo_relay_string_new()` (or `malloc`). |
//!
//! # Why `malloc` and not `CString::into_raw`
//!
//! Upstream handed out `CString`s and freed callback results with
//! `CString::from_raw`, which only works while Rust's global allocator happens
//! to be the system `malloc` and the C side never shortens the string. Using
//! `malloc`/`free` explicitly makes the allocator identity a stated fact rather
//! than a coincidence, and lets C callbacks return plain `malloc` memory.
//!
//! Library strings never contain an interior NUL: JSON escapes it as `\u0000`,
//! and messages replace it (see [`to_c_string_lossy`]). A string that would
//! need one is an error, never a silently truncated or empty string.

use std::ffi::{c_char, c_void, CString};

use super::error::{FfiError, FfiResult};

/// cbindgen:ignore
///
/// The C allocator, declared here rather than pulling in the `libc` crate for
/// two symbols (every platform with a C ABI links a C library providing them).
/// The annotation above keeps these imports out of `nemo_relay.h`.
mod c_allocator {
    use std::ffi::c_void;

    extern "C" {
        pub(super) fn malloc(size: usize) -> *mut c_void;
        pub(super) fn free(ptr: *mut c_void);
    }
}
use c_allocator::{free, malloc};

/// Copies `bytes` into a fresh `malloc` buffer with a trailing NUL.
///
/// Fails with `INVALID_ARGUMENT` on an interior NUL (the caller could not see
/// past it) and with `INTERNAL` when the allocation fails.
pub fn alloc_c_string(bytes: &[u8]) -> FfiResult<*mut c_char> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(FfiError::invalid_argument(
            "string",
            format!("contains a NUL byte at offset {pos}"),
        ));
    }
    let size = bytes
        .len()
        .checked_add(1)
        .ok_or_else(|| FfiError::internal("string too large to allocate"))?;
    // SAFETY: plain C allocation; checked for NULL below.
    let buffer = unsafe { malloc(size) }.cast::<u8>();
    if buffer.is_null() {
        return Err(FfiError::internal(format!(
            "out of memory allocating {size} bytes"
        )));
    }
    // SAFETY: `buffer` has room for `size` = len + 1 bytes and cannot overlap
    // `bytes`, which lives in memory we already own.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len());
        *buffer.add(bytes.len()) = 0;
    }
    Ok(buffer.cast::<c_char>())
}

/// Releases a string from [`alloc_c_string`] or from a C callback.
///
/// # Safety
/// `ptr` is NULL or came from the C allocator and has not been freed yet.
pub unsafe fn free_c_string(ptr: *mut c_char) {
    if !ptr.is_null() {
        // SAFETY: the caller promises `ptr` is a live `malloc` allocation.
        unsafe { free(ptr.cast::<c_void>()) };
    }
}

/// Converts text for places that must not fail, such as error messages:
/// interior NULs become U+FFFD so the message is never cut short.
pub fn to_c_string_lossy(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| {
        CString::new(text.replace('\0', "\u{FFFD}")).expect("all NUL bytes were replaced")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NemoRelayStatus;
    use std::ffi::CStr;

    #[test]
    fn allocated_strings_round_trip_and_free() {
        let ptr = alloc_c_string(b"hello").unwrap();
        assert_eq!(unsafe { CStr::from_ptr(ptr) }.to_bytes(), b"hello");
        unsafe { free_c_string(ptr) };
        unsafe { free_c_string(std::ptr::null_mut()) };
    }

    #[test]
    fn empty_string_is_a_valid_allocation() {
        let ptr = alloc_c_string(b"").unwrap();
        assert!(!ptr.is_null());
        assert_eq!(unsafe { CStr::from_ptr(ptr) }.to_bytes(), b"");
        unsafe { free_c_string(ptr) };
    }

    #[test]
    fn interior_nul_is_an_error_not_an_empty_string() {
        let err = alloc_c_string(b"a\0b").unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidArgument);
        assert!(err.message().contains("offset 1"), "{}", err.message());
    }

    #[test]
    fn lossy_conversion_keeps_text_after_a_nul() {
        let c = to_c_string_lossy("before\0after");
        assert_eq!(c.to_str().unwrap(), "before\u{FFFD}after");
    }
}
