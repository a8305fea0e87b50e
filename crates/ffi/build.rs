//! Regenerates `include/nemo_relay.h` with cbindgen.
//!
//! The header is committed so that every ABI change is reviewed as a diff, and
//! CI runs `git diff --exit-code crates/ffi/include` after building, so a
//! header that was not regenerated and committed fails the build there.
//!
//! Determinism: cbindgen is pinned exactly in `Cargo.toml`, the sources are read
//! from `src/lib.rs` (following its `mod` declarations) rather than through
//! `cargo metadata`, so the output depends only on the sources, `cbindgen.toml`
//! and the package version. The file is only written when its content changes,
//! which keeps its mtime (and anything keyed on it) stable.
//!
//! When cbindgen cannot *parse* the sources (for example syntax it does not
//! support yet) the build goes on with a cargo warning and the committed header
//! is left alone; the symbol-parity check then catches any function the header
//! lacks. Every other failure (bad configuration, unwritable file) fails the
//! build, because it would silently leave a wrong header behind.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // A hand edit of the generated header is undone by the next build (and
    // then shows up in the drift check) instead of surviving silently.
    println!("cargo:rerun-if-changed=include/nemo_relay.h");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|err| panic!("crates/ffi/cbindgen.toml is invalid: {err}"));
    // Kept in sync with Cargo.toml by construction; tests/header_version.rs
    // checks the committed header carries it.
    config.after_includes = Some(format!(
        "/* Package version of the library this header was generated from. */\n\
         #define NEMO_RELAY_VERSION \"{}\"",
        env::var("CARGO_PKG_VERSION").expect("set by cargo")
    ));

    let generated = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate();
    let bindings = match generated {
        Ok(bindings) => bindings,
        Err(
            err @ (cbindgen::Error::ParseSyntaxError { .. }
            | cbindgen::Error::ParseCannotOpenFile { .. }),
        ) => {
            println!(
                "cargo:warning=nemo_relay.h was NOT regenerated, cbindgen could not parse \
                 crates/ffi/src: {err}. The committed header may now be stale."
            );
            return;
        }
        Err(err) => panic!("cbindgen failed to generate nemo_relay.h: {err}"),
    };

    let mut text = Vec::new();
    bindings.write(&mut text);
    let header = crate_dir.join("include").join("nemo_relay.h");
    if fs::read(&header).ok().as_deref() != Some(text.as_slice()) {
        fs::create_dir_all(header.parent().expect("has a parent"))
            .and_then(|()| fs::write(&header, &text))
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", header.display()));
    }
}
