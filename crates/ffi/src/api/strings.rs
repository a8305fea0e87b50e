//! Allocating and releasing library-owned strings.
//!
//! See [`crate::conventions::strings`] for the ownership rules.

use std::ffi::c_char;

use crate::conventions::error::FfiError;
use crate::conventions::last_error;
use crate::conventions::strings::{alloc_c_string, free_c_string};

/// Copies `len` bytes from `bytes` into a new NUL-terminated string owned by the
/// caller, allocated the way the library allocates. Use it for strings a
/// callback returns to the library, which then frees them; or release it with
/// `nemo_relay_string_free()`.
///
/// `bytes` may be NULL only when `len` is 0. Returns NULL, and sets the last
/// error, when `bytes` is NULL with a non-zero `len`, when the bytes contain a
/// NUL, or when memory runs out. The bytes need not be UTF-8 here; functions
/// that consume the string check that.
///
/// # Safety
/// `bytes` is NULL or points to at least `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_string_new(bytes: *const c_char, len: usize) -> *mut c_char {
    ffi_value!({
        let source: &[u8] = if len == 0 {
            &[]
        } else if bytes.is_null() {
            last_error::set(&FfiError::null_pointer("bytes"));
            return std::ptr::null_mut();
        } else {
            // SAFETY: the caller provides `len` readable bytes at `bytes`.
            unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), len) }
        };
        alloc_c_string(source).unwrap_or_else(|err| {
            last_error::set(&err);
            std::ptr::null_mut()
        })
    })
}

/// Releases a string returned by the library (through a `char **out`
/// parameter, a `char *` result, or `nemo_relay_string_new()`). NULL is a
/// no-op. Never pass a `const char *` the library documents as borrowed or
/// static, and never free the same string twice.
///
/// # Safety
/// `string` is NULL or a library-allocated string that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_string_free(string: *mut c_char) {
    // SAFETY: the caller passes NULL or a live library-allocated string.
    ffi_value!({ unsafe { free_c_string(string) } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NemoRelayStatus;
    use std::ffi::CStr;

    #[test]
    fn string_new_copies_exactly_len_bytes() {
        let source = b"hello world";
        let ptr = unsafe { nemo_relay_string_new(source.as_ptr().cast(), 5) };
        assert_eq!(unsafe { CStr::from_ptr(ptr) }.to_bytes(), b"hello");
        unsafe { nemo_relay_string_free(ptr) };
    }

    #[test]
    fn string_new_rejects_null_with_length_and_interior_nul() {
        last_error::clear();
        assert!(unsafe { nemo_relay_string_new(std::ptr::null(), 3) }.is_null());
        assert_eq!(last_error::status(), NemoRelayStatus::NullPointer);
        assert!(unsafe { nemo_relay_string_new(b"a\0b".as_ptr().cast(), 3) }.is_null());
        assert_eq!(last_error::status(), NemoRelayStatus::InvalidArgument);
        let empty = unsafe { nemo_relay_string_new(std::ptr::null(), 0) };
        assert!(!empty.is_null());
        unsafe { nemo_relay_string_free(empty) };
        last_error::clear();
    }
}
