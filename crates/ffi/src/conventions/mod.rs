//! The rules every entry point follows, each in its own module.
//!
//! Nothing here is exported to C. These are the helpers the `extern "C"`
//! functions in [`crate::api`] are built from, so that null checks, UTF-8 and
//! JSON validation, ownership transfer and panic containment are done the same
//! way everywhere instead of being remembered per function.

#[macro_use]
pub mod boundary;
pub mod args;
pub mod core_error;
pub mod error;
pub mod handle;
pub mod json;
pub mod last_error;
pub mod status;
pub mod strings;
pub mod user_data;
