//! Glue between the C world and the core runtime. Nothing here is exported;
//! the `extern "C"` functions in [`crate::api`] are thin wrappers over it.
//!
//! | module | idea |
//! |---|---|
//! | [`handles`] | the opaque handle types C sees, and how to borrow them |
//! | [`lent`] | handles lent to C for one callback (plugin check and context) |
//! | [`plugin_kind`] | a plugin kind whose hooks are C callbacks |
//! | [`options`] | the optional-argument JSON objects (`options_json`) |
//! | [`wire`] | requests and call contexts as the JSON text callbacks receive |
//! | [`callback`] | callback typedefs and the one way every callback is invoked |
//! | [`families`] | which families each callback shape may join |
//! | [`middleware`] | C callbacks turned into core middleware |
//! | [`next`] | the `NemoRelayNext` continuation handed to execution intercepts |
//! | [`stream`] | chunk streams backed by a C pull callback, and stream handles |

pub mod callback;
pub mod families;
pub mod handles;
pub mod lent;
pub mod middleware;
pub mod next;
pub mod options;
pub mod plugin_kind;
pub mod stream;
pub mod wire;

use nemo_relay_core::executor::block_on;
use std::future::Future;

/// Runs a core future to completion on the calling thread.
///
/// C middleware is synchronous, so pipeline futures complete on their first
/// poll; `block_on` only parks when some other binding in the process
/// registered asynchronous middleware. Nested use (a C callback calling back
/// into an `_execute` function) is fine: each level has its own waker and no
/// lock is held across a callback.
pub fn run<F: Future>(fut: F) -> F::Output {
    block_on(fut)
}
