//! A plugin kind implemented in C: two hooks plus a `user_data`.
//!
//! The core calls [`PluginKind::validate`] and [`PluginKind::register`]
//! synchronously (from `nemo_relay_plugin_validate` and `_initialize`). Each
//! hook gets the component's `config` as JSON text and a handle lent for
//! the duration of the call (see [`super::lent`]): a `NemoRelayConfigCheck`
//! to report diagnostics through, or a `NemoRelayPluginContext` to register
//! middleware through.
//!
//! Why a check handle instead of "return an array of diagnostics": the
//! document's policy decides how unknown fields and unsupported values are
//! reported (ignored, warning, error), and only the core's `ConfigCheck`
//! knows it. Through the handle a C or Go validator gets the same policy
//! handling as a built-in kind without re-implementing it.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use nemo_relay_core::plugin::{ConfigCheck, PluginContext, PluginKind};
use nemo_relay_core::{Json, Result};

use super::callback::OutString;
use super::lent::{Lent, LentHandle};
use super::wire::json_cstring;
use crate::conventions::user_data::UserData;

/// Where a C plugin kind's validate hook reports diagnostics; lent for the
/// duration of that hook only.
pub struct NemoRelayConfigCheck {
    _private: [u8; 0],
}
impl LentHandle for NemoRelayConfigCheck {
    const WHAT: &'static str = "NemoRelayConfigCheck";
}

/// Where a C plugin kind's register hook installs a component's behaviour;
/// lent for the duration of that hook only.
pub struct NemoRelayPluginContext {
    _private: [u8; 0],
}
impl LentHandle for NemoRelayPluginContext {
    const WHAT: &'static str = "NemoRelayPluginContext";
}

type ValidateCb = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *mut NemoRelayConfigCheck,
    *mut *mut c_char,
) -> i32;
type RegisterCb = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *mut NemoRelayPluginContext,
    *mut *mut c_char,
) -> i32;

thread_local! {
    /// How many C plugin hooks are running on this thread. The host holds
    /// its activation lock while hooks run, so initializing or clearing
    /// from inside one would deadlock; the entry points refuse instead.
    static IN_HOOK: Cell<u32> = const { Cell::new(0) };
}

/// Whether the calling thread is inside a C plugin hook.
pub fn in_plugin_hook() -> bool {
    IN_HOOK.with(Cell::get) > 0
}

struct HookGuard;

impl HookGuard {
    fn enter() -> Self {
        IN_HOOK.with(|depth| depth.set(depth.get() + 1));
        HookGuard
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        IN_HOOK.with(|depth| depth.set(depth.get() - 1));
    }
}

/// A plugin kind whose hooks are C function pointers.
pub struct CPluginKind {
    kind: String,
    description: String,
    allows_multiple: bool,
    validate: Option<ValidateCb>,
    register: RegisterCb,
    user_data: Arc<UserData>,
}

impl CPluginKind {
    /// A kind named `kind`. `validate` may be absent (every config is
    /// accepted as far as this kind is concerned).
    pub fn new(
        kind: String,
        description: String,
        allows_multiple: bool,
        validate: Option<ValidateCb>,
        register: RegisterCb,
        user_data: Arc<UserData>,
    ) -> Self {
        CPluginKind {
            kind,
            description,
            allows_multiple,
            validate,
            register,
            user_data,
        }
    }
}

impl PluginKind for CPluginKind {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn allows_multiple(&self) -> bool {
        self.allows_multiple
    }

    fn validate(&self, check: &mut ConfigCheck<'_>) {
        let Some(cb) = self.validate else { return };
        let config = json_cstring(check.config());
        let lent = Lent::<NemoRelayConfigCheck>::new(std::ptr::from_mut(check).cast());
        let mut out = OutString::new();
        let status = {
            let _hook = HookGuard::enter();
            // SAFETY: `cb` was checked non-NULL at registration and accepts
            // its user_data; `config` and the loan outlive the call.
            unsafe {
                cb(
                    self.user_data.as_ptr(),
                    config.as_ptr(),
                    lent.as_ptr(),
                    out.slot(),
                )
            }
        };
        drop(lent);
        if let Err(err) = out.finish("plugin validate hook", status) {
            check.error("", "plugin.validator_failed", err.to_string());
        }
    }

    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        let config = json_cstring(config);
        let lent = Lent::<NemoRelayPluginContext>::new(std::ptr::from_mut(ctx).cast());
        let mut out = OutString::new();
        let status = {
            let _hook = HookGuard::enter();
            // SAFETY: as in `validate`.
            unsafe {
                (self.register)(
                    self.user_data.as_ptr(),
                    config.as_ptr(),
                    lent.as_ptr(),
                    out.slot(),
                )
            }
        };
        drop(lent);
        out.finish("plugin register hook", status).map(drop)
    }
}
