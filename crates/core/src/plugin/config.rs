//! The configuration document: `{version, components, policy}`.
//!
//! Parsing is lenient on purpose: a document with problems still parses, and
//! every problem becomes a [`Diagnostic`](super::Diagnostic) when validated,
//! so an operator sees *all* issues at once with their field paths instead
//! of the first parse error.

use std::path::Path;

use crate::error::{RelayError, Result};
use crate::event::Json;

/// The only document version this runtime understands.
pub const SUPPORTED_VERSION: i64 = 1;

/// The largest plugin configuration file [`PluginConfig::load`] reads: 16 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// How to treat one class of problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyLevel {
    /// Say nothing.
    Ignore,
    /// Report a warning; activation proceeds.
    Warn,
    /// Report an error; activation is refused.
    Error,
}

impl PolicyLevel {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "ignore" => Some(PolicyLevel::Ignore),
            "warn" => Some(PolicyLevel::Warn),
            "error" => Some(PolicyLevel::Error),
            _ => None,
        }
    }

    /// Wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyLevel::Ignore => "ignore",
            PolicyLevel::Warn => "warn",
            PolicyLevel::Error => "error",
        }
    }
}

/// What to do about unknown components, unknown fields and unsupported values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A component whose kind is not registered. Default `warn` (the
    /// component is skipped).
    pub unknown_component: PolicyLevel,
    /// A field nobody understands. Default `warn`.
    pub unknown_field: PolicyLevel,
    /// A value of the right type that a kind does not support. Default `error`.
    pub unsupported_value: PolicyLevel,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            unknown_component: PolicyLevel::Warn,
            unknown_field: PolicyLevel::Warn,
            unsupported_value: PolicyLevel::Error,
        }
    }
}

/// One entry of `components`.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentConfig {
    /// Plugin kind (e.g. `"redaction"`).
    pub kind: String,
    /// Whether to activate it. Default true.
    pub enabled: bool,
    /// Kind-specific settings (an object). Default `{}`.
    pub config: Json,
}

impl ComponentConfig {
    /// An enabled component with `config`.
    pub fn new(kind: impl Into<String>, config: Json) -> Self {
        ComponentConfig {
            kind: kind.into(),
            enabled: true,
            config,
        }
    }
}

/// A structural problem found while parsing (reported by validation).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Problem {
    pub(crate) component: Option<usize>,
    pub(crate) field: String,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// `Some` = level decided by this policy slot; `None` = always an error.
    pub(crate) unknown_field: bool,
}

/// A parsed configuration document.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginConfig {
    /// Document version (must be 1).
    pub version: i64,
    /// Components, in activation order.
    pub components: Vec<ComponentConfig>,
    /// Problem policy.
    pub policy: Policy,
    pub(crate) problems: Vec<Problem>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            version: SUPPORTED_VERSION,
            components: Vec::new(),
            policy: Policy::default(),
            problems: Vec::new(),
        }
    }
}

impl PluginConfig {
    /// A document with these components and default policy.
    pub fn with_components(components: Vec<ComponentConfig>) -> Self {
        PluginConfig {
            components,
            ..Default::default()
        }
    }

    /// Parse a JSON value. Never fails: problems are kept for validation.
    pub fn from_json(doc: &Json) -> Self {
        let mut cfg = PluginConfig::default();
        let Some(obj) = doc.as_object() else {
            cfg.problem(
                None,
                "",
                "config.invalid",
                "the document must be an object {version, components, policy}",
            );
            return cfg;
        };
        for key in obj.keys() {
            if !["version", "components", "policy"].contains(&key.as_str()) {
                cfg.unknown(
                    None,
                    key.clone(),
                    format!("unknown top-level field '{key}'"),
                );
            }
        }
        match obj.get("version") {
            None => {}
            Some(v) => match v.as_i64() {
                Some(n) => cfg.version = n,
                None => cfg.problem(
                    None,
                    "version",
                    "config.invalid",
                    "'version' must be an integer",
                ),
            },
        }
        if let Some(p) = obj.get("policy") {
            cfg.parse_policy(p);
        }
        match obj.get("components") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let c = cfg.parse_component(i, item);
                    cfg.components.push(c);
                }
            }
            Some(_) => cfg.problem(
                None,
                "components",
                "config.invalid",
                "'components' must be an array",
            ),
        }
        cfg
    }

    /// Parse JSON text.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let v: Json = serde_json::from_str(text)
            .map_err(|e| RelayError::invalid(format!("invalid JSON: {e}")))?;
        Ok(Self::from_json(&v))
    }

    /// Parse TOML text (`plugins.toml`).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let v: toml::Value =
            toml::from_str(text).map_err(|e| RelayError::invalid(format!("invalid TOML: {e}")))?;
        let json = serde_json::to_value(v)
            .map_err(|e| RelayError::invalid(format!("TOML value not representable: {e}")))?;
        Ok(Self::from_json(&json))
    }

    /// Load a `.toml` or `.json` file (by extension; other names are tried
    /// as TOML, and a parse error says so).
    ///
    /// A configuration document is small: a file larger than
    /// [`MAX_DOCUMENT_BYTES`] is refused after reading that much, so that a
    /// wrong path (a log file, `/dev/zero`) fails instead of reading forever.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        use std::io::Read;
        let path = path.as_ref();
        let cannot = |e: std::io::Error| {
            RelayError::NotFound(format!("cannot read {}: {e}", path.display()))
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(cannot)?
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(RelayError::invalid(format!(
                "{}: a plugin configuration is at most {} MiB",
                path.display(),
                MAX_DOCUMENT_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| RelayError::invalid(format!("{}: not UTF-8 text: {e}", path.display())))?;
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            Some("toml") => Self::from_toml_str(&text),
            // Say how the file was read, or a YAML file's TOML errors would
            // be all its author sees.
            _ => Self::from_toml_str(&text).map_err(|e| match e {
                RelayError::InvalidArgument(m) => RelayError::invalid(format!(
                    "read as TOML (only files named .json are read as JSON): {m}"
                )),
                other => other,
            }),
        };
        parsed.map_err(|e| match e {
            RelayError::InvalidArgument(m) => {
                RelayError::invalid(format!("{}: {m}", path.display()))
            }
            other => other,
        })
    }

    fn problem(
        &mut self,
        component: Option<usize>,
        field: &str,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            component,
            field: field.to_owned(),
            code,
            message: message.into(),
            unknown_field: false,
        });
    }

    fn unknown(&mut self, component: Option<usize>, field: String, message: String) {
        self.problems.push(Problem {
            component,
            field,
            code: "plugin.unknown_field",
            message,
            unknown_field: true,
        });
    }

    fn parse_policy(&mut self, p: &Json) {
        let Some(obj) = p.as_object() else {
            self.problem(
                None,
                "policy",
                "config.invalid",
                "'policy' must be an object",
            );
            return;
        };
        for (key, value) in obj {
            let slot = match key.as_str() {
                "unknown_component" => &mut self.policy.unknown_component,
                "unknown_field" => &mut self.policy.unknown_field,
                "unsupported_value" => &mut self.policy.unsupported_value,
                _ => {
                    self.unknown(
                        None,
                        format!("policy.{key}"),
                        format!("unknown policy '{key}'"),
                    );
                    continue;
                }
            };
            match value.as_str().and_then(PolicyLevel::parse) {
                Some(level) => *slot = level,
                None => self.problem(
                    None,
                    &format!("policy.{key}"),
                    "config.invalid",
                    format!(
                        "policy '{key}' must be \"ignore\", \"warn\" or \"error\", got {value}"
                    ),
                ),
            }
        }
    }

    fn parse_component(&mut self, i: usize, item: &Json) -> ComponentConfig {
        let mut c = ComponentConfig::new("", Json::Object(Default::default()));
        let Some(obj) = item.as_object() else {
            self.problem(
                Some(i),
                "",
                "config.invalid",
                "a component must be an object {kind, enabled, config}",
            );
            return c;
        };
        for key in obj.keys() {
            if !["kind", "enabled", "config"].contains(&key.as_str()) {
                self.unknown(
                    Some(i),
                    key.clone(),
                    format!("unknown component field '{key}'"),
                );
            }
        }
        match obj.get("kind") {
            Some(Json::String(k)) if !k.is_empty() => c.kind = k.clone(),
            Some(_) => self.problem(Some(i), "kind", "config.invalid", "'kind' must be a non-empty string"),
            None => self.problem(
                Some(i),
                "kind",
                "plugin.missing_field",
                "missing required field 'kind' (which plugin kind to activate; list them with `nemo-relay kinds`)",
            ),
        }
        match obj.get("enabled") {
            None => {}
            Some(Json::Bool(b)) => c.enabled = *b,
            Some(_) => self.problem(
                Some(i),
                "enabled",
                "config.invalid",
                "'enabled' must be true or false",
            ),
        }
        match obj.get("config") {
            None | Some(Json::Null) => {}
            Some(v @ Json::Object(_)) => c.config = v.clone(),
            Some(_) => self.problem(
                Some(i),
                "config",
                "config.invalid",
                "'config' must be an object",
            ),
        }
        c
    }
}
