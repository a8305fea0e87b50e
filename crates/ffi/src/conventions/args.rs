//! Validation of raw arguments: pointers, C strings, out-slots, integer enums.
//!
//! Each helper takes the parameter's C name so the error message can say which
//! argument was wrong (`argument \`out_json\` must not be NULL`).
//!
//! Order inside an entry point: validate and reset every out-slot first, then
//! read the inputs, then do the work. That way a NULL out-slot is reported
//! before anything is allocated that would then have nowhere to go, and a caller
//! that ignores the status still sees NULL rather than a stale pointer.

use std::ffi::{c_char, CStr};
use std::fmt::Display;

use super::error::{FfiError, FfiResult};
use super::status::NemoRelayStatus;

/// Borrows a required NUL-terminated UTF-8 string argument.
///
/// NULL gives `NULL_POINTER`; bytes that are not UTF-8 give `INVALID_UTF8`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unmodified for the returned lifetime (the duration of the call).
pub unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded from the caller.
    unsafe { opt_str_arg(ptr, name) }?.ok_or_else(|| FfiError::null_pointer(name))
}

/// Like [`str_arg`], but NULL means "not given" and yields `None`.
///
/// # Safety
/// Same as [`str_arg`].
pub unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map(Some).map_err(|err| {
        FfiError::new(
            NemoRelayStatus::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8 (bad byte at offset {})",
                err.valid_up_to()
            ),
        )
    })
}

/// An output slot (`T **out`) that has been checked and reset to NULL.
pub struct OutSlot<'a, T>(&'a mut *mut T);

impl<T> OutSlot<'_, T> {
    /// Hands `value` to the caller. Call it last, once nothing can fail any
    /// more, so an error path never leaves a pointer the caller must free.
    pub fn write(self, value: *mut T) {
        *self.0 = value;
    }
}

/// Checks an out-parameter and sets `*out = NULL`.
///
/// # Safety
/// `out` is NULL or points to writable storage for one pointer that stays
/// valid for the duration of the call.
pub unsafe fn out_slot<'a, T>(out: *mut *mut T, name: &str) -> FfiResult<OutSlot<'a, T>> {
    // SAFETY: the caller promises `out` is NULL or valid; NULL is handled.
    let slot = unsafe { out.as_mut() }.ok_or_else(|| FfiError::null_pointer(name))?;
    *slot = std::ptr::null_mut();
    Ok(OutSlot(slot))
}

/// Validates an enum-like `int32_t` parameter.
///
/// C enums are not range-checked, so the ABI never takes a Rust enum by value:
/// an out-of-range discriminant would be undefined behaviour before any check
/// could run. Parameters are plain integers, and each Rust enum that stands
/// behind one implements `TryFrom<i32>`.
pub fn enum_arg<E>(raw: i32, name: &str) -> FfiResult<E>
where
    E: TryFrom<i32>,
    E::Error: Display,
{
    E::try_from(raw).map_err(|err| FfiError::invalid_argument(name, err))
}

/// Requires a non-NULL callback. Callback parameters are declared as
/// `Option<unsafe extern "C" fn ..>` precisely so NULL can be checked here
/// instead of crashing on the first call.
pub fn callback_arg<F>(callback: Option<F>, name: &str) -> FfiResult<F> {
    callback.ok_or_else(|| FfiError::null_pointer(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_after_validation() {
        let text = c"scope";
        assert_eq!(unsafe { str_arg(text.as_ptr(), "name") }.unwrap(), "scope");
    }

    #[test]
    fn null_and_bad_utf8_are_distinguished() {
        let null = unsafe { str_arg(std::ptr::null(), "name") }.unwrap_err();
        assert_eq!(null.status(), NemoRelayStatus::NullPointer);
        let bad = unsafe { str_arg(c"ok\xff".as_ptr(), "name") }.unwrap_err();
        assert_eq!(bad.status(), NemoRelayStatus::InvalidUtf8);
        assert!(bad.message().contains("offset 2"), "{}", bad.message());
        assert_eq!(unsafe { opt_str_arg(std::ptr::null(), "x") }.unwrap(), None);
    }

    #[test]
    fn out_slots_are_reset_before_use() {
        let mut stale: c_char = 0;
        let mut out: *mut c_char = &mut stale;
        {
            let _slot = unsafe { out_slot(&mut out, "out") }.unwrap();
        }
        assert!(out.is_null());
        let err = unsafe { out_slot::<c_char>(std::ptr::null_mut(), "out_json") }.err();
        assert_eq!(err.unwrap().status(), NemoRelayStatus::NullPointer);
    }

    #[test]
    fn enum_integers_are_range_checked() {
        #[derive(Debug, PartialEq)]
        struct Small(i32);
        impl TryFrom<i32> for Small {
            type Error = String;
            fn try_from(raw: i32) -> Result<Self, String> {
                (0..3)
                    .contains(&raw)
                    .then_some(Small(raw))
                    .ok_or(format!("{raw} is not 0..3"))
            }
        }
        assert_eq!(enum_arg::<Small>(2, "kind").unwrap(), Small(2));
        let err = enum_arg::<Small>(999, "kind").unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::InvalidArgument);
        assert_eq!(err.message(), "argument `kind` is invalid: 999 is not 0..3");
    }
}
