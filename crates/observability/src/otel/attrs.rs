//! Building OTLP attribute lists and deriving ids.
//!
//! Ids are *derived*, never random, so that every exporter (and any other
//! tool that reads ATOF) agrees on them: a span's id is the last 8 bytes of
//! its scope's uuid, and a trace's id is the 16 bytes of its root scope's
//! uuid. Given an ATOF file, you can find the span of any event in a trace
//! viewer, and the other way round.

use nemo_relay_core::{Json, Payload, Uuid};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};

/// Span id of the scope (or mark) with this uuid: its last 8 bytes.
pub fn span_id(uuid: &Uuid) -> [u8; 8] {
    let b = uuid.as_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[8..]);
    id
}

/// Trace id of the trace rooted at the scope with this uuid: all 16 bytes.
pub fn trace_id(root: &Uuid) -> [u8; 16] {
    *root.as_bytes()
}

/// An attribute list under construction.
#[derive(Default)]
pub(crate) struct Attrs(pub(crate) Vec<KeyValue>);

impl Attrs {
    fn put(&mut self, key: &str, value: Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }

    pub(crate) fn str(&mut self, key: &str, v: impl Into<String>) {
        self.put(key, Value::StringValue(v.into()));
    }

    pub(crate) fn opt_str(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    pub(crate) fn int(&mut self, key: &str, v: i64) {
        self.put(key, Value::IntValue(v));
    }

    pub(crate) fn opt_u64(&mut self, key: &str, v: Option<u64>) {
        if let Some(v) = v {
            self.int(key, i64::try_from(v).unwrap_or(i64::MAX));
        }
    }

    pub(crate) fn opt_f64(&mut self, key: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.put(key, Value::DoubleValue(v));
        }
    }

    pub(crate) fn strs(&mut self, key: &str, v: &[String]) {
        let values = v
            .iter()
            .map(|s| AnyValue {
                value: Some(Value::StringValue(s.clone())),
            })
            .collect();
        self.put(key, Value::ArrayValue(ArrayValue { values }));
    }

    /// A JSON value as its JSON text (strings stay plain strings).
    pub(crate) fn json(&mut self, key: &str, v: &Json) {
        match v {
            Json::String(s) => self.str(key, s.clone()),
            other => self.str(key, other.to_string()),
        }
    }

    /// An event payload as its JSON text (a string payload stays a plain
    /// string): the text is copied as it is, nothing is parsed for it.
    pub(crate) fn payload(&mut self, key: &str, v: &Payload) {
        if v.text().starts_with('"') {
            self.json(key, v.value());
        } else {
            self.str(key, v.text());
        }
    }

    /// A scalar JSON value with its own type (numbers stay numbers); used
    /// for request parameters such as temperature.
    pub(crate) fn scalar(&mut self, key: &str, v: Option<&Json>) {
        match v {
            Some(Json::Number(n)) => match n.as_i64() {
                Some(i) => self.int(key, i),
                None => self.opt_f64(key, n.as_f64()),
            },
            Some(Json::String(s)) => self.str(key, s.clone()),
            Some(Json::Bool(b)) => self.put(key, Value::BoolValue(*b)),
            _ => {}
        }
    }
}
