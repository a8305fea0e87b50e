//! Entry points that exist so every binding can test the conventions.

use crate::conventions::status::NemoRelayStatus;

/// Panics inside the library on purpose and returns `NEMO_RELAY_STATUS_PANIC`
/// with a last-error message. It has no other effect. Bindings call it in
/// their tests to prove a Rust panic is reported as a status rather than
/// aborting the process.
#[no_mangle]
pub extern "C" fn nemo_relay_debug_panic() -> NemoRelayStatus {
    ffi_status!({ panic!("nemo_relay_debug_panic was called") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_is_reported_not_propagated() {
        assert_eq!(nemo_relay_debug_panic(), NemoRelayStatus::Panic);
        assert_eq!(
            crate::conventions::last_error::status(),
            NemoRelayStatus::Panic
        );
    }
}
