//! Library and ABI version queries.
//!
//! The header carries the same numbers as macros (`NEMO_RELAY_ABI_VERSION`,
//! `NEMO_RELAY_VERSION`), so a program can compare what it was compiled against
//! with what it loaded at run time. `tests/header_version.rs` ties the macros to
//! these constants and to `Cargo.toml`.

use std::ffi::{c_char, CStr};

/// ABI version of this library. Compare it with `nemo_relay_abi_version()` at
/// start-up: a mismatch means the program was compiled against a different,
/// incompatible header. It changes only when an existing declaration changes
/// meaning or signature; adding functions, status codes or constants does not
/// change it.
pub const NEMO_RELAY_ABI_VERSION: u32 = 1;

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(text) => text,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

/// Returns the ABI version of the loaded library; see `NEMO_RELAY_ABI_VERSION`.
#[no_mangle]
pub extern "C" fn nemo_relay_abi_version() -> u32 {
    ffi_value!({ NEMO_RELAY_ABI_VERSION })
}

/// Returns the library's package version ("MAJOR.MINOR.PATCH") as a static,
/// NUL-terminated string. Do not free it.
#[no_mangle]
pub extern "C" fn nemo_relay_version() -> *const c_char {
    ffi_value!({ VERSION.as_ptr() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_string_matches_cargo() {
        let text = unsafe { CStr::from_ptr(nemo_relay_version()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(nemo_relay_abi_version(), NEMO_RELAY_ABI_VERSION);
    }
}
