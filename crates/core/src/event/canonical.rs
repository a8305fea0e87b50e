//! Canonical JSON form of an [`Event`] (one ATOF 0.1 record).
//!
//! Keys are written in lexicographic order at the top level, matching what
//! the reference implementation emits, so files diff cleanly across
//! implementations. Nullable envelope fields are always present.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::{DataSchema, Event, EventKind, Json, ATOF_VERSION};

struct AttributeNames(crate::scope::Attributes);

impl Serialize for AttributeNames {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.names())
    }
}

impl Serialize for DataSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("version", &self.version)?;
        m.end()
    }
}

/// `metadata` on the wire: the event's metadata with its status entries
/// merged over it (status keys win), keys in order, without building a map.
struct Metadata<'a>(&'a Event);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(status) = &self.0.status else {
            return self.0.metadata.serialize(s);
        };
        let own = match &self.0.metadata {
            Some(Json::Object(m)) => Some(m),
            _ => None,
        };
        let mut m = s.serialize_map(None)?;
        let mut own = own.into_iter().flatten().peekable();
        for (key, value) in status.entries() {
            while let Some((k, v)) = own.next_if(|(k, _)| k.as_str() <= key) {
                if k != key {
                    m.serialize_entry(k, v)?;
                }
            }
            m.serialize_entry(key, value)?;
        }
        for (k, v) in own {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let scope = match self.kind {
            EventKind::Scope { phase, attributes } => Some((phase, attributes)),
            EventKind::Mark => None,
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("atof_version", ATOF_VERSION)?;
        if let Some((_, attrs)) = scope {
            m.serialize_entry("attributes", &AttributeNames(attrs))?;
        }
        m.serialize_entry("category", &self.category.map(|c| c.as_str()))?;
        m.serialize_entry("category_profile", &self.category_profile)?;
        m.serialize_entry("data", &self.data)?;
        m.serialize_entry("data_schema", &self.data_schema)?;
        m.serialize_entry("kind", if scope.is_some() { "scope" } else { "mark" })?;
        m.serialize_entry("metadata", &Metadata(self))?;
        m.serialize_entry("name", &*self.name)?;
        m.serialize_entry("parent_uuid", &self.parent_uuid)?;
        if let Some((phase, _)) = scope {
            m.serialize_entry("scope_category", phase.as_str())?;
        }
        m.serialize_entry("timestamp", &self.timestamp)?;
        m.serialize_entry("uuid", &self.uuid)?;
        m.end()
    }
}

impl Event {
    /// The canonical JSON object of this event.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).expect("events always serialize")
    }

    /// The canonical JSON text of this event (one ATOF JSON Lines record,
    /// without the trailing newline).
    pub fn to_json_string(&self) -> String {
        let mut buf = Vec::with_capacity(256);
        self.write_json(&mut buf);
        String::from_utf8(buf).expect("serde_json and the writer emit UTF-8")
    }
}
