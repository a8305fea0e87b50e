//! The exported `extern "C"` functions, grouped by topic.
//!
//! Every function here is written out by hand with `#[no_mangle]` (cbindgen
//! cannot see macro-generated functions), wraps its body in
//! [`ffi_status!`](crate::ffi_status) or [`ffi_value!`](crate::ffi_value), and
//! has a doc comment written for C readers: it is copied into `nemo_relay.h`.

pub mod atif;
pub mod calls;
pub mod constants;
pub mod debug;
pub mod errors;
pub mod execute;
pub mod json;
pub mod middleware;
pub mod next;
pub mod plugin;
pub mod plugin_context;
pub mod plugin_kind;
pub mod runtime;
pub mod scope;
pub mod stack;
pub mod stream;
pub mod strings;
pub mod version;
