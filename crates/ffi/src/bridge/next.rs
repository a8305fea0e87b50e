//! `NemoRelayNext`: the continuation an execution intercept calls.
//!
//! C receives a `const NemoRelayNext *` that is really a token into a table,
//! not a pointer to memory: the entry is removed when the intercept returns,
//! so a `next` kept past its callback (R5 of the ABI test plan) yields
//! `NEMO_RELAY_STATUS_CONTINUATION_EXPIRED` instead of a use-after-free.
//! Tokens are never reused, so a stale token cannot reach a later call.
//! The core additionally expires a continuation once its intercept settles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use nemo_relay_core::{Json, JsonStream, LlmRequest, Next, RelayError};

use crate::conventions::error::{FfiError, FfiResult};

/// The continuation handed to an execution intercept; see
/// `nemo_relay_next_run`. Borrowed: valid only during that callback.
pub struct NemoRelayNext {
    _private: [u8; 0],
}

/// A continuation of any call kind.
#[derive(Clone)]
pub enum AnyNext {
    /// Tool execution chain.
    Tool(Next<Json, Json>),
    /// Unary LLM execution chain.
    Llm(Next<LlmRequest, Json>),
    /// Streaming LLM execution chain.
    Stream(Next<LlmRequest, JsonStream>),
}

fn table() -> &'static Mutex<HashMap<usize, AnyNext>> {
    static TABLE: OnceLock<Mutex<HashMap<usize, AnyNext>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<usize, AnyNext>> {
    // No code panics while holding the lock; recover anyway rather than
    // poison every later intercept.
    table().lock().unwrap_or_else(|p| p.into_inner())
}

/// Tokens step by 16 so they look like aligned, non-NULL pointers.
const TOKEN_STEP: usize = 16;
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(TOKEN_STEP);

/// One intercept invocation's entry in the table; removed on drop.
pub struct Lease(usize);

impl Lease {
    /// Publishes `next` for the duration of one callback.
    pub fn new(next: AnyNext) -> Self {
        let token = NEXT_TOKEN.fetch_add(TOKEN_STEP, Ordering::Relaxed);
        lock().insert(token, next);
        Lease(token)
    }

    /// The value C receives.
    pub fn as_ptr(&self) -> *const NemoRelayNext {
        self.0 as *const NemoRelayNext
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The removed continuation is dropped after the lock is released.
        let removed = lock().remove(&self.0);
        drop(removed);
    }
}

/// Resolves a `next` argument: NULL is `NULL_POINTER`, an expired or unknown
/// token `CONTINUATION_EXPIRED`.
pub fn lookup(next: *const NemoRelayNext) -> FfiResult<AnyNext> {
    if next.is_null() {
        return Err(FfiError::null_pointer("next"));
    }
    lock()
        .get(&(next as usize))
        .cloned()
        .ok_or_else(|| RelayError::ContinuationExpired.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NemoRelayStatus;

    #[test]
    fn a_token_expires_when_its_lease_ends() {
        // Never issued: tokens count up from TOKEN_STEP.
        let err = lookup((usize::MAX & !15) as *const NemoRelayNext)
            .err()
            .unwrap();
        assert_eq!(err.status(), NemoRelayStatus::ContinuationExpired);
        assert_eq!(
            lookup(std::ptr::null()).err().unwrap().status(),
            NemoRelayStatus::NullPointer
        );
    }
}
