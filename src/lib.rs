//! Node.js addon for nemo-relay, built with napi-rs.
//!
//! This crate only converts types and forwards calls to `nemo-relay-core`.
//! Every `#[napi]` item registers itself when the addon loads, so this file is
//! just the list of modules. The generated loader (`binding.js`,
//! `binding.d.ts`) and the hand-written facade (`index.js`, `index.d.ts`) live
//! at the repository root.

#![deny(clippy::all)]

mod version;
