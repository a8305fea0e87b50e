//! The ATIF v1.7 document model (Harbor RFC 0001), as serde types.
//!
//! Field names and optionality follow the RFC's models exactly; optional
//! fields are omitted (never `null`) when absent. Anything that is not in
//! the spec goes under an `extra` object, because the reference models
//! reject unknown keys everywhere else.
//!
//! ```text
//! Trajectory ── agent: Agent
//!            ├─ steps: [Step] ── tool_calls: [ToolCall]        (agent steps only)
//!            │                ├─ observation.results: [ObservationResult]
//!            │                │      └─ subagent_trajectory_ref: [SubagentRef]
//!            │                └─ metrics: Metrics               (agent steps only)
//!            ├─ final_metrics: FinalMetrics
//!            └─ subagent_trajectories: [Trajectory]             (nested agents)
//! ```

use serde::{Deserialize, Serialize};

use nemo_relay_core::Json;

/// The schema tag this exporter writes.
pub const SCHEMA_VERSION: &str = "ATIF-v1.7";

/// A JSON object for `extra` fields.
pub type Extra = serde_json::Map<String, Json>;

/// Root document: one agent run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// Run-scoped id (the root agent scope's uuid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Per-document id; required on embedded subagents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory_id: Option<String>,
    /// The agent system.
    pub agent: Agent,
    /// Steps, numbered 1..n.
    pub steps: Vec<Step>,
    /// Sums over the steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<FinalMetrics>,
    /// Nested agents, referenced from observation results by `trajectory_id`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub subagent_trajectories: Vec<Trajectory>,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// The agent system that produced the trajectory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
    /// Default model of the agent's steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// OpenAI-style function schemas offered to the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Json>>,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// Who a step comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// System prompt or infrastructure event.
    System,
    /// The user's message.
    User,
    /// One agent turn (an LLM inference, or a deterministic dispatch).
    Agent,
}

/// One turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based position.
    pub step_id: u64,
    /// ISO 8601 time of the source event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Originator.
    pub source: Source,
    /// Agent steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Agent steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Json>,
    /// Text of the message (may be empty).
    pub message: String,
    /// Agent steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Agent steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Results of this step's tool calls (or of system events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// Agent steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// LLM inferences in this step (`0` = deterministic dispatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_call_count: Option<u64>,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

impl Step {
    /// A step with only the required fields (numbered later).
    pub fn new(source: Source, message: impl Into<String>) -> Self {
        Step {
            step_id: 0,
            timestamp: None,
            source,
            model_name: None,
            reasoning_effort: None,
            message: message.into(),
            reasoning_content: None,
            tool_calls: None,
            observation: None,
            metrics: None,
            llm_call_count: None,
            extra: None,
        }
    }
}

/// A structured action requested by the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Id that observation results point back to.
    pub tool_call_id: String,
    /// Tool name.
    pub function_name: String,
    /// Arguments (always an object).
    pub arguments: Json,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// Feedback received during a step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// One result per answered tool call (or system event).
    pub results: Vec<ObservationResult>,
}

/// The outcome of one tool call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservationResult {
    /// The `tool_call_id` this answers (in the same step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_call_id: Option<String>,
    /// Tool output as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Nested agents this call delegated to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subagent_trajectory_ref: Option<Vec<SubagentRef>>,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// Pointer to an embedded subagent trajectory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubagentRef {
    /// Matches `Trajectory::trajectory_id` in `subagent_trajectories`.
    pub trajectory_id: String,
    /// Informational run identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// Per-step LLM usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Input tokens (cache reads and writes included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Cached input tokens (reads plus writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Cost in US dollars, when the provider or caller reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Usage keys with no ATIF field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

impl Metrics {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Metrics::default()
    }
}

/// Trajectory totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Sum of `prompt_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_prompt_tokens: Option<u64>,
    /// Sum of `completion_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_completion_tokens: Option<u64>,
    /// Sum of `cached_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cached_tokens: Option<u64>,
    /// Sum of `cost_usd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// Number of steps.
    pub total_steps: u64,
}

impl FinalMetrics {
    /// Sum each field over the steps that have it.
    pub fn of(steps: &[Step]) -> Self {
        fn add<T: std::ops::Add<Output = T> + Copy>(acc: Option<T>, v: Option<T>) -> Option<T> {
            match (acc, v) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        let mut f = FinalMetrics {
            total_steps: steps.len() as u64,
            ..Default::default()
        };
        for m in steps.iter().filter_map(|s| s.metrics.as_ref()) {
            f.total_prompt_tokens = add(f.total_prompt_tokens, m.prompt_tokens);
            f.total_completion_tokens = add(f.total_completion_tokens, m.completion_tokens);
            f.total_cached_tokens = add(f.total_cached_tokens, m.cached_tokens);
            f.total_cost_usd = add(f.total_cost_usd, m.cost_usd);
        }
        f
    }
}
