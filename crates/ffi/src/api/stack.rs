//! Scope stacks: which scope new work belongs to.
//!
//! Each OS thread has a default stack, used when a function's `stack`
//! argument is NULL. Inside a callback the library runs (a tool, an
//! execution intercept, a stream pull) the current stack is the call being
//! executed, so nested scopes and calls made there are parented to it.
//!
//! Runtimes that move work between threads (Go moves goroutines between OS
//! threads; thread pools hand requests around) should create one stack per
//! logical task with `nemo_relay_stack_new` and pass it explicitly.

use crate::bridge::handles::{NemoRelayScope, NemoRelayStack};
use crate::conventions::args::out_slot;
use crate::conventions::handle::{boxed_ref, free_boxed, into_boxed_handle};
use crate::conventions::status::NemoRelayStatus;
use nemo_relay_core::ScopeStack;

/// Creates an empty scope stack (holding only its implicit root scope) and
/// writes it to `*out_stack`. Release it with `nemo_relay_stack_free`.
///
/// # Safety
/// `out_stack` is NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stack_new(
    out_stack: *mut *mut NemoRelayStack,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_stack, "out_stack") }?;
        out.write(into_boxed_handle::<NemoRelayStack>(ScopeStack::new()));
        Ok(())
    })
}

/// Writes a handle to the calling thread's current stack to `*out_stack`:
/// inside a library callback, the stack of the call being executed;
/// elsewhere, this thread's default stack. The handle shares the stack (it is
/// not a copy). Release it with `nemo_relay_stack_free`.
///
/// # Safety
/// `out_stack` is NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stack_current(
    out_stack: *mut *mut NemoRelayStack,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_stack, "out_stack") }?;
        out.write(into_boxed_handle::<NemoRelayStack>(ScopeStack::current()));
        Ok(())
    })
}

/// Writes the innermost open scope of `stack` (NULL: current stack) to
/// `*out_scope`; the implicit root scope when none is open. Release it with
/// `nemo_relay_scope_free`.
///
/// # Safety
/// `stack` is NULL or a live stack; `out_scope` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stack_top(
    stack: *const NemoRelayStack,
    out_scope: *mut *mut NemoRelayScope,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_scope, "out_scope") }?;
        let top = if stack.is_null() {
            ScopeStack::current().top()
        } else {
            // SAFETY: non-NULL and live per the contract.
            unsafe { boxed_ref(stack, "stack") }?.top()
        };
        out.write(into_boxed_handle::<NemoRelayScope>(top));
        Ok(())
    })
}

/// Releases a stack handle. NULL is a no-op. Scopes still open on the stack
/// stay valid for other handles to the same stack.
///
/// # Safety
/// `stack` is NULL or a live stack handle that is not used again.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stack_free(stack: *mut NemoRelayStack) {
    // SAFETY: per the function contract.
    ffi_value!({ unsafe { free_boxed(stack) } })
}
