//! The canonical JSON text of an event, written by hand.
//!
//! Every event a JS subscriber or the ATOF exporter receives is written as
//! text on the dispatcher thread, so this is the dispatcher's main cost per
//! event. Through serde's generic map serializer every key is escaped and
//! every uuid and timestamp goes through formatting machinery; here the
//! keys are constants, uuids and timestamps are formatted into stack
//! buffers, and only user strings and JSON payloads go through serde_json.
//! The output is byte for byte what the `Serialize` impl in `canonical.rs`
//! produces (tested on events of every shape), which stays the definition.

use super::{Event, EventKind, Json, ATOF_VERSION};
use crate::id::Uuid;

impl Event {
    /// Append the canonical JSON text to `buf` (no allocation per event when
    /// the buffer is reused, e.g. by batching exporters).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        let scope = match self.kind {
            EventKind::Scope { phase, attributes } => Some((phase, attributes)),
            EventKind::Mark => None,
        };
        buf.extend_from_slice(b"{\"atof_version\":");
        string(buf, ATOF_VERSION);
        if let Some((_, attributes)) = scope {
            buf.extend_from_slice(b",\"attributes\":[");
            for (i, name) in attributes.names().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                string(buf, name);
            }
            buf.push(b']');
        }
        buf.extend_from_slice(b",\"category\":");
        match self.category {
            Some(c) => string(buf, c.as_str()),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"category_profile\":");
        json(buf, self.category_profile.as_ref());
        buf.extend_from_slice(b",\"data\":");
        match &self.data {
            // Already JSON text: copied as it is.
            Some(p) => buf.extend_from_slice(p.text().as_bytes()),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"data_schema\":");
        match &self.data_schema {
            Some(s) => {
                buf.extend_from_slice(b"{\"name\":");
                string(buf, &s.name);
                buf.extend_from_slice(b",\"version\":");
                string(buf, &s.version);
                buf.push(b'}');
            }
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b",\"kind\":");
        buf.extend_from_slice(if scope.is_some() {
            b"\"scope\""
        } else {
            b"\"mark\""
        });
        buf.extend_from_slice(b",\"metadata\":");
        self.write_metadata(buf);
        buf.extend_from_slice(b",\"name\":");
        string(buf, &self.name);
        buf.extend_from_slice(b",\"parent_uuid\":");
        match &self.parent_uuid {
            Some(u) => uuid(buf, u),
            None => buf.extend_from_slice(b"null"),
        }
        if let Some((phase, _)) = scope {
            buf.extend_from_slice(b",\"scope_category\":");
            string(buf, phase.as_str());
        }
        buf.extend_from_slice(b",\"timestamp\":");
        buf.push(b'"');
        buf.extend_from_slice(&self.timestamp.rfc3339());
        buf.push(b'"');
        buf.extend_from_slice(b",\"uuid\":");
        uuid(buf, &self.uuid);
        buf.push(b'}');
    }

    /// `metadata` with the status entries merged over it (see the
    /// `Metadata` view in `canonical.rs`).
    fn write_metadata(&self, buf: &mut Vec<u8>) {
        let Some(status) = &self.status else {
            return json(buf, self.metadata.as_ref());
        };
        let own = match &self.metadata {
            Some(Json::Object(m)) => Some(m),
            _ => None,
        };
        let mut first = true;
        let mut entry = |buf: &mut Vec<u8>, key: &str| {
            buf.push(if std::mem::take(&mut first) {
                b'{'
            } else {
                b','
            });
            string(buf, key);
            buf.push(b':');
        };
        let mut own = own.into_iter().flatten().peekable();
        for (key, value) in status.entries() {
            while let Some((k, v)) = own.next_if(|(k, _)| k.as_str() <= key) {
                if k != key {
                    entry(buf, k);
                    json(buf, Some(v));
                }
            }
            entry(buf, key);
            string(buf, value);
        }
        for (k, v) in own {
            entry(buf, k);
            json(buf, Some(v));
        }
        buf.push(b'}');
    }
}

/// A JSON string: copied as is when nothing in it needs escaping (the
/// usual name or id), through serde_json otherwise.
fn string(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, s).expect("writing to a Vec cannot fail");
    }
}

fn json(buf: &mut Vec<u8>, value: Option<&Json>) {
    match value {
        Some(v) => serde_json::to_writer(&mut *buf, v).expect("JSON values always serialize"),
        None => buf.extend_from_slice(b"null"),
    }
}

fn uuid(buf: &mut Vec<u8>, u: &Uuid) {
    let mut text = Uuid::encode_buffer();
    buf.push(b'"');
    buf.extend_from_slice(u.hyphenated().encode_lower(&mut text).as_bytes());
    buf.push(b'"');
}
