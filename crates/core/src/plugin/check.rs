//! [`ConfigCheck`]: what a plugin kind's validate hook reports through.

use crate::event::Json;
use crate::plugin::config::{Policy, PolicyLevel};
use crate::plugin::diagnostics::{Diagnostic, Level};

/// Collects diagnostics about one component's `config`, applying the
/// document's policy to unknown fields and unsupported values.
pub struct ConfigCheck<'a> {
    config: &'a Json,
    policy: Policy,
    component: usize,
    kind: String,
    out: Vec<Diagnostic>,
}

impl<'a> ConfigCheck<'a> {
    pub(crate) fn new(config: &'a Json, policy: Policy, component: usize, kind: &str) -> Self {
        ConfigCheck {
            config,
            policy,
            component,
            kind: kind.to_owned(),
            out: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> Vec<Diagnostic> {
        self.out
    }

    /// The component's `config` object.
    pub fn config(&self) -> &'a Json {
        self.config
    }

    fn push(&mut self, level: Level, field: &str, code: &str, message: String) {
        self.out.push(Diagnostic {
            level,
            code: code.to_owned(),
            message,
            component: Some(self.component),
            kind: Some(self.kind.clone()),
            field: Some(format!("config.{field}").trim_end_matches('.').to_owned()),
        });
    }

    fn by_policy(&mut self, level: PolicyLevel, field: &str, code: &str, message: String) {
        match level {
            PolicyLevel::Ignore => {}
            PolicyLevel::Warn => self.push(Level::Warning, field, code, message),
            PolicyLevel::Error => self.push(Level::Error, field, code, message),
        }
    }

    /// Report an error (always blocks activation).
    pub fn error(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.push(Level::Error, field, code, message.into());
    }

    /// Report a warning.
    pub fn warn(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.push(Level::Warning, field, code, message.into());
    }

    /// Report a value this kind does not support (level from policy).
    pub fn unsupported(&mut self, field: &str, message: impl Into<String>) {
        let level = self.policy.unsupported_value;
        self.by_policy(level, field, "plugin.unsupported_value", message.into());
    }

    /// Report every key of the object at `path` (`""` = the config itself)
    /// that is not in `known` (level from policy).
    pub fn known_fields(&mut self, path: &str, known: &[&str]) {
        let obj = if path.is_empty() {
            self.config.as_object()
        } else {
            self.config
                .pointer(&format!("/{}", path.replace('.', "/")))
                .and_then(Json::as_object)
        };
        let Some(obj) = obj else { return };
        let unknown: Vec<String> = obj
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let level = self.policy.unknown_field;
            self.by_policy(
                level,
                &field,
                "plugin.unknown_field",
                format!("unknown field '{key}' (known: {})", known.join(", ")),
            );
        }
    }

    /// Report one unknown field by its path inside `config` (level from
    /// policy), for kinds that discover unknown fields themselves.
    pub fn unknown_field(&mut self, path: &str) {
        let level = self.policy.unknown_field;
        let key = path.rsplit('.').next().unwrap_or(path).to_owned();
        self.by_policy(
            level,
            path,
            "plugin.unknown_field",
            format!("unknown field '{key}'"),
        );
    }

    /// A required field; reports `plugin.missing_field` when absent.
    pub fn require(&mut self, field: &str, what: &str) -> Option<&'a Json> {
        let v = self.config.get(field);
        if v.is_none() {
            self.error(
                field,
                "plugin.missing_field",
                format!("missing required field '{field}': {what}"),
            );
        }
        v
    }

    /// Check that an optional field has the expected JSON type; reports
    /// `plugin.invalid_type` otherwise. Returns the value when present and
    /// of the right type.
    pub fn typed(
        &mut self,
        field: &str,
        expected: &str,
        ok: impl Fn(&Json) -> bool,
    ) -> Option<&'a Json> {
        let v = self.config.get(field)?;
        if ok(v) {
            Some(v)
        } else {
            self.error(
                field,
                "plugin.invalid_type",
                format!("'{field}' must be {expected}, got {v}"),
            );
            None
        }
    }
}
