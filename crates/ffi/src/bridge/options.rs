//! The `options_json` argument: everything optional, as one JSON object.
//!
//! Entry points take their required inputs as typed parameters and the rest
//! as one optional JSON object, so adding an option later never changes a
//! signature (no `_v2` functions). NULL, `"null"` and `"{}"` all mean "no
//! options". Unknown keys are rejected with `INVALID_JSON`, so a misspelled
//! option fails loudly instead of being ignored.
//!
//! | key | type | used by |
//! |---|---|---|
//! | `parent` | uuid string | push, mark, tool/LLM start and execute |
//! | `attributes` | integer bits (`NEMO_RELAY_ATTRIBUTE_*`) or array of names (`["parallel"]`) | push, tool/LLM |
//! | `input` | any | push (start event payload) |
//! | `output` | any | pop (end event payload) |
//! | `data` | any | push (kept on the handle), mark (payload), tool/LLM (failure payload) |
//! | `data_schema` | `{"name": str, "version": str}` | mark |
//! | `metadata` | object | all |
//! | `category` | scope type name (`"guardrail"`) | mark |
//! | `category_profile` | object | mark |
//! | `tool_call_id` | string | tool calls |
//! | `model_name` | string | LLM calls |
//! | `timestamp_us` | integer, Unix microseconds (clamped to 1677–2262, the span of the core's nanosecond clock) | push, pop, mark, end |

use std::ffi::c_char;

use nemo_relay_core::{
    Attributes, CallOptions, DataSchema, EndOptions, Json, MarkOptions, PopOptions, ScopeOptions,
    ScopeStack, ScopeType, Timestamp, Uuid,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::conventions::args::opt_str_arg;
use crate::conventions::error::{FfiError, FfiResult};
use crate::conventions::status::NemoRelayStatus;

/// Parses an optional options object into `T` (all fields optional).
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string.
pub unsafe fn options_arg<T: DeserializeOwned + Default>(ptr: *const c_char) -> FfiResult<T> {
    // SAFETY: forwarded from the caller.
    let Some(text) = (unsafe { opt_str_arg(ptr, "options_json") })? else {
        return Ok(T::default());
    };
    let value: Option<T> = serde_json::from_str(text).map_err(|err| {
        FfiError::new(
            NemoRelayStatus::InvalidJson,
            format!("argument `options_json` is not a valid options object: {err}"),
        )
    })?;
    Ok(value.unwrap_or_default())
}

/// Attribute flags, as bits or as names.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AttributesJson {
    /// `5`
    Bits(u32),
    /// `["parallel", "remote"]`
    Names(Vec<String>),
}

impl AttributesJson {
    fn resolve(&self) -> FfiResult<Attributes> {
        let attrs = match self {
            AttributesJson::Bits(bits) => Attributes::from_bits(*bits)?,
            AttributesJson::Names(names) => {
                let mut all = Attributes::NONE;
                for name in names {
                    all = all | Attributes::from_name(name)?;
                }
                all
            }
        };
        Ok(attrs)
    }
}

fn attributes(a: &Option<AttributesJson>) -> FfiResult<Attributes> {
    a.as_ref()
        .map_or(Ok(Attributes::NONE), AttributesJson::resolve)
}

fn timestamp(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(Timestamp::from_unix_micros)
}

/// Options of `nemo_relay_scope_push`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PushJson {
    parent: Option<Uuid>,
    attributes: Option<AttributesJson>,
    input: Option<Json>,
    data: Option<Json>,
    metadata: Option<Json>,
    timestamp_us: Option<i64>,
}

impl PushJson {
    /// Core options on `stack`.
    pub fn into_core(self, stack: Option<ScopeStack>) -> FfiResult<ScopeOptions> {
        Ok(ScopeOptions {
            stack,
            parent: self.parent,
            attributes: attributes(&self.attributes)?,
            input: self.input,
            data: self.data,
            metadata: self.metadata,
            timestamp: timestamp(self.timestamp_us),
        })
    }
}

/// Options of `nemo_relay_scope_pop`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PopJson {
    output: Option<Json>,
    metadata: Option<Json>,
    timestamp_us: Option<i64>,
}

impl PopJson {
    /// Core options on `stack`.
    pub fn into_core(self, stack: Option<ScopeStack>) -> PopOptions {
        PopOptions {
            stack,
            output: self.output,
            metadata: self.metadata,
            timestamp: timestamp(self.timestamp_us),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaJson {
    name: String,
    version: String,
}

/// Options of `nemo_relay_mark`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MarkJson {
    parent: Option<Uuid>,
    data: Option<Json>,
    data_schema: Option<SchemaJson>,
    metadata: Option<Json>,
    category: Option<String>,
    category_profile: Option<Json>,
    timestamp_us: Option<i64>,
}

impl MarkJson {
    /// Core options on `stack`.
    pub fn into_core(self, stack: Option<ScopeStack>) -> FfiResult<MarkOptions> {
        let category = self
            .category
            .as_deref()
            .map(str::parse::<ScopeType>)
            .transpose()?;
        Ok(MarkOptions {
            stack,
            parent: self.parent,
            data: self.data,
            data_schema: self.data_schema.map(|s| DataSchema {
                name: s.name,
                version: s.version,
            }),
            metadata: self.metadata,
            category,
            category_profile: self.category_profile,
            timestamp: timestamp(self.timestamp_us),
        })
    }
}

/// Options of the tool and LLM calls (manual start and managed execute).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CallJson {
    parent: Option<Uuid>,
    attributes: Option<AttributesJson>,
    data: Option<Json>,
    metadata: Option<Json>,
    tool_call_id: Option<String>,
    model_name: Option<String>,
}

impl CallJson {
    /// Core options on `stack`.
    pub fn into_core(self, stack: Option<ScopeStack>) -> FfiResult<CallOptions> {
        Ok(CallOptions {
            stack,
            parent: self.parent,
            attributes: attributes(&self.attributes)?,
            data: self.data,
            metadata: self.metadata,
            tool_call_id: self.tool_call_id,
            model_name: self.model_name,
            ..Default::default()
        })
    }
}

/// Options of `nemo_relay_tool_end` / `_fail` and the LLM equivalents.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EndJson {
    metadata: Option<Json>,
    timestamp_us: Option<i64>,
}

impl EndJson {
    /// Core options on `stack`.
    pub fn into_core(self, stack: Option<ScopeStack>) -> EndOptions {
        EndOptions {
            stack,
            metadata: self.metadata,
            timestamp: timestamp(self.timestamp_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_json_null_mean_no_options() {
        let none: PushJson = unsafe { options_arg(std::ptr::null()) }.unwrap();
        assert!(none.parent.is_none());
        let null: PushJson = unsafe { options_arg(c"null".as_ptr()) }.unwrap();
        assert!(null.input.is_none());
    }

    #[test]
    fn unknown_keys_are_rejected_as_invalid_json() {
        let err = unsafe { options_arg::<PopJson>(c"{\"outptu\": 1}".as_ptr()) }
            .err()
            .unwrap();
        assert_eq!(err.status(), NemoRelayStatus::InvalidJson);
        assert!(err.message().contains("outptu"), "{}", err.message());
    }

    #[test]
    fn attributes_accept_bits_or_names_and_reject_unknown_ones() {
        let by_name: CallJson =
            unsafe { options_arg(c"{\"attributes\": [\"remote\"]}".as_ptr()) }.unwrap();
        let by_bits: CallJson = unsafe { options_arg(c"{\"attributes\": 4}".as_ptr()) }.unwrap();
        assert_eq!(
            by_name.into_core(None).unwrap().attributes,
            by_bits.into_core(None).unwrap().attributes
        );
        let bad: CallJson = unsafe { options_arg(c"{\"attributes\": 1024}".as_ptr()) }.unwrap();
        let err = bad.into_core(None).err().unwrap();
        assert_eq!(err.status(), NemoRelayStatus::InvalidArgument);
    }
}
