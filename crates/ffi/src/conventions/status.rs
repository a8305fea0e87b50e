//! Stable numeric status codes.
//!
//! The numbers are part of the ABI: they are written out explicitly, never
//! reordered and never reused. Codes 1 to 9 keep the values the upstream
//! NeMo Relay C ABI uses, so code written against it reads the same; 10 and 11
//! are reserved for the native plugin ABI (stream end, backpressure). New codes
//! are appended.
//!
//! Every core [`ErrorCode`](nemo_relay_core::ErrorCode) has its own status (see
//! [`crate::conventions::core_error`]), so C, Go and Python callers can tell
//! apart exactly the failures JavaScript callers can.
//!
//! The enum is only ever *returned* to C. Values that C hands to Rust (for
//! example a status returned by a callback) arrive as a plain `int32_t` and go
//! through [`NemoRelayStatus::from_raw`]: turning an arbitrary integer into a
//! Rust enum without checking it would be undefined behaviour.

use std::ffi::CStr;

/// Result of every fallible `nemo_relay_*` function.
///
/// `NEMO_RELAY_STATUS_OK` (0) means success and every output parameter has been
/// written. Any other value means failure; `nemo_relay_last_error()` on the same
/// thread then describes it.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NemoRelayStatus {
    /// Success.
    Ok = 0,
    /// A name (registration, plugin, ...) is already taken.
    AlreadyExists = 1,
    /// The named or referenced object does not exist.
    NotFound = 2,
    /// Reserved (upstream compatibility): the scope stack is empty. The core's
    /// stacks always keep a root scope, so this is not returned today.
    ScopeStackEmpty = 3,
    /// A conditional guardrail blocked the call; the last error holds its reason.
    GuardrailRejected = 4,
    /// A failure inside the runtime that the caller could not have prevented.
    Internal = 5,
    /// A required pointer argument (input, output slot or handle) was NULL.
    NullPointer = 6,
    /// A JSON argument did not parse, or did not have the documented shape.
    InvalidJson = 7,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 8,
    /// An argument had a value outside its documented range (enum, flags, ...).
    InvalidArgument = 9,
    /// Reserved for the native plugin ABI: a stream has no more items.
    StreamEnd = 10,
    /// Reserved for the native plugin ABI: a bounded queue is full.
    Backpressured = 11,
    /// A Rust panic was caught at the boundary. The library stays usable, but
    /// the operation may have been left half done; please report it as a bug.
    Panic = 12,
    /// A handle or object is not in a state that allows the operation (for
    /// example a stream used after it was closed).
    InvalidState = 13,
    /// The operation was cancelled before it completed.
    Cancelled = 14,
    /// The runtime has been shut down.
    ShutDown = 15,
    /// A caller-supplied callback reported failure; the last error holds the
    /// message the callback gave. (A callback that fails with another status
    /// of this enum, other than `INTERNAL`, hands that status on instead.)
    CallbackFailed = 16,
    /// The scope being popped has open child scopes above it; pop them first.
    ScopeNotOnTop = 17,
    /// The scope belongs to another scope stack than the one used.
    ForeignScope = 18,
    /// The implicit root scope of a stack cannot be popped.
    RootScope = 19,
    /// An execution intercept's `next` was called after the intercept returned.
    ContinuationExpired = 20,
    /// A bounded wait (for example a flush with a timeout) ran out.
    Timeout = 21,
}

impl NemoRelayStatus {
    /// Every status, in numeric order. Not `pub`, so cbindgen leaves it out of
    /// the header.
    pub(crate) const ALL: [Self; 22] = [
        Self::Ok,
        Self::AlreadyExists,
        Self::NotFound,
        Self::ScopeStackEmpty,
        Self::GuardrailRejected,
        Self::Internal,
        Self::NullPointer,
        Self::InvalidJson,
        Self::InvalidUtf8,
        Self::InvalidArgument,
        Self::StreamEnd,
        Self::Backpressured,
        Self::Panic,
        Self::InvalidState,
        Self::Cancelled,
        Self::ShutDown,
        Self::CallbackFailed,
        Self::ScopeNotOnTop,
        Self::ForeignScope,
        Self::RootScope,
        Self::ContinuationExpired,
        Self::Timeout,
    ];

    /// Validates an integer that came from C.
    pub fn from_raw(raw: i32) -> Option<Self> {
        usize::try_from(raw)
            .ok()
            .and_then(|index| Self::ALL.get(index))
            .copied()
    }

    /// The C spelling of the code, as it appears in `nemo_relay.h`.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"NEMO_RELAY_STATUS_OK",
            Self::AlreadyExists => c"NEMO_RELAY_STATUS_ALREADY_EXISTS",
            Self::NotFound => c"NEMO_RELAY_STATUS_NOT_FOUND",
            Self::ScopeStackEmpty => c"NEMO_RELAY_STATUS_SCOPE_STACK_EMPTY",
            Self::GuardrailRejected => c"NEMO_RELAY_STATUS_GUARDRAIL_REJECTED",
            Self::Internal => c"NEMO_RELAY_STATUS_INTERNAL",
            Self::NullPointer => c"NEMO_RELAY_STATUS_NULL_POINTER",
            Self::InvalidJson => c"NEMO_RELAY_STATUS_INVALID_JSON",
            Self::InvalidUtf8 => c"NEMO_RELAY_STATUS_INVALID_UTF8",
            Self::InvalidArgument => c"NEMO_RELAY_STATUS_INVALID_ARGUMENT",
            Self::StreamEnd => c"NEMO_RELAY_STATUS_STREAM_END",
            Self::Backpressured => c"NEMO_RELAY_STATUS_BACKPRESSURED",
            Self::Panic => c"NEMO_RELAY_STATUS_PANIC",
            Self::InvalidState => c"NEMO_RELAY_STATUS_INVALID_STATE",
            Self::Cancelled => c"NEMO_RELAY_STATUS_CANCELLED",
            Self::ShutDown => c"NEMO_RELAY_STATUS_SHUT_DOWN",
            Self::CallbackFailed => c"NEMO_RELAY_STATUS_CALLBACK_FAILED",
            Self::ScopeNotOnTop => c"NEMO_RELAY_STATUS_SCOPE_NOT_ON_TOP",
            Self::ForeignScope => c"NEMO_RELAY_STATUS_FOREIGN_SCOPE",
            Self::RootScope => c"NEMO_RELAY_STATUS_ROOT_SCOPE",
            Self::ContinuationExpired => c"NEMO_RELAY_STATUS_CONTINUATION_EXPIRED",
            Self::Timeout => c"NEMO_RELAY_STATUS_TIMEOUT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NemoRelayStatus;

    #[test]
    fn codes_are_dense_and_match_their_position() {
        for (index, status) in NemoRelayStatus::ALL.iter().enumerate() {
            assert_eq!(*status as i32, index as i32);
            assert_eq!(NemoRelayStatus::from_raw(index as i32), Some(*status));
        }
    }

    #[test]
    fn out_of_range_integers_are_rejected() {
        assert_eq!(NemoRelayStatus::from_raw(-1), None);
        assert_eq!(NemoRelayStatus::from_raw(22), None);
        assert_eq!(NemoRelayStatus::from_raw(i32::MAX), None);
    }

    #[test]
    fn upstream_compatible_values_are_pinned() {
        // These match the upstream C ABI; changing one breaks existing callers.
        assert_eq!(NemoRelayStatus::AlreadyExists as i32, 1);
        assert_eq!(NemoRelayStatus::NotFound as i32, 2);
        assert_eq!(NemoRelayStatus::GuardrailRejected as i32, 4);
        assert_eq!(NemoRelayStatus::Internal as i32, 5);
        assert_eq!(NemoRelayStatus::NullPointer as i32, 6);
        assert_eq!(NemoRelayStatus::InvalidJson as i32, 7);
        assert_eq!(NemoRelayStatus::InvalidUtf8 as i32, 8);
        assert_eq!(NemoRelayStatus::InvalidArgument as i32, 9);
    }

    #[test]
    fn names_follow_the_header_spelling() {
        for status in NemoRelayStatus::ALL {
            let name = status.name().to_str().unwrap();
            assert!(name.starts_with("NEMO_RELAY_STATUS_"), "{name}");
        }
        assert_eq!(
            NemoRelayStatus::InvalidUtf8.name().to_str().unwrap(),
            "NEMO_RELAY_STATUS_INVALID_UTF8"
        );
    }
}
