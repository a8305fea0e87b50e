//! Attribute names, pinned to one version of each convention.
//!
//! The OpenTelemetry GenAI conventions are still "Development" and keep
//! moving (`gen_ai.system` became `gen_ai.provider.name`; cache writes are
//! `cache_creation` in the snapshot pinned here and `cache_write` in later
//! drafts). Every name this crate emits is in this one table, so following a
//! newer snapshot is a reviewable change here and nowhere else.
//!
//! * GenAI: semantic conventions **v1.42.0** ([`GENAI_SCHEMA_URL`]), the
//!   snapshot the reference implementation targets.
//! * OpenInference: the `openinference-semantic-conventions` attribute set
//!   (spans carry `openinference.span.kind`).

/// Schema URL of the pinned GenAI semantic-conventions version.
pub const GENAI_SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.42.0";

/// OTel GenAI (semconv v1.42.0) attribute names and values.
pub mod genai {
    /// Operation name (`chat`, `execute_tool`, `invoke_agent` …).
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// Provider (`openai`, `anthropic` …).
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// Requested model.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// Requested max tokens.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// Requested temperature.
    pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// Requested top-p.
    pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// Requested seed.
    pub const REQUEST_SEED: &str = "gen_ai.request.seed";
    /// Model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// Provider's response id.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// Why generation stopped, per choice.
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// Input tokens.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Output tokens.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// Input tokens served from the provider's cache.
    pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// Input tokens written to the cache (`cache_write` in later drafts).
    pub const USAGE_CACHE_CREATION_INPUT_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    /// Conversation / session id.
    pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
    /// Agent id.
    pub const AGENT_ID: &str = "gen_ai.agent.id";
    /// Agent name.
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    /// Tool name.
    pub const TOOL_NAME: &str = "gen_ai.tool.name";
    /// Tool call id.
    pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
    /// Tool type (`function`).
    pub const TOOL_TYPE: &str = "gen_ai.tool.type";
    /// Tool arguments (opt-in content).
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// Tool result (opt-in content).
    pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
    /// System prompt (opt-in content).
    pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
    /// Input messages as a JSON string (opt-in content).
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Output messages as a JSON string (opt-in content).
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// Data source id (retrieval).
    pub const DATA_SOURCE_ID: &str = "gen_ai.data_source.id";
    /// Low-cardinality error class.
    pub const ERROR_TYPE: &str = "error.type";

    /// `gen_ai.operation.name` values.
    pub mod op {
        /// LLM chat call.
        pub const CHAT: &str = "chat";
        /// Tool execution.
        pub const EXECUTE_TOOL: &str = "execute_tool";
        /// Agent invocation.
        pub const INVOKE_AGENT: &str = "invoke_agent";
        /// Embedding call.
        pub const EMBEDDINGS: &str = "embeddings";
        /// Retrieval call.
        pub const RETRIEVAL: &str = "retrieval";
    }
}

/// OpenInference attribute names and values.
pub mod openinference {
    /// Span kind attribute.
    pub const SPAN_KIND: &str = "openinference.span.kind";
    /// Input payload.
    pub const INPUT_VALUE: &str = "input.value";
    /// Input MIME type.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// Output payload.
    pub const OUTPUT_VALUE: &str = "output.value";
    /// Output MIME type.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// Metadata as a JSON string.
    pub const METADATA: &str = "metadata";
    /// Session id.
    pub const SESSION_ID: &str = "session.id";
    /// User id.
    pub const USER_ID: &str = "user.id";
    /// Agent name.
    pub const AGENT_NAME: &str = "agent.name";
    /// Model name.
    pub const LLM_MODEL_NAME: &str = "llm.model_name";
    /// Provider.
    pub const LLM_PROVIDER: &str = "llm.provider";
    /// Invocation parameters as JSON.
    pub const LLM_INVOCATION_PARAMETERS: &str = "llm.invocation_parameters";
    /// Prefix of flattened input messages (`llm.input_messages.{i}.message.*`).
    pub const LLM_INPUT_MESSAGES: &str = "llm.input_messages";
    /// Prefix of flattened output messages.
    pub const LLM_OUTPUT_MESSAGES: &str = "llm.output_messages";
    /// Prompt tokens.
    pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
    /// Completion tokens.
    pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
    /// Total tokens.
    pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
    /// Cache-read prompt tokens.
    pub const LLM_TOKEN_COUNT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
    /// Cache-write prompt tokens.
    pub const LLM_TOKEN_COUNT_CACHE_WRITE: &str = "llm.token_count.prompt_details.cache_write";
    /// Total cost in USD.
    pub const LLM_COST_TOTAL: &str = "llm.cost.total";
    /// Tool name.
    pub const TOOL_NAME: &str = "tool.name";
    /// Tool parameters (the call's arguments) as JSON.
    pub const TOOL_PARAMETERS: &str = "tool.parameters";
    /// Tool call id.
    pub const TOOL_CALL_ID: &str = "tool_call.id";
    /// Tool call function name.
    pub const TOOL_CALL_FUNCTION_NAME: &str = "tool_call.function.name";
    /// Tool call arguments as JSON.
    pub const TOOL_CALL_FUNCTION_ARGUMENTS: &str = "tool_call.function.arguments";

    /// `openinference.span.kind` values.
    pub mod kind {
        /// LLM call.
        pub const LLM: &str = "LLM";
        /// Tool call.
        pub const TOOL: &str = "TOOL";
        /// Agent.
        pub const AGENT: &str = "AGENT";
        /// Generic step (functions, custom, unknown scopes).
        pub const CHAIN: &str = "CHAIN";
        /// Retriever.
        pub const RETRIEVER: &str = "RETRIEVER";
        /// Embedder.
        pub const EMBEDDING: &str = "EMBEDDING";
        /// Reranker.
        pub const RERANKER: &str = "RERANKER";
        /// Guardrail.
        pub const GUARDRAIL: &str = "GUARDRAIL";
        /// Evaluator.
        pub const EVALUATOR: &str = "EVALUATOR";
    }
}

/// nemo-relay's own attributes (join keys with ATOF/ATIF).
pub mod relay {
    /// Event uuid of the scope.
    pub const UUID: &str = "nemo_relay.uuid";
    /// Parent scope uuid.
    pub const PARENT_UUID: &str = "nemo_relay.parent_uuid";
    /// Scope category.
    pub const SCOPE_TYPE: &str = "nemo_relay.scope_type";
    /// Prefix of mark span-event attributes.
    pub const MARK_PREFIX: &str = "nemo_relay.mark";
}
