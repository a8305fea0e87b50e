//! [`PluginKind`]: the code behind a component kind.

use std::sync::Arc;

use crate::error::Result;
use crate::event::Json;
use crate::plugin::{ConfigCheck, PluginContext};

/// A plugin kind: validates component configs and installs behaviour.
///
/// `validate` must be pure: it runs for `validate` (dry-run) as well as
/// before every activation, also for disabled components. `register` is
/// only called for enabled components of a document that validated without
/// errors; everything it registers through `ctx` is installed atomically
/// with the rest of the activation, or not at all.
pub trait PluginKind: Send + Sync + 'static {
    /// The stable kind string (`"redaction"`).
    fn kind(&self) -> &str;

    /// One-line description for `nemo-relay kinds`.
    fn description(&self) -> &str {
        ""
    }

    /// Whether a document may contain several components of this kind.
    fn allows_multiple(&self) -> bool {
        true
    }

    /// Report problems with `check.config()` through `check`.
    fn validate(&self, check: &mut ConfigCheck<'_>);

    /// Register the component's behaviour through `ctx`.
    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()>;
}

type ValidateFn = dyn Fn(&mut ConfigCheck<'_>) + Send + Sync;
type RegisterFn = dyn Fn(&Json, &mut PluginContext) -> Result<()> + Send + Sync;

/// A plugin kind made of two closures (what bindings use for JS/C kinds).
pub struct FnPluginKind {
    kind: String,
    description: String,
    allows_multiple: bool,
    validate: Arc<ValidateFn>,
    register: Arc<RegisterFn>,
}

impl FnPluginKind {
    /// A kind named `kind` with these hooks.
    pub fn new(
        kind: impl Into<String>,
        validate: impl Fn(&mut ConfigCheck<'_>) + Send + Sync + 'static,
        register: impl Fn(&Json, &mut PluginContext) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        FnPluginKind {
            kind: kind.into(),
            description: String::new(),
            allows_multiple: true,
            validate: Arc::new(validate),
            register: Arc::new(register),
        }
    }

    /// Set the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Allow (default) or forbid several components of this kind per document.
    pub fn allow_multiple(mut self, yes: bool) -> Self {
        self.allows_multiple = yes;
        self
    }
}

impl PluginKind for FnPluginKind {
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
        (self.validate)(check)
    }
    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        (self.register)(config, ctx)
    }
}
