//! Build and ABI facts about the loaded addon.
//!
//! These exist so a user (or a bug report) can tell exactly which native
//! binary was loaded, and so the build pipeline has something real to export.

use napi::Env;
use napi_derive::napi;

/// The version of the native addon, taken from its `Cargo.toml`.
///
/// The JS package and the per-platform packages carry the same version; the
/// facade can compare them to detect a mismatched binary.
#[napi]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// What the loaded native binary was built for and runs against.
#[napi(object)]
pub struct AbiInfo {
    /// Version of the native addon crate (same as `version()`).
    pub crate_version: String,
    /// Node-API version offered by the running Node.js.
    pub node_api_version: u32,
    /// Operating system the addon was compiled for, as Rust names it (`linux`, `macos`, `windows`).
    pub os: String,
    /// CPU architecture the addon was compiled for, as Rust names it (`x86_64`, `aarch64`).
    pub arch: String,
    /// `true` for a debug build (`npm run build:debug`), `false` for a release build.
    pub debug: bool,
}

/// Reports what the loaded native binary was built for and runs against.
#[napi]
pub fn abi_info(env: Env) -> napi::Result<AbiInfo> {
    Ok(AbiInfo {
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        node_api_version: env.get_napi_version()?,
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        debug: cfg!(debug_assertions),
    })
}
