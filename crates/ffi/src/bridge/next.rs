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

use nemo_relay_core::{Json, JsonStream, LlmRequest, Next, RelayError, ScopeStack};

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

/// A published continuation and the stack of the call it continues.
///
/// The intercept is invoked inside its call's child stack, which is current
/// on the invoking thread only. C code may continue from another thread
/// (a pool, a goroutine, a timeout wrapper) while the callback waits: the
/// rest of the chain must still run inside the call, or the tool's scopes,
/// marks and nested calls would land under that thread's own stack and
/// escape the scope-local middleware of the call's scopes. So the stack is
/// captured with the continuation and made current wherever it runs.
#[derive(Clone)]
pub struct Leased {
    /// The continuation.
    pub next: AnyNext,
    /// The call's child stack.
    pub stack: ScopeStack,
}

fn table() -> &'static Mutex<HashMap<usize, Leased>> {
    static TABLE: OnceLock<Mutex<HashMap<usize, Leased>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<usize, Leased>> {
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
    /// Publishes `next` for the duration of one callback, with the stack
    /// current now (the call's: intercepts are invoked inside it).
    pub fn new(next: AnyNext) -> Self {
        let token = NEXT_TOKEN.fetch_add(TOKEN_STEP, Ordering::Relaxed);
        let stack = ScopeStack::current();
        lock().insert(token, Leased { next, stack });
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
pub fn lookup(next: *const NemoRelayNext) -> FfiResult<Leased> {
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
