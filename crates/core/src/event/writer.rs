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
//! The same writer also lays an event out as a positional array
//! ([`Layout::Row`]), for the Node binding's subscribers.

use super::{Event, EventKind, Json, ATOF_VERSION};
use crate::id::Uuid;

/// How [`Event::write_with`] lays an event out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The canonical JSON object ([`Event::write_json`]).
    Object,
    /// The object's values in the same order, without their keys and
    /// without `atof_version` (the same for every event): an array of 10
    /// values for a mark, of 12 for a scope event (which adds `attributes`
    /// first and `scope_category` after `parent_uuid`).
    ///
    /// For consumers that parse many events and build the objects
    /// themselves: V8's `JSON.parse` builds these arrays about twice as fast
    /// as the keyed objects, and a JS function that then makes the object
    /// from a literal is cheaper still than the difference.
    Row,
}

/// Writes the fields of one event in a [`Layout`].
struct Fields<'a> {
    buf: &'a mut Vec<u8>,
    layout: Layout,
    first: bool,
}

impl Fields<'_> {
    /// Start the next field (its key, in the object layout).
    fn key(&mut self, key: &str) {
        let open = match self.layout {
            Layout::Object => b'{',
            Layout::Row => b'[',
        };
        self.buf.push(if std::mem::take(&mut self.first) {
            open
        } else {
            b','
        });
        if self.layout == Layout::Object {
            self.buf.push(b'"');
            self.buf.extend_from_slice(key.as_bytes());
            self.buf.extend_from_slice(b"\":");
        }
    }

    fn end(self) {
        self.buf.push(match self.layout {
            Layout::Object => b'}',
            Layout::Row => b']',
        });
    }
}

impl Event {
    /// Append the canonical JSON text to `buf` (no allocation per event when
    /// the buffer is reused, e.g. by batching exporters).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        self.write_with(Layout::Object, buf)
    }

    /// Append the event to `buf` in `layout`.
    pub fn write_with(&self, layout: Layout, buf: &mut Vec<u8>) {
        let scope = match self.kind {
            EventKind::Scope { phase, attributes } => Some((phase, attributes)),
            EventKind::Mark => None,
        };
        let mut out = Fields {
            buf,
            layout,
            first: true,
        };
        if layout == Layout::Object {
            out.key("atof_version");
            string(out.buf, ATOF_VERSION);
        }
        if let Some((_, attributes)) = scope {
            out.key("attributes");
            out.buf.push(b'[');
            for (i, name) in attributes.names().enumerate() {
                if i > 0 {
                    out.buf.push(b',');
                }
                string(out.buf, name);
            }
            out.buf.push(b']');
        }
        out.key("category");
        match self.category {
            Some(c) => string(out.buf, c.as_str()),
            None => out.buf.extend_from_slice(b"null"),
        }
        out.key("category_profile");
        json(out.buf, self.category_profile.as_ref());
        out.key("data");
        match &self.data {
            // Already JSON text: copied as it is.
            Some(p) => out.buf.extend_from_slice(p.text().as_bytes()),
            None => out.buf.extend_from_slice(b"null"),
        }
        out.key("data_schema");
        match &self.data_schema {
            Some(s) => {
                out.buf.extend_from_slice(b"{\"name\":");
                string(out.buf, &s.name);
                out.buf.extend_from_slice(b",\"version\":");
                string(out.buf, &s.version);
                out.buf.push(b'}');
            }
            None => out.buf.extend_from_slice(b"null"),
        }
        out.key("kind");
        out.buf.extend_from_slice(if scope.is_some() {
            b"\"scope\""
        } else {
            b"\"mark\""
        });
        out.key("metadata");
        self.write_metadata(out.buf);
        out.key("name");
        string(out.buf, &self.name);
        out.key("parent_uuid");
        match &self.parent_uuid {
            Some(u) => uuid(out.buf, u),
            None => out.buf.extend_from_slice(b"null"),
        }
        if let Some((phase, _)) = scope {
            out.key("scope_category");
            string(out.buf, phase.as_str());
        }
        out.key("timestamp");
        out.buf.push(b'"');
        out.buf.extend_from_slice(&self.timestamp.rfc3339());
        out.buf.push(b'"');
        out.key("uuid");
        uuid(out.buf, &self.uuid);
        out.end();
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
