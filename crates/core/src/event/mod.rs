//! Events: the canonical record of what happened.
//!
//! The wire model is ATOF 0.1: two kinds of event, discriminated by `kind`.
//!
//! * **scope** events come in start/end pairs sharing one uuid: plain scopes,
//!   tool calls (`category: "tool"`) and LLM calls (`category: "llm"`).
//! * **mark** events are points in time (checkpoints, rejections, stream chunks).
//!
//! Every event the runtime emits has a non-null `parent_uuid`: top-level
//! scopes point at their stack's implicit root. Payloads:
//! start `data` = input, end `data` = output, mark `data` = payload.
//!
//! [`Event::to_json`] produces the canonical JSON object (keys in
//! lexicographic order, nullable fields present as `null`), which is exactly
//! one ATOF JSON Lines record.

mod canonical;

use crate::id::Uuid;
use crate::scope::{Attributes, ScopeType};
use crate::time::Timestamp;

/// A JSON value (payloads, metadata, arguments, results).
pub type Json = serde_json::Value;

/// The ATOF version this runtime writes.
pub const ATOF_VERSION: &str = "0.1";

/// Start or end of a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopePhase {
    /// `"start"`
    Start,
    /// `"end"`
    End,
}

impl ScopePhase {
    /// Wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopePhase::Start => "start",
            ScopePhase::End => "end",
        }
    }
}

/// What kind of event this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Start or end of a scope (including tool and LLM calls).
    Scope {
        /// Start or end.
        phase: ScopePhase,
        /// Attribute flags of the scope.
        attributes: Attributes,
    },
    /// A point-in-time mark.
    Mark,
}

/// `data_schema`: an opaque tag naming the schema of `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSchema {
    /// Schema name.
    pub name: String,
    /// Schema version.
    pub version: String,
}

/// One event. Built by the runtime; subscribers receive `&Event`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Scope or mark.
    pub kind: EventKind,
    /// Span id (shared by start/end) or mark id.
    pub uuid: Uuid,
    /// Parent scope (always set for runtime-emitted events).
    pub parent_uuid: Option<Uuid>,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Scope/tool name, LLM route name or mark name.
    pub name: crate::name::Name,
    /// Category (required on scopes, optional on marks).
    pub category: Option<ScopeType>,
    /// Category-specific profile (`model_name`, `tool_call_id` …).
    pub category_profile: Option<Json>,
    /// Payload: input (start), output (end) or mark data.
    pub data: Option<Json>,
    /// Optional schema tag for `data`.
    pub data_schema: Option<DataSchema>,
    /// Correlation and status metadata.
    pub metadata: Option<Json>,
}

impl Event {
    /// `Some(phase)` for scope events.
    pub fn phase(&self) -> Option<ScopePhase> {
        match self.kind {
            EventKind::Scope { phase, .. } => Some(phase),
            EventKind::Mark => None,
        }
    }

    /// Whether this is a mark.
    pub fn is_mark(&self) -> bool {
        matches!(self.kind, EventKind::Mark)
    }

    /// A metadata string value, if present.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }
}

/// Shallow merge: keys of `over` replace keys of `base` when both are objects;
/// otherwise whichever is present wins (`over` first).
pub fn merge_metadata(base: Option<&Json>, over: Option<Json>) -> Option<Json> {
    match (base, over) {
        (Some(Json::Object(b)), Some(Json::Object(o))) => {
            let mut m = b.clone();
            m.extend(o);
            Some(Json::Object(m))
        }
        (_, Some(o)) => Some(o),
        (Some(b), None) => Some(b.clone()),
        (None, None) => None,
    }
}
