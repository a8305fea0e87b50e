//! The error value that entry points build internally.
//!
//! An [`FfiError`] pairs a [`NemoRelayStatus`] with a human-readable message.
//! Entry-point bodies return [`FfiResult`] and use `?`; the boundary in
//! [`crate::conventions::boundary`] turns an `Err` into the returned status plus
//! the thread's last-error message, so no function sets the last error by hand.
//!
//! Core errors convert with `?` through the `From` impl in
//! [`crate::conventions::core_error`], the one place that maps them.

use std::any::Any;
use std::fmt;

use super::status::NemoRelayStatus;

/// A failure on its way out to C: the status to return and the message to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FfiError {
    status: NemoRelayStatus,
    message: String,
}

/// Result type of every entry-point body.
pub type FfiResult<T> = Result<T, FfiError>;

impl FfiError {
    /// Builds an error. `status` must not be `Ok`; that would make "failure"
    /// indistinguishable from success for the caller.
    pub fn new(status: NemoRelayStatus, message: impl Into<String>) -> Self {
        debug_assert_ne!(
            status,
            NemoRelayStatus::Ok,
            "an error needs a failure status"
        );
        Self {
            status,
            message: message.into(),
        }
    }

    /// A required pointer argument was NULL. `arg` is the parameter's C name,
    /// so the message points the caller at the exact argument.
    pub fn null_pointer(arg: &str) -> Self {
        Self::new(
            NemoRelayStatus::NullPointer,
            format!("argument `{arg}` must not be NULL"),
        )
    }

    /// An argument had a value outside its documented range.
    pub fn invalid_argument(arg: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            NemoRelayStatus::InvalidArgument,
            format!("argument `{arg}` is invalid: {detail}"),
        )
    }

    /// Something inside the library failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(NemoRelayStatus::Internal, message)
    }

    /// Converts a caught panic payload. Panics carry a `&str` or a `String` in
    /// practice; anything else gets a generic message.
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let detail = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        Self::new(
            NemoRelayStatus::Panic,
            format!("internal panic (this is a bug in nemo-relay): {detail}"),
        )
    }

    /// The status the entry point returns.
    pub fn status(&self) -> NemoRelayStatus {
        self.status
    }

    /// The text stored in the thread's last-error slot.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FfiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_pointer_message_names_the_argument() {
        let err = FfiError::null_pointer("out_json");
        assert_eq!(err.status(), NemoRelayStatus::NullPointer);
        assert_eq!(err.message(), "argument `out_json` must not be NULL");
    }

    #[test]
    fn panic_payloads_of_both_string_kinds_are_kept() {
        let from_str = FfiError::from_panic(&"boom");
        assert!(from_str.message().ends_with(": boom"));
        let from_string = FfiError::from_panic(&String::from("bang"));
        assert!(from_string.message().ends_with(": bang"));
        let other = FfiError::from_panic(&42_u8);
        assert!(other.message().ends_with("non-string panic payload"));
        assert_eq!(other.status(), NemoRelayStatus::Panic);
    }
}
