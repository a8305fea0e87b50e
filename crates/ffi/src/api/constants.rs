//! Integer constants for enum-like parameters, and their validation.
//!
//! Every enum-like parameter is a plain `int32_t` (or `uint32_t` bit set)
//! validated on entry: a C caller can pass any integer, and an out-of-range
//! value must be `NEMO_RELAY_STATUS_INVALID_ARGUMENT`, never undefined
//! behaviour. The values are the positions in the core's `Family::ALL` and
//! `ScopeType::ALL`, which the tests below pin.

use nemo_relay_core::{Family, ScopeType};

/// Tool conditional-execution guardrail (`NemoRelayGuardFn`).
pub const NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION: i32 = 0;
/// Tool request intercept (`NemoRelayRewriteFn`; may use `break_chain`).
pub const NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT: i32 = 1;
/// Tool sanitize-request guardrail (`NemoRelayRewriteFn`; events only).
pub const NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST: i32 = 2;
/// Tool sanitize-response guardrail (`NemoRelayRewriteFn`; events only).
pub const NEMO_RELAY_FAMILY_TOOL_SANITIZE_RESPONSE: i32 = 3;
/// Tool execution intercept (`NemoRelayInterceptFn`).
pub const NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT: i32 = 4;
/// LLM conditional-execution guardrail (`NemoRelayGuardFn`).
pub const NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION: i32 = 5;
/// LLM request intercept (`NemoRelayRewriteFn`; may use `break_chain`).
pub const NEMO_RELAY_FAMILY_LLM_REQUEST_INTERCEPT: i32 = 6;
/// LLM sanitize-request guardrail (`NemoRelayRewriteFn`; events only).
pub const NEMO_RELAY_FAMILY_LLM_SANITIZE_REQUEST: i32 = 7;
/// LLM sanitize-response guardrail (`NemoRelayRewriteFn`; events only).
pub const NEMO_RELAY_FAMILY_LLM_SANITIZE_RESPONSE: i32 = 8;
/// LLM execution intercept (`NemoRelayInterceptFn`).
pub const NEMO_RELAY_FAMILY_LLM_EXECUTION_INTERCEPT: i32 = 9;
/// LLM stream execution intercept (`NemoRelayStreamInterceptFn`).
pub const NEMO_RELAY_FAMILY_LLM_STREAM_EXECUTION_INTERCEPT: i32 = 10;
/// Event subscriber (`NemoRelaySubscriberFn`).
pub const NEMO_RELAY_FAMILY_SUBSCRIBER: i32 = 11;

/// Scope type `agent`.
pub const NEMO_RELAY_SCOPE_TYPE_AGENT: i32 = 0;
/// Scope type `function`.
pub const NEMO_RELAY_SCOPE_TYPE_FUNCTION: i32 = 1;
/// Scope type `tool`.
pub const NEMO_RELAY_SCOPE_TYPE_TOOL: i32 = 2;
/// Scope type `llm`.
pub const NEMO_RELAY_SCOPE_TYPE_LLM: i32 = 3;
/// Scope type `retriever`.
pub const NEMO_RELAY_SCOPE_TYPE_RETRIEVER: i32 = 4;
/// Scope type `embedder`.
pub const NEMO_RELAY_SCOPE_TYPE_EMBEDDER: i32 = 5;
/// Scope type `reranker`.
pub const NEMO_RELAY_SCOPE_TYPE_RERANKER: i32 = 6;
/// Scope type `guardrail`.
pub const NEMO_RELAY_SCOPE_TYPE_GUARDRAIL: i32 = 7;
/// Scope type `evaluator`.
pub const NEMO_RELAY_SCOPE_TYPE_EVALUATOR: i32 = 8;
/// Scope type `custom`.
pub const NEMO_RELAY_SCOPE_TYPE_CUSTOM: i32 = 9;
/// Scope type `unknown`.
pub const NEMO_RELAY_SCOPE_TYPE_UNKNOWN: i32 = 10;

/// Attribute bit `parallel` (for `"attributes"` in `options_json`).
pub const NEMO_RELAY_ATTRIBUTE_PARALLEL: u32 = 1;
/// Attribute bit `relocatable`.
pub const NEMO_RELAY_ATTRIBUTE_RELOCATABLE: u32 = 1 << 1;
/// Attribute bit `remote`.
pub const NEMO_RELAY_ATTRIBUTE_REMOTE: u32 = 1 << 2;
/// Attribute bit `stateful`.
pub const NEMO_RELAY_ATTRIBUTE_STATEFUL: u32 = 1 << 3;
/// Attribute bit `streaming`.
pub const NEMO_RELAY_ATTRIBUTE_STREAMING: u32 = 1 << 4;

/// A validated `family` argument.
pub struct FamilyArg(pub Family);

impl TryFrom<i32> for FamilyArg {
    type Error = String;
    fn try_from(raw: i32) -> Result<Self, String> {
        usize::try_from(raw)
            .ok()
            .and_then(|i| Family::ALL.get(i))
            .map(|f| FamilyArg(*f))
            .ok_or_else(|| format!("{raw} is not a NEMO_RELAY_FAMILY_* value"))
    }
}

/// A validated `scope_type` argument.
pub struct ScopeTypeArg(pub ScopeType);

impl TryFrom<i32> for ScopeTypeArg {
    type Error = String;
    fn try_from(raw: i32) -> Result<Self, String> {
        u32::try_from(raw)
            .ok()
            .and_then(ScopeType::from_index)
            .map(ScopeTypeArg)
            .ok_or_else(|| format!("{raw} is not a NEMO_RELAY_SCOPE_TYPE_* value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nemo_relay_core::Attributes;

    #[test]
    fn family_constants_follow_the_core_order() {
        let constants = [
            NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION,
            NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT,
            NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST,
            NEMO_RELAY_FAMILY_TOOL_SANITIZE_RESPONSE,
            NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT,
            NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION,
            NEMO_RELAY_FAMILY_LLM_REQUEST_INTERCEPT,
            NEMO_RELAY_FAMILY_LLM_SANITIZE_REQUEST,
            NEMO_RELAY_FAMILY_LLM_SANITIZE_RESPONSE,
            NEMO_RELAY_FAMILY_LLM_EXECUTION_INTERCEPT,
            NEMO_RELAY_FAMILY_LLM_STREAM_EXECUTION_INTERCEPT,
            NEMO_RELAY_FAMILY_SUBSCRIBER,
        ];
        assert_eq!(constants.len(), Family::ALL.len());
        for (value, family) in constants.into_iter().zip(Family::ALL) {
            assert_eq!(FamilyArg::try_from(value).unwrap().0, family);
        }
        assert!(FamilyArg::try_from(12).is_err());
        assert!(FamilyArg::try_from(-1).is_err());
    }

    #[test]
    fn scope_type_constants_follow_the_core_order() {
        assert_eq!(
            NEMO_RELAY_SCOPE_TYPE_UNKNOWN as usize + 1,
            ScopeType::ALL.len()
        );
        let agent = ScopeTypeArg::try_from(NEMO_RELAY_SCOPE_TYPE_AGENT).unwrap();
        assert_eq!(agent.0, ScopeType::Agent);
        let guardrail = ScopeTypeArg::try_from(NEMO_RELAY_SCOPE_TYPE_GUARDRAIL).unwrap();
        assert_eq!(guardrail.0, ScopeType::Guardrail);
        assert!(ScopeTypeArg::try_from(999).is_err());
        assert!(ScopeTypeArg::try_from(-1).is_err());
    }

    #[test]
    fn attribute_bits_match_the_core() {
        assert_eq!(NEMO_RELAY_ATTRIBUTE_PARALLEL, Attributes::PARALLEL.bits());
        assert_eq!(
            NEMO_RELAY_ATTRIBUTE_RELOCATABLE,
            Attributes::RELOCATABLE.bits()
        );
        assert_eq!(NEMO_RELAY_ATTRIBUTE_REMOTE, Attributes::REMOTE.bits());
        assert_eq!(NEMO_RELAY_ATTRIBUTE_STATEFUL, Attributes::STATEFUL.bits());
        assert_eq!(NEMO_RELAY_ATTRIBUTE_STREAMING, Attributes::STREAMING.bits());
    }
}
