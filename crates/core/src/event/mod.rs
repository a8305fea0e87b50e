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
//! one ATOF JSON Lines record. Its `Serialize` impl (`canonical.rs`) is the
//! definition; [`Event::write_json`] (`writer.rs`) writes the same text
//! faster, for the dispatcher thread.

mod canonical;
pub(crate) mod payload;
mod writer;

pub use writer::Layout;

pub use payload::Payload;

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
    /// Payload: input (start), output (end) or mark data, as it was when
    /// the event was emitted.
    pub data: Option<Payload>,
    /// Optional schema tag for `data` (boxed: rare, and an event's size is
    /// paid on every emit, see the dispatcher's ring).
    pub data_schema: Option<Box<DataSchema>>,
    /// Correlation metadata (the caller's, plus the runtime's own keys such
    /// as `nemo_relay.sanitizer_error`). The call's outcome is in `status`;
    /// [`metadata_json`](Event::metadata_json) and the canonical JSON show
    /// both merged, as ATOF has it.
    pub metadata: Option<Json>,
    /// How the call or scope ended (end events of managed calls).
    pub status: Option<Status>,
}

/// The outcome an end event records. On the wire (canonical JSON, ATOF) it
/// is part of `metadata`: `otel.status_code` plus, for errors,
/// `otel.status_description`, `error.type` and `exception.type`.
///
/// It is a field of its own rather than entries of `metadata` because every
/// successful call ends with it: as a typed value it costs nothing to build,
/// where a JSON map costs three allocations per call on the caller's thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `otel.status_code: "OK"`.
    Ok,
    /// `otel.status_code: "ERROR"` and the error's description.
    Error(Box<ErrorStatus>),
}

/// What an `ERROR` status says about the failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorStatus {
    /// `otel.status_description`: the error message.
    pub description: String,
    /// `error.type`: the error's stable code (or the application's type).
    pub error_type: String,
    /// `exception.type`: the type a callback's exception had, when known.
    pub exception_type: Option<String>,
}

impl Status {
    /// The metadata entries this status stands for, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let (error, code) = match self {
            Status::Ok => (None, "OK"),
            Status::Error(e) => (Some(&**e), "ERROR"),
        };
        let before = error.into_iter().flat_map(|e| {
            [
                Some(("error.type", e.error_type.as_str())),
                e.exception_type.as_deref().map(|t| ("exception.type", t)),
            ]
            .into_iter()
            .flatten()
        });
        let after = error.map(|e| ("otel.status_description", e.description.as_str()));
        before
            .chain(std::iter::once(("otel.status_code", code)))
            .chain(after)
    }

    /// The value this status gives metadata key `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
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

    /// A metadata string value, if present (status keys included).
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.status.as_ref().and_then(|s| s.get(key)) {
            return Some(v);
        }
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// The metadata as the wire has it: `metadata` with the status entries
    /// merged over it. Builds a new value; subscribers on a hot path should
    /// prefer [`metadata_str`](Event::metadata_str).
    pub fn metadata_json(&self) -> Option<Json> {
        let Some(status) = &self.status else {
            return self.metadata.clone();
        };
        let mut m = match &self.metadata {
            Some(Json::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        for (k, v) in status.entries() {
            m.insert(k.to_owned(), Json::String(v.to_owned()));
        }
        Some(Json::Object(m))
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
