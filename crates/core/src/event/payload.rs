//! [`Payload`]: an event's `data`, frozen as JSON text when it is emitted.
//!
//! An event must keep the payload as it was at emission (the callback gets
//! the arguments by value and may change them; the caller gets the result).
//! A snapshot has to be taken on the emitting thread, and its price is what
//! a subscriber costs the agent. Two ways to take it:
//!
//! * a deep clone of the `serde_json::Value`: one allocation per string,
//!   array and map (a map's node alone is over 500 bytes), all of which
//!   travel to the dispatcher, and back to be freed;
//! * its JSON text: one walk of the value into a reused buffer, then one
//!   exact-size allocation.
//!
//! Measured on a managed tool call with arguments `{"q":"rust"}` and ATOF +
//! OTLP exporters, the clone made the caller pay about 1 µs more than a
//! one-allocation payload, half on its own thread and half because the
//! dispatcher then had to serialize and free trees on the other core. The
//! text is also what most subscribers want: an ATOF line copies it as it
//! is, OTLP puts it in `input.value`/`output.value` attributes, the
//! bindings hand it to JS or C as text.
//!
//! Short texts (up to [`INLINE`] bytes: numbers, `{"chunk_index":3}`, most
//! marks' data) are stored in the payload itself, so they cost no
//! allocation at all, and nothing travels back to be freed.
//!
//! Subscribers that need to look inside (ATIF, LLM usage in spans) call
//! [`Payload::value`], which parses once per event and caches the result,
//! so every subscriber of the event shares one parse. That parse happens on
//! the dispatcher thread, off the caller's path.
//!
//! Object keys are in lexicographic order at every level, as in every other
//! JSON this runtime writes: the text is produced by serializing a
//! `serde_json::Value`, whose maps are sorted.

use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};

use super::Json;

/// An event payload: JSON text, parsed on demand (see the module docs).
///
/// `clone` copies the text, not the parse.
pub struct Payload {
    text: Text,
    parsed: OnceLock<Box<Json>>,
}

/// Longest text stored inline. The size keeps a queued event within four
/// cache lines (see the dispatcher's `a_queued_event_fits_…` test).
pub const INLINE: usize = 38;

/// A payload's text: in place when short, else on the heap.
#[derive(Clone)]
pub(crate) enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    fn new(text: &str) -> Text {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Text::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            Text::Heap(text.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // SAFETY: the first `len` bytes were copied from a `str`.
            Text::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            Text::Heap(s) => s,
        }
    }
}

thread_local! {
    /// The serialization buffer of this thread: a payload's text is written
    /// here, then copied into an allocation of exactly its size.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Buffers grown beyond this by a large payload are not kept.
const KEEP_BUF: usize = 64 << 10;

impl Payload {
    /// The JSON text of `value`.
    pub fn new(value: &Json) -> Payload {
        Payload::serialized(value)
    }

    /// The JSON text of `value`, whose serialization must write object keys
    /// in lexicographic order (as `Json`'s does) and cannot fail.
    pub(crate) fn serialized(value: &impl Serialize) -> Payload {
        Payload {
            text: to_text(value),
            parsed: OnceLock::new(),
        }
    }

    /// A payload from JSON text, which is parsed to check it and to give
    /// its keys their canonical order. For text that arrived from outside
    /// (a binding).
    ///
    /// The parse is not kept: a cached parse is made and freed by the
    /// thread that reads it (the dispatcher), not the emitting one.
    pub fn from_text(text: &str) -> Result<Payload, serde_json::Error> {
        let value: Json = serde_json::from_str(text)?;
        Ok(Payload::new(&value))
    }

    /// The JSON text (compact, keys sorted).
    pub fn text(&self) -> &str {
        self.text.as_str()
    }

    /// The value, parsed on first use and cached (shared by every
    /// subscriber of the event).
    pub fn value(&self) -> &Json {
        self.parsed.get_or_init(|| {
            // The text came from serializing a value: it always parses.
            Box::new(serde_json::from_str(self.text()).unwrap_or(Json::Null))
        })
    }

    /// The value, owned.
    pub fn to_value(&self) -> Json {
        match self.parsed.get() {
            Some(v) => (**v).clone(),
            None => serde_json::from_str(self.text()).unwrap_or(Json::Null),
        }
    }

    /// `value()[key]` for an object payload, without parsing when the text
    /// cannot contain the key.
    pub fn get(&self, key: &str) -> Option<&Json> {
        let text = self.text();
        if !text.starts_with('{') {
            return None;
        }
        // Keys that need no escaping appear verbatim in the text: most
        // payloads are not parsed just to learn that they lack the key.
        let plain = !key.chars().any(|c| c == '"' || c == '\\' || c.is_control());
        if plain && !text.contains(key) {
            return None;
        }
        self.value().get(key)
    }

    /// Whether the payload is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.text() == "null"
    }

    /// The text, and the parse if one was made (the thread that read the
    /// payload made it, and should free it).
    pub(crate) fn into_parts(self) -> (Text, Option<Box<Json>>) {
        (self.text, self.parsed.into_inner())
    }
}

fn to_text(value: &impl Serialize) -> Text {
    let write = |buf: &mut Vec<u8>| {
        buf.clear();
        // Serializing into memory fails only for non-string map keys, which
        // callers rule out (see `serialized`).
        let _ = serde_json::to_writer(&mut *buf, value);
        // SAFETY: serde_json writes UTF-8.
        let text = Text::new(unsafe { std::str::from_utf8_unchecked(buf) });
        if buf.capacity() > KEEP_BUF {
            *buf = Vec::new();
        }
        text
    };
    BUF.try_with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => write(&mut buf),
        Err(_) => write(&mut Vec::new()),
    })
    .unwrap_or_else(|_| write(&mut Vec::new()))
}

impl From<Json> for Payload {
    fn from(value: Json) -> Payload {
        Payload::new(&value)
    }
}

impl From<&Json> for Payload {
    fn from(value: &Json) -> Payload {
        Payload::new(value)
    }
}

/// A payload reads like the value it froze (`payload["key"]`,
/// `payload.as_str()`): [`value`](Payload::value), parsed on first use.
impl std::ops::Deref for Payload {
    type Target = Json;
    fn deref(&self) -> &Json {
        self.value()
    }
}

impl Clone for Payload {
    fn clone(&self) -> Payload {
        Payload {
            text: self.text.clone(),
            parsed: OnceLock::new(),
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.text() == other.text()
    }
}

impl PartialEq<Json> for Payload {
    fn eq(&self, other: &Json) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({})", self.text())
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_holds_compact_text_with_sorted_keys_and_parses_back_to_the_value() {
        let v = json!({"b": [1, 2.5, null], "a": {"z": "é\"", "y": true}});
        let p = Payload::new(&v);
        assert_eq!(p.text(), r#"{"a":{"y":true,"z":"é\""},"b":[1,2.5,null]}"#);
        assert_eq!(p.value(), &v);
        assert_eq!(p.to_value(), v);
        assert_eq!(p, v);
    }

    #[test]
    fn short_and_long_texts_read_the_same_and_only_long_ones_are_on_the_heap() {
        for n in [0, INLINE - 2, INLINE - 1, INLINE, INLINE + 40] {
            let v = Json::String("é".repeat(n / 2) + &"x".repeat(n % 2));
            let p = Payload::new(&v);
            assert_eq!(p.text(), serde_json::to_string(&v).unwrap());
            assert_eq!(p.value(), &v);
            let heap = matches!(p.into_parts().0, Text::Heap(_));
            assert_eq!(heap, serde_json::to_string(&v).unwrap().len() > INLINE);
        }
    }

    #[test]
    fn text_from_outside_is_checked_and_canonicalized() {
        let p = Payload::from_text(r#"{ "b": 1, "a": 2 }"#).unwrap();
        assert_eq!(p.text(), r#"{"a":2,"b":1}"#);
        assert!(Payload::from_text("{nope").is_err());
    }

    #[test]
    fn get_reads_a_key_of_an_object_payload_only() {
        let p = Payload::new(&json!({"rejected": true}));
        assert_eq!(p.get("rejected"), Some(&json!(true)));
        assert_eq!(p.get("reason"), None);
        assert_eq!(Payload::new(&json!("rejected")).get("rejected"), None);
        assert!(Payload::new(&Json::Null).is_null());
    }

    #[test]
    fn a_large_payload_does_not_keep_a_large_buffer_on_its_thread() {
        let big = Json::String("x".repeat(KEEP_BUF * 2));
        assert_eq!(Payload::new(&big).text().len(), KEEP_BUF * 2 + 2);
        BUF.with(|b| assert!(b.borrow().capacity() <= KEEP_BUF));
    }
}
