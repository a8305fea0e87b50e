//! Node.js addon for nemo-relay, built with napi-rs.
//!
//! This crate converts types and forwards calls to `nemo-relay-core`; the
//! hand-written facade (`index.js`, `index.d.ts`) turns these functions into
//! the public JS API (options objects, `AsyncLocalStorage` scope context,
//! error classes, async iterables). Every `#[napi]` item registers itself
//! when the addon loads, so this file is only the table of contents.
//!
//! | module | concern |
//! |---|---|
//! | [`scopes`] | scope stacks (create, fork), push/pop, marks, handle info |
//! | [`activity`] | the runtime's activity counters as typed arrays JS reads directly |
//! | [`fast`] | the hottest entries (push/pop scope, mark) as raw Node-API functions |
//! | [`calls`] | managed tool/LLM calls, manual start/end, cancellation |
//! | [`streams`], [`stream_cell`] | streaming LLM calls: the provider's JS iterator in, the caller's stream handle out |
//! | [`registry`] | registering middleware of every family |
//! | [`subscribers`] | batched JS subscribers, flush, shutdown, stats |
//! | [`plugins`], [`plugin_kind`] | plugin documents (validate, initialize, clear) and JS plugin kinds |
//! | [`exporters`] | ATOF, ATIF and OTLP exporters as JS classes |
//! | [`init`] | the facade's hooks (error construction) |
//! | [`version`] | build and ABI facts |
//!
//! Machinery behind them:
//!
//! | module | idea |
//! |---|---|
//! | [`driver`] | poll a core future on the JS thread: a value now, or a Promise |
//! | [`callbacks`] | call a JS function from inside the pipeline (direct or posted) |
//! | [`middleware`], [`next`] | JS functions as core middleware; the `next` continuation |
//! | [`promise`] | a JS Promise as a Rust future |
//! | [`realm`] | the JS thread, its one weak threadsafe function, the current-env marker |
//! | [`js_ref`] | JS values held from any thread |
//! | [`convert`], [`errors`], [`handles`], [`js`] | JSON, errors, opaque handles, raw Node-API |
//! | [`allocator`] | mimalloc, and why |

#![deny(clippy::all)]

mod activity;
mod allocator;
mod callbacks;
mod calls;
mod convert;
mod driver;
mod errors;
mod exporters;
mod fast;
mod handles;
mod init;
mod js;
mod js_ref;
mod middleware;
mod next;
mod plugin_kind;
mod plugins;
mod promise;
mod realm;
mod registry;
mod scopes;
mod stream_cell;
mod streams;
mod subscribers;
mod version;
