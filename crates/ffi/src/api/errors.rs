//! Reading the thread's last error, and naming status codes.
//!
//! None of these functions changes the last-error slot except
//! `nemo_relay_clear_last_error()`: reading the error must not erase it.

use std::ffi::c_char;

use crate::conventions::last_error;
use crate::conventions::status::NemoRelayStatus;

/// Returns the message of the last failed call on this thread, or NULL if the
/// most recent status-returning call on this thread succeeded.
///
/// The pointer is borrowed: do not free it. It stays valid until the next
/// status-returning `nemo_relay_*` call on this thread, a call to
/// `nemo_relay_clear_last_error()`, or thread exit, whichever comes first.
/// Copy the text (or use `nemo_relay_last_error_copy()`) to keep it longer.
#[no_mangle]
pub extern "C" fn nemo_relay_last_error() -> *const c_char {
    ffi_value!({ last_error::message_ptr() })
}

/// Returns the status of the last failed call on this thread, or
/// `NEMO_RELAY_STATUS_OK` if the most recent status-returning call succeeded.
#[no_mangle]
pub extern "C" fn nemo_relay_last_error_code() -> NemoRelayStatus {
    ffi_value!({ last_error::status() })
}

/// Copies the last error message of this thread into `buf`, `snprintf`-style.
///
/// Writes at most `buf_len - 1` bytes plus a terminating NUL (nothing when
/// `buf` is NULL or `buf_len` is 0) and returns the full length of the message
/// in bytes, excluding the NUL; 0 means there is no error. A return value of
/// `buf_len` or more means the copy was truncated: call again with a buffer of
/// at least the returned length plus one.
///
/// # Safety
/// `buf` is NULL or points to at least `buf_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_last_error_copy(buf: *mut c_char, buf_len: usize) -> usize {
    ffi_value!({
        last_error::with_message(|message| {
            let message = message.unwrap_or_default();
            if !buf.is_null() && buf_len > 0 {
                let copied = message.len().min(buf_len - 1);
                // SAFETY: the caller provides `buf_len` writable bytes at `buf`;
                // at most `buf_len - 1` are copied and one more is written.
                unsafe {
                    std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), copied);
                    *buf.add(copied) = 0;
                }
            }
            message.len()
        })
    })
}

/// Empties this thread's last-error slot.
#[no_mangle]
pub extern "C" fn nemo_relay_clear_last_error() {
    ffi_value!({ last_error::clear() })
}

/// Returns the name of a status code as spelled in this header (for example
/// "NEMO_RELAY_STATUS_NOT_FOUND"), or NULL for an unknown code. The string is
/// static: do not free it.
#[no_mangle]
pub extern "C" fn nemo_relay_status_name(status: i32) -> *const c_char {
    ffi_value!({
        NemoRelayStatus::from_raw(status).map_or(std::ptr::null(), |known| known.name().as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conventions::error::FfiError;
    use std::ffi::CStr;

    #[test]
    fn copy_truncates_and_reports_the_full_length() {
        last_error::set(&FfiError::internal("abcdef"));
        let mut buf = [0x7f_i8 as c_char; 4];
        let len = unsafe { nemo_relay_last_error_copy(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(len, 6);
        assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes(), b"abc");
        assert_eq!(
            unsafe { nemo_relay_last_error_copy(std::ptr::null_mut(), 0) },
            6
        );
        nemo_relay_clear_last_error();
        assert_eq!(
            unsafe { nemo_relay_last_error_copy(buf.as_mut_ptr(), buf.len()) },
            0
        );
        assert_eq!(buf[0], 0);
    }

    #[test]
    fn reading_does_not_clear() {
        last_error::set(&FfiError::internal("sticky"));
        assert!(!nemo_relay_last_error().is_null());
        assert_eq!(nemo_relay_last_error_code(), NemoRelayStatus::Internal);
        assert!(!nemo_relay_last_error().is_null());
        nemo_relay_clear_last_error();
        assert!(nemo_relay_last_error().is_null());
    }

    #[test]
    fn status_names_cover_known_codes_only() {
        let name = unsafe { CStr::from_ptr(nemo_relay_status_name(2)) };
        assert_eq!(name.to_str().unwrap(), "NEMO_RELAY_STATUS_NOT_FOUND");
        assert!(nemo_relay_status_name(-5).is_null());
        assert!(nemo_relay_status_name(1000).is_null());
    }
}
