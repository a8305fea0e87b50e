//! Ties the committed header to the crate it was generated from.
//!
//! `build.rs` regenerates `include/nemo_relay.h` on every build, and CI fails
//! when that leaves the file different from what is committed. These checks
//! make the most important facts explicit, so a stale header fails here with
//! a readable message instead of as a diff.

use nemo_relay_ffi::api::version::NEMO_RELAY_ABI_VERSION;

const HEADER: &str = include_str!("../include/nemo_relay.h");

#[test]
fn header_abi_version_macro_matches_the_library() {
    let expected = format!("#define NEMO_RELAY_ABI_VERSION {NEMO_RELAY_ABI_VERSION}\n");
    assert!(
        HEADER.contains(&expected),
        "nemo_relay.h lacks `{}`; rebuild and commit the header",
        expected.trim_end()
    );
}

#[test]
fn header_version_macro_matches_cargo_toml() {
    let expected = format!(
        "#define NEMO_RELAY_VERSION \"{}\"\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        HEADER.contains(&expected),
        "nemo_relay.h lacks `{}`; rebuild and commit the header",
        expected.trim_end()
    );
}

#[test]
fn header_is_marked_generated_and_guarded() {
    assert!(HEADER.contains("GENERATED FILE - DO NOT EDIT."));
    assert!(HEADER.contains("#ifndef NEMO_RELAY_H"));
    assert!(
        HEADER.contains("extern \"C\" {"),
        "cpp_compat guards are missing"
    );
}

#[test]
fn no_rust_generic_leaks_into_the_header() {
    // Upstream wrote nullable callbacks as `Option<Alias>`, which cbindgen
    // emitted as an incomplete `Option_Alias` struct that C cannot pass.
    assert!(
        !HEADER.contains("Option_"),
        "a Rust Option<..> type reached the header"
    );
}
