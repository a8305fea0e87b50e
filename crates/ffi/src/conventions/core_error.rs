//! Mapping core runtime errors to status codes.
//!
//! Each [`ErrorCode`] of the core gets its own [`NemoRelayStatus`], so the C ABI
//! loses no information the JavaScript binding exposes as `error.code`. The
//! message is the core error's `Display` text, which already names the
//! offending scope, registration or guardrail.
//!
//! `ErrorCode` is `#[non_exhaustive]`: a code added to the core later maps to
//! `INTERNAL` until it gets a status here, and the test below fails as soon as
//! it appears in `ErrorCode::ALL`, so the gap cannot go unnoticed.

use nemo_relay_core::{ErrorCode, RelayError};

use super::error::FfiError;
use super::status::NemoRelayStatus;

/// The status a core error code is reported as.
pub fn status_for(code: ErrorCode) -> NemoRelayStatus {
    match code {
        ErrorCode::InvalidArgument => NemoRelayStatus::InvalidArgument,
        ErrorCode::NotFound => NemoRelayStatus::NotFound,
        ErrorCode::AlreadyExists => NemoRelayStatus::AlreadyExists,
        ErrorCode::ScopeNotOnTop => NemoRelayStatus::ScopeNotOnTop,
        ErrorCode::ForeignScope => NemoRelayStatus::ForeignScope,
        ErrorCode::RootScope => NemoRelayStatus::RootScope,
        ErrorCode::GuardrailRejected => NemoRelayStatus::GuardrailRejected,
        ErrorCode::CallbackFailed => NemoRelayStatus::CallbackFailed,
        ErrorCode::Cancelled => NemoRelayStatus::Cancelled,
        ErrorCode::ContinuationExpired => NemoRelayStatus::ContinuationExpired,
        ErrorCode::ShutDown => NemoRelayStatus::ShutDown,
        ErrorCode::Timeout => NemoRelayStatus::Timeout,
        ErrorCode::Internal => NemoRelayStatus::Internal,
        _ => NemoRelayStatus::Internal,
    }
}

/// The status of a library error a callback handed back (the error of a
/// nested call it made, say): carried through the core as the callback's
/// failure, and reported to the caller with that status and its message
/// (as far as the core prefixed it: "components[0] (kind): …").
pub struct Rethrown(pub NemoRelayStatus);

impl From<RelayError> for FfiError {
    fn from(err: RelayError) -> Self {
        if let RelayError::Callback {
            message,
            payload: Some(p),
            ..
        } = &err
        {
            if let Some(Rethrown(status)) = p.downcast_ref::<Rethrown>() {
                return FfiError::new(*status, message.clone());
            }
        }
        FfiError::new(status_for(err.code()), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_core_code_has_its_own_status() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let status = status_for(code);
            assert!(seen.insert(status), "{code} shares status {status:?}");
            assert!(
                status != NemoRelayStatus::Internal || code == ErrorCode::Internal,
                "core code `{code}` has no status yet; add one in status.rs"
            );
        }
    }

    #[test]
    fn core_errors_keep_their_message() {
        let err = FfiError::from(RelayError::ScopeNotOnTop {
            name: "outer".into(),
            top: "inner".into(),
        });
        assert_eq!(err.status(), NemoRelayStatus::ScopeNotOnTop);
        assert!(err.message().contains("'outer'"), "{}", err.message());
    }
}
