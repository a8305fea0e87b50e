//! Process-wide runtime operations: delivery barriers, shutdown, listings.
//!
//! There is one runtime per process, shared by every language that loads
//! this library (C, Go and Python in one process see the same registrations
//! and the same event stream).

use std::ffi::c_char;
use std::time::Duration;

use nemo_relay_core::Runtime;

use crate::api::constants::FamilyArg;
use crate::conventions::args::{enum_arg, out_slot};
use crate::conventions::json::json_to_c;
use crate::conventions::status::NemoRelayStatus;

/// Blocks until every event emitted before this call has been delivered to
/// the subscribers. Called from inside a subscriber it returns at once (it
/// cannot wait for itself), so it never deadlocks.
#[no_mangle]
pub extern "C" fn nemo_relay_flush() -> NemoRelayStatus {
    ffi_status!({ Ok(Runtime::global().flush()?) })
}

/// `nemo_relay_flush` with an upper bound; `NEMO_RELAY_STATUS_TIMEOUT` if the
/// events were not delivered within `timeout_ms` (delivery goes on).
#[no_mangle]
pub extern "C" fn nemo_relay_flush_timeout(timeout_ms: u32) -> NemoRelayStatus {
    ffi_status!({
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        Ok(Runtime::global().flush_timeout(timeout)?)
    })
}

/// Delivers every queued event, then stops delivery for good and joins the
/// dispatcher thread, so leak checkers see a clean exit. Idempotent. Events
/// emitted afterwards are dropped (calls still run). Call it once, at exit.
#[no_mangle]
pub extern "C" fn nemo_relay_shutdown() -> NemoRelayStatus {
    ffi_status!({ Ok(Runtime::global().shutdown()?) })
}

/// Writes the names of the global registrations of `family` (a
/// `NEMO_RELAY_FAMILY_*` value), in run order, as a JSON array to
/// `*out_json`.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_registrations(
    family: i32,
    out_json: *mut *mut c_char,
) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let FamilyArg(family) = enum_arg(family, "family")?;
        let names: Vec<String> = Runtime::global()
            .registrations(family)
            .iter()
            .map(|n| n.to_string())
            .collect();
        out.write(json_to_c(&names)?);
        Ok(())
    })
}

/// Writes the runtime's counters as a JSON object to `*out_json`:
/// `delivered`, `dropped_full`, `overflowed`, `dropped_closed`,
/// `subscriber_panics`, `queued`, `capacity`, `sanitizer_failures`.
///
/// # Safety
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn nemo_relay_stats(out_json: *mut *mut c_char) -> NemoRelayStatus {
    ffi_status!({
        // SAFETY: per the function contract.
        let out = unsafe { out_slot(out_json, "out_json") }?;
        let stats = Runtime::global().stats();
        let d = stats.dispatcher;
        out.write(json_to_c(&serde_json::json!({
            "delivered": d.delivered,
            "dropped_full": d.dropped_full,
            "overflowed": d.overflowed,
            "dropped_closed": d.dropped_closed,
            "subscriber_panics": d.subscriber_panics,
            "queued": d.queued,
            "capacity": d.capacity,
            "sanitizer_failures": stats.sanitizer_failures,
        }))?);
        Ok(())
    })
}
