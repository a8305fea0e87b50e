//! One error type for the whole runtime, with a stable code per variant.
//!
//! Every fallible API returns [`Result<T>`]. Bindings never parse messages:
//! they read [`RelayError::code`], whose string form ([`ErrorCode::as_str`]) is
//! part of the public contract and never changes once released. JS exposes it
//! as `error.code`, the C ABI maps it to a numeric status.
//!
//! | code | variant | what the caller should do |
//! |---|---|---|
//! | `invalid_argument` | [`RelayError::InvalidArgument`] | fix the input |
//! | `not_found` | [`RelayError::NotFound`] | the name/scope does not exist (anymore) |
//! | `already_exists` | [`RelayError::AlreadyExists`] | deregister first or pick another name |
//! | `scope_not_on_top` | [`RelayError::ScopeNotOnTop`] | pop inner scopes first |
//! | `foreign_scope` | [`RelayError::ForeignScope`] | pop the scope on the stack that pushed it |
//! | `root_scope` | [`RelayError::RootScope`] | the implicit root cannot be popped |
//! | `guardrail_rejected` | [`RelayError::GuardrailRejected`] | the call was blocked by policy; `reason` says why |
//! | `callback_failed` | [`RelayError::Callback`] | a user callback (tool, middleware) failed |
//! | `cancelled` | [`RelayError::Cancelled`] | the call was aborted |
//! | `continuation_expired` | [`RelayError::ContinuationExpired`] | `next` was called after its intercept settled |
//! | `shut_down` | [`RelayError::ShutDown`], [`RelayError::Forked`] | the runtime was shut down (or, in a forked child, delivers nothing there) |
//! | `timeout` | [`RelayError::Timeout`] | a bounded wait (flush) ran out |
//! | `internal` | [`RelayError::Internal`] | a bug; please report it |

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Result alias used across the crate.
pub type Result<T, E = RelayError> = std::result::Result<T, E>;

/// Opaque payload a binding attaches to a callback error so that it can hand
/// the *original* foreign error (a JS `Error` object, a Go error value) back to
/// its caller unchanged after it crossed the Rust pipeline.
pub type ErrorPayload = Arc<dyn Any + Send + Sync>;

/// Every error the runtime reports.
#[derive(Clone)]
#[non_exhaustive]
pub enum RelayError {
    /// An argument was malformed (empty name, bad JSON shape, unknown enum value).
    InvalidArgument(String),
    /// A named registration, scope or plugin does not exist.
    NotFound(String),
    /// A registration with this name already exists in that registry.
    AlreadyExists(String),
    /// The scope being popped is on the stack but has open children above it.
    ScopeNotOnTop {
        /// Name of the scope the caller tried to pop.
        name: String,
        /// Name of the scope actually on top.
        top: String,
    },
    /// The scope belongs to another stack (or was inherited by a fork).
    ForeignScope(String),
    /// The implicit root scope of a stack cannot be popped.
    RootScope,
    /// A conditional-execution guardrail blocked the call.
    GuardrailRejected {
        /// Registration name of the guardrail that rejected.
        guardrail: String,
        /// The reason the guardrail gave.
        reason: String,
    },
    /// A user callback (tool, LLM provider, middleware) failed.
    Callback {
        /// Human-readable message.
        message: String,
        /// Exception class/name in the foreign language (`TypeError`), if any.
        exception_type: Option<String>,
        /// The original foreign error, for bindings to rethrow as-is.
        payload: Option<ErrorPayload>,
    },
    /// The call was cancelled before it finished.
    Cancelled(String),
    /// An execution-intercept `next` was used after its intercept settled.
    ContinuationExpired,
    /// The runtime (or its dispatcher) was shut down.
    ShutDown,
    /// This process is a `fork()` child of one whose dispatcher had
    /// started: the dispatcher thread did not survive the fork, so events
    /// are not delivered here. Code `shut_down`.
    Forked,
    /// A bounded wait ran out.
    Timeout,
    /// Invariant violation inside the runtime.
    Internal(String),
}

/// Stable error codes; see the module table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_argument`
    InvalidArgument,
    /// `not_found`
    NotFound,
    /// `already_exists`
    AlreadyExists,
    /// `scope_not_on_top`
    ScopeNotOnTop,
    /// `foreign_scope`
    ForeignScope,
    /// `root_scope`
    RootScope,
    /// `guardrail_rejected`
    GuardrailRejected,
    /// `callback_failed`
    CallbackFailed,
    /// `cancelled`
    Cancelled,
    /// `continuation_expired`
    ContinuationExpired,
    /// `shut_down`
    ShutDown,
    /// `timeout`
    Timeout,
    /// `internal`
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (for bindings that build tables).
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::ScopeNotOnTop,
        ErrorCode::ForeignScope,
        ErrorCode::RootScope,
        ErrorCode::GuardrailRejected,
        ErrorCode::CallbackFailed,
        ErrorCode::Cancelled,
        ErrorCode::ContinuationExpired,
        ErrorCode::ShutDown,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];

    /// The stable snake_case string of this code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::ScopeNotOnTop => "scope_not_on_top",
            ErrorCode::ForeignScope => "foreign_scope",
            ErrorCode::RootScope => "root_scope",
            ErrorCode::GuardrailRejected => "guardrail_rejected",
            ErrorCode::CallbackFailed => "callback_failed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::ContinuationExpired => "continuation_expired",
            ErrorCode::ShutDown => "shut_down",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RelayError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RelayError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            RelayError::NotFound(_) => ErrorCode::NotFound,
            RelayError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            RelayError::ScopeNotOnTop { .. } => ErrorCode::ScopeNotOnTop,
            RelayError::ForeignScope(_) => ErrorCode::ForeignScope,
            RelayError::RootScope => ErrorCode::RootScope,
            RelayError::GuardrailRejected { .. } => ErrorCode::GuardrailRejected,
            RelayError::Callback { .. } => ErrorCode::CallbackFailed,
            RelayError::Cancelled(_) => ErrorCode::Cancelled,
            RelayError::ContinuationExpired => ErrorCode::ContinuationExpired,
            RelayError::ShutDown | RelayError::Forked => ErrorCode::ShutDown,
            RelayError::Timeout => ErrorCode::Timeout,
            RelayError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A callback failure with just a message.
    pub fn callback(message: impl Into<String>) -> Self {
        RelayError::Callback {
            message: message.into(),
            exception_type: None,
            payload: None,
        }
    }

    /// Shorthand for [`RelayError::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        RelayError::InvalidArgument(message.into())
    }

    /// The foreign error a binding attached, if any.
    pub fn payload(&self) -> Option<&ErrorPayload> {
        match self {
            RelayError::Callback { payload, .. } => payload.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            RelayError::NotFound(m) => write!(f, "not found: {m}"),
            RelayError::AlreadyExists(m) => write!(f, "already exists: {m}"),
            RelayError::ScopeNotOnTop { name, top } => write!(
                f,
                "scope '{name}' is not on top of the stack ('{top}' is); pop inner scopes first"
            ),
            RelayError::ForeignScope(name) => {
                write!(f, "scope '{name}' belongs to another scope stack")
            }
            RelayError::RootScope => f.write_str("the root scope of a stack cannot be popped"),
            RelayError::GuardrailRejected { guardrail, reason } => {
                write!(f, "guardrail '{guardrail}' rejected the call: {reason}")
            }
            RelayError::Callback {
                message,
                exception_type: Some(t),
                ..
            } => write!(f, "callback failed: {t}: {message}"),
            RelayError::Callback { message, .. } => write!(f, "callback failed: {message}"),
            RelayError::Cancelled(m) => write!(f, "cancelled: {m}"),
            RelayError::ContinuationExpired => {
                f.write_str("execution continuation is no longer active (next called after its intercept settled)")
            }
            RelayError::ShutDown => f.write_str("the runtime has been shut down"),
            RelayError::Forked => f.write_str(
                "this process was forked from one whose nemo-relay dispatcher had started, \
                 and no thread delivers its events: use nemo-relay only after the fork \
                 (or spawn the process instead)",
            ),
            RelayError::Timeout => f.write_str("timed out"),
            RelayError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl fmt::Debug for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayError({}: {})", self.code(), self)
    }
}

impl std::error::Error for RelayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_stable_string() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
        }
        assert_eq!(ErrorCode::GuardrailRejected.as_str(), "guardrail_rejected");
    }

    #[test]
    fn guardrail_rejection_message_names_guardrail_and_reason() {
        let e = RelayError::GuardrailRejected {
            guardrail: "deny_rm".into(),
            reason: "rm is blocked".into(),
        };
        assert_eq!(e.code(), ErrorCode::GuardrailRejected);
        assert_eq!(
            e.to_string(),
            "guardrail 'deny_rm' rejected the call: rm is blocked"
        );
    }
}
