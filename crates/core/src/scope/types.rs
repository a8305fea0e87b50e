//! Scope categories and attribute flags, with their canonical wire strings.

use std::fmt;
use std::str::FromStr;

use crate::error::RelayError;

/// What kind of work a scope represents. Serialized as the ATOF `category`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeType {
    /// An agent (or agent turn).
    Agent,
    /// A plain function / step.
    Function,
    /// A tool call.
    Tool,
    /// An LLM call.
    Llm,
    /// A retriever call.
    Retriever,
    /// An embedder call.
    Embedder,
    /// A reranker call.
    Reranker,
    /// A guardrail evaluation.
    Guardrail,
    /// An evaluator.
    Evaluator,
    /// Application-defined work.
    Custom,
    /// Anything else.
    Unknown,
}

impl ScopeType {
    /// Every scope type, in wire order.
    pub const ALL: [ScopeType; 11] = [
        ScopeType::Agent,
        ScopeType::Function,
        ScopeType::Tool,
        ScopeType::Llm,
        ScopeType::Retriever,
        ScopeType::Embedder,
        ScopeType::Reranker,
        ScopeType::Guardrail,
        ScopeType::Evaluator,
        ScopeType::Custom,
        ScopeType::Unknown,
    ];

    /// Lowercase wire string (`"agent"`, `"llm"` …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeType::Agent => "agent",
            ScopeType::Function => "function",
            ScopeType::Tool => "tool",
            ScopeType::Llm => "llm",
            ScopeType::Retriever => "retriever",
            ScopeType::Embedder => "embedder",
            ScopeType::Reranker => "reranker",
            ScopeType::Guardrail => "guardrail",
            ScopeType::Evaluator => "evaluator",
            ScopeType::Custom => "custom",
            ScopeType::Unknown => "unknown",
        }
    }

    /// Stable integer for C callers (index in [`ScopeType::ALL`]).
    pub fn from_index(i: u32) -> Option<Self> {
        Self::ALL.get(i as usize).copied()
    }
}

impl fmt::Display for ScopeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScopeType {
    type Err = RelayError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| RelayError::invalid(format!("unknown scope type '{s}'")))
    }
}

/// Attribute flags of a scope, tool or LLM call (ATOF `attributes`).
///
/// Serialized as a sorted array of strings; unknown bits are rejected by
/// [`Attributes::from_bits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attributes(u32);

impl Attributes {
    /// No flags.
    pub const NONE: Attributes = Attributes(0);
    /// Work that runs in parallel with its siblings.
    pub const PARALLEL: Attributes = Attributes(1);
    /// Work that may move between workers.
    pub const RELOCATABLE: Attributes = Attributes(1 << 1);
    /// A tool that runs remotely.
    pub const REMOTE: Attributes = Attributes(1 << 2);
    /// An LLM call against a stateful session.
    pub const STATEFUL: Attributes = Attributes(1 << 3);
    /// A streaming LLM call.
    pub const STREAMING: Attributes = Attributes(1 << 4);

    /// Flag names in wire (lexicographic) order with their bits.
    const NAMES: [(&'static str, Attributes); 5] = [
        ("parallel", Attributes::PARALLEL),
        ("relocatable", Attributes::RELOCATABLE),
        ("remote", Attributes::REMOTE),
        ("stateful", Attributes::STATEFUL),
        ("streaming", Attributes::STREAMING),
    ];
    const ALL_BITS: u32 = 0b1_1111;

    /// Validate raw bits (from C or JS).
    pub fn from_bits(bits: u32) -> Result<Self, RelayError> {
        if bits & !Self::ALL_BITS != 0 {
            return Err(RelayError::invalid(format!(
                "unknown attribute bits {:#x}",
                bits & !Self::ALL_BITS
            )));
        }
        Ok(Attributes(bits))
    }

    /// Parse a wire name (`"parallel"`).
    pub fn from_name(name: &str) -> Result<Self, RelayError> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| RelayError::invalid(format!("unknown attribute '{name}'")))
    }

    /// Raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Attributes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set names, sorted (the wire form).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(_, a)| self.contains(*a))
            .map(|(n, _)| n)
    }
}

impl std::ops::BitOr for Attributes {
    type Output = Attributes;
    fn bitor(self, rhs: Attributes) -> Attributes {
        Attributes(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_types_round_trip_through_their_wire_strings() {
        for t in ScopeType::ALL {
            assert_eq!(t.as_str().parse::<ScopeType>().unwrap(), t);
        }
        assert!("robot".parse::<ScopeType>().is_err());
    }

    #[test]
    fn attributes_serialize_sorted_and_reject_unknown_bits() {
        let a = Attributes::STREAMING | Attributes::PARALLEL;
        assert_eq!(a.names().collect::<Vec<_>>(), ["parallel", "streaming"]);
        assert!(Attributes::from_bits(1 << 9).is_err());
        assert_eq!(Attributes::from_name("remote").unwrap(), Attributes::REMOTE);
    }
}
