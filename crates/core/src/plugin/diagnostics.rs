//! Validation diagnostics.

use serde::Serialize;

/// Severity of a diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Worth knowing; activation proceeds.
    Warning,
    /// Blocks activation.
    Error,
}

/// One finding about a configuration document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// Stable machine-readable code (`plugin.unknown_field` …).
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Index of the component in `components`, if the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<usize>,
    /// Kind of that component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Path of the field inside the document or the component's `config`
    /// (`config.headers.x-team`, `policy.unknown_field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(f, "{level}[{}]", self.code)?;
        match (self.component, &self.kind) {
            (Some(i), Some(k)) => write!(f, " components[{i}] ({k})")?,
            (Some(i), None) => write!(f, " components[{i}]")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, " at {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All diagnostics of one validation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConfigReport {
    /// Findings, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigReport {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }

    /// The error-level findings.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.level == Level::Error)
    }
}
