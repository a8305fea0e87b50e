//! [`PluginHost`]: the registry of kinds and the active configuration.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::error::{RelayError, Result};
use crate::plugin::config::{PolicyLevel, SUPPORTED_VERSION};
use crate::plugin::context::{PluginContext, Teardown};
use crate::plugin::diagnostics::{ConfigReport, Diagnostic, Level};
use crate::plugin::{builtin, ConfigCheck, PluginConfig, PluginKind};
use crate::registry::Family;
use crate::runtime::Runtime;

/// What one component installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentReport {
    /// Index in `components`.
    pub index: usize,
    /// Kind.
    pub kind: String,
    /// Whether it was enabled.
    pub enabled: bool,
    /// Installed registrations: `(family, qualified name)`.
    pub registrations: Vec<(String, String)>,
    /// Diagnostics about this component.
    pub diagnostics: Vec<Diagnostic>,
}

/// The result of an activation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ActivationReport {
    /// Per component, in document order.
    pub components: Vec<ComponentReport>,
    /// Document-level diagnostics (warnings; errors prevent activation).
    pub diagnostics: Vec<Diagnostic>,
}

struct Activation {
    report: ActivationReport,
    /// Family, name and serial of each registration: removed by all three,
    /// so that a name the user took over after removing ours stays.
    installed: Vec<(Family, Arc<str>, u64)>,
    teardown: Vec<Teardown>,
}

/// Plugin kinds plus the active configuration of one runtime.
pub struct PluginHost {
    runtime: Runtime,
    kinds: RwLock<BTreeMap<String, Arc<dyn PluginKind>>>,
    active: Mutex<Option<Activation>>,
    /// Serializes initialize/clear (kind hooks run without other locks held).
    mutation: Mutex<()>,
}

impl PluginHost {
    /// A host for `runtime` with the built-in kinds registered.
    pub fn new(runtime: Runtime) -> Self {
        let host = PluginHost {
            runtime,
            kinds: RwLock::new(BTreeMap::new()),
            active: Mutex::new(None),
            mutation: Mutex::new(()),
        };
        for kind in builtin::all() {
            host.register_kind(kind)
                .expect("built-in kinds have distinct names");
        }
        host
    }

    /// The host of [`Runtime::global`].
    pub fn global() -> &'static PluginHost {
        static GLOBAL: OnceLock<PluginHost> = OnceLock::new();
        GLOBAL.get_or_init(|| PluginHost::new(Runtime::global().clone()))
    }

    /// Register a kind. `already_exists` if the kind string is taken.
    pub fn register_kind(&self, kind: Arc<dyn PluginKind>) -> Result<()> {
        let name = kind.kind().to_owned();
        if name.is_empty() {
            return Err(RelayError::invalid("plugin kind must not be empty"));
        }
        let mut kinds = self.kinds.write();
        if kinds.contains_key(&name) {
            return Err(RelayError::AlreadyExists(format!(
                "plugin kind '{name}' is already registered"
            )));
        }
        kinds.insert(name, kind);
        Ok(())
    }

    /// Remove a kind (affects later validations/activations only).
    pub fn deregister_kind(&self, kind: &str) -> bool {
        self.kinds.write().remove(kind).is_some()
    }

    /// `(kind, description)` of every registered kind, sorted.
    pub fn kinds(&self) -> Vec<(String, String)> {
        self.kinds
            .read()
            .values()
            .map(|k| (k.kind().to_owned(), k.description().to_owned()))
            .collect()
    }

    fn lookup(&self, kind: &str) -> Option<Arc<dyn PluginKind>> {
        self.kinds.read().get(kind).cloned()
    }

    /// Check a document; changes nothing.
    pub fn validate(&self, config: &PluginConfig) -> ConfigReport {
        let mut out = Vec::new();
        let policy = config.policy;
        for p in &config.problems {
            let level = if p.unknown_field {
                match policy.unknown_field {
                    PolicyLevel::Ignore => continue,
                    PolicyLevel::Warn => Level::Warning,
                    PolicyLevel::Error => Level::Error,
                }
            } else {
                Level::Error
            };
            out.push(Diagnostic {
                level,
                code: p.code.to_owned(),
                message: p.message.clone(),
                component: p.component,
                kind: p
                    .component
                    .and_then(|i| config.components.get(i))
                    .map(|c| c.kind.clone())
                    .filter(|k| !k.is_empty()),
                field: (!p.field.is_empty()).then(|| p.field.clone()),
            });
        }
        if config.version != SUPPORTED_VERSION {
            out.push(Diagnostic {
                level: Level::Error,
                code: "plugin.unsupported_version".into(),
                message: format!(
                    "document version {} is not supported (this runtime reads version {SUPPORTED_VERSION})",
                    config.version
                ),
                component: None,
                kind: None,
                field: Some("version".into()),
            });
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, c) in config.components.iter().enumerate() {
            if c.kind.is_empty() {
                continue; // already reported as a structural problem
            }
            let Some(kind) = self.lookup(&c.kind) else {
                let level = match policy.unknown_component {
                    PolicyLevel::Ignore => continue,
                    PolicyLevel::Warn => Level::Warning,
                    PolicyLevel::Error => Level::Error,
                };
                let known = self
                    .kinds()
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(Diagnostic {
                    level,
                    code: "plugin.unknown_component".into(),
                    message: format!(
                        "no plugin kind '{}' is registered (known: {known}); the component is skipped",
                        c.kind
                    ),
                    component: Some(i),
                    kind: Some(c.kind.clone()),
                    field: Some("kind".into()),
                });
                continue;
            };
            let n = seen.entry(c.kind.as_str()).or_default();
            *n += 1;
            if *n > 1 && !kind.allows_multiple() {
                out.push(Diagnostic {
                    level: Level::Error,
                    code: "plugin.duplicate_component".into(),
                    message: format!("kind '{}' allows a single component per document", c.kind),
                    component: Some(i),
                    kind: Some(c.kind.clone()),
                    field: None,
                });
            }
            let mut check = ConfigCheck::new(&c.config, policy, i, &c.kind);
            let result = catch_unwind(AssertUnwindSafe(|| kind.validate(&mut check)));
            out.extend(check.finish());
            if result.is_err() {
                out.push(Diagnostic {
                    level: Level::Error,
                    code: "plugin.validator_failed".into(),
                    message: format!("the validator of kind '{}' panicked", c.kind),
                    component: Some(i),
                    kind: Some(c.kind.clone()),
                    field: None,
                });
            }
        }
        ConfigReport { diagnostics: out }
    }

    /// Validate `config`, then activate it in place of the active one.
    ///
    /// Atomic: on any failure (validation errors, a failing register hook, a
    /// name conflict at commit) the previous configuration stays active and
    /// the registry is exactly as it was.
    pub fn initialize(&self, config: &PluginConfig) -> Result<ActivationReport> {
        let _m = self.begin_mutation()?;
        let report = self.validate(config);
        if report.has_errors() {
            let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
            return Err(RelayError::invalid(format!(
                "plugin configuration has {} error(s): {}",
                errors.len(),
                errors.join("; ")
            )));
        }
        let mut components = Vec::new();
        let mut contexts: Vec<PluginContext> = Vec::new();
        let mut instances: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, c) in config.components.iter().enumerate() {
            let diagnostics: Vec<Diagnostic> = report
                .diagnostics
                .iter()
                .filter(|d| d.component == Some(i))
                .cloned()
                .collect();
            let mut comp = ComponentReport {
                index: i,
                kind: c.kind.clone(),
                enabled: c.enabled,
                registrations: Vec::new(),
                diagnostics,
            };
            let kind = self.lookup(&c.kind);
            if let (true, Some(kind)) = (c.enabled, kind) {
                let n = instances.entry(c.kind.as_str()).or_default();
                *n += 1;
                let mut ctx = PluginContext::new(&self.runtime, &c.kind, *n);
                let res = catch_unwind(AssertUnwindSafe(|| kind.register(&c.config, &mut ctx)))
                    .unwrap_or_else(|_| Err(RelayError::Internal("register hook panicked".into())));
                if let Err(e) = res {
                    discard(contexts.into_iter().chain(std::iter::once(ctx)));
                    return Err(with_component(e, i, &c.kind));
                }
                comp.registrations = ctx
                    .pending
                    .iter()
                    .map(|r| (r.middleware.family().as_str().to_owned(), r.name.clone()))
                    .collect();
                contexts.push(ctx);
            }
            components.push(comp);
        }
        let mut active = self.active.lock();
        let removals = active
            .as_ref()
            .map(|a| a.installed.clone())
            .unwrap_or_default();
        let mut installed = Vec::new();
        let mut insertions = Vec::new();
        let mut teardown = Vec::new();
        for ctx in &mut contexts {
            for r in ctx.pending.drain(..) {
                installed.push((
                    r.middleware.family(),
                    Arc::from(r.name.as_str()),
                    r.serial(),
                ));
                insertions.push(r);
            }
            teardown.append(&mut ctx.teardown);
        }
        if let Err(e) = self.runtime.apply(&removals, insertions) {
            drop(active);
            teardown.into_iter().rev().for_each(run_teardown);
            return Err(e);
        }
        let report = ActivationReport {
            components,
            diagnostics: report
                .diagnostics
                .into_iter()
                .filter(|d| d.component.is_none())
                .collect(),
        };
        let previous = active.replace(Activation {
            report: report.clone(),
            installed,
            teardown,
        });
        drop(active);
        if let Some(prev) = previous {
            prev.teardown.into_iter().rev().for_each(run_teardown);
        }
        Ok(report)
    }

    /// Remove everything the active configuration installed. Returns
    /// whether a configuration was active.
    pub fn clear(&self) -> Result<bool> {
        let _m = self.begin_mutation()?;
        let mut active = self.active.lock();
        let Some(current) = active.as_ref() else {
            return Ok(false);
        };
        self.runtime.apply(&current.installed, Vec::new())?;
        let prev = active.take().expect("checked above");
        drop(active);
        prev.teardown.into_iter().rev().for_each(run_teardown);
        Ok(true)
    }

    /// Report of the active configuration, if any.
    pub fn active_report(&self) -> Option<ActivationReport> {
        self.active.lock().as_ref().map(|a| a.report.clone())
    }

    /// Whether this thread is inside an activation or a clear (running a
    /// kind's hook or a teardown), where changing the configuration is
    /// refused. Bindings use it to give that refusal their own code.
    pub fn mutating_here() -> bool {
        MUTATING.with(Cell::get)
    }
}

thread_local! {
    /// Set while this thread runs a mutation (and so the kind hooks and
    /// teardowns it calls): a hook that re-enters `initialize`/`clear` would
    /// otherwise wait for itself forever.
    static MUTATING: Cell<bool> = const { Cell::new(false) };
}

/// Holds the mutation lock and the re-entrancy flag of the current thread.
struct MutationGuard<'a> {
    _lock: parking_lot::MutexGuard<'a, ()>,
}

impl Drop for MutationGuard<'_> {
    fn drop(&mut self) {
        MUTATING.with(|m| m.set(false));
    }
}

impl PluginHost {
    fn begin_mutation(&self) -> Result<MutationGuard<'_>> {
        if MUTATING.with(Cell::get) {
            return Err(RelayError::invalid(
                "plugin configuration cannot be changed from inside a plugin hook or teardown",
            ));
        }
        let lock = self.mutation.lock();
        MUTATING.with(|m| m.set(true));
        Ok(MutationGuard { _lock: lock })
    }
}

fn run_teardown(f: Teardown) {
    // A failing teardown must not stop the others.
    let _ = catch_unwind(AssertUnwindSafe(f));
}

fn discard(contexts: impl Iterator<Item = PluginContext>) {
    let all: Vec<_> = contexts.collect();
    for ctx in all.into_iter().rev() {
        ctx.teardown.into_iter().rev().for_each(run_teardown);
    }
}

fn with_component(e: RelayError, index: usize, kind: &str) -> RelayError {
    let prefix = format!("components[{index}] ({kind})");
    match e {
        RelayError::InvalidArgument(m) => RelayError::InvalidArgument(format!("{prefix}: {m}")),
        RelayError::AlreadyExists(m) => RelayError::AlreadyExists(format!("{prefix}: {m}")),
        RelayError::NotFound(m) => RelayError::NotFound(format!("{prefix}: {m}")),
        RelayError::Internal(m) => RelayError::Internal(format!("{prefix}: {m}")),
        RelayError::Callback {
            message,
            exception_type,
            payload,
        } => RelayError::Callback {
            message: format!("{prefix}: {message}"),
            exception_type,
            payload,
        },
        other => other,
    }
}
