//! Projecting events onto ATIF steps.
//!
//! The events of one root agent scope (and everything under it) are sorted
//! by time and walked once:
//!
//! | event | becomes |
//! |---|---|
//! | first LLM start with a system prompt | `system` step (the prompt) |
//! | LLM start whose last message is the user's | `user` step |
//! | LLM start continuing a turn (last message is a tool result) | nothing; its request rides on the next agent step |
//! | LLM end (ok) | `agent` step: answer text, requested `tool_calls`, `metrics`, `llm_call_count: 1` |
//! | LLM end (error) | `system` step describing the failure |
//! | tool start | makes sure the current agent step has a matching tool call (adds one if the model did not request it) |
//! | tool end | `observation.results[]` entry on the step that owns the call id, `source_call_id` = that id |
//! | guardrail rejection mark | observation result "rejected …" for the matching requested call, else a `system` step |
//! | nested agent scope | embedded trajectory in `subagent_trajectories`, referenced from the delegating tool call's result (or from a synthetic `agent` step with `llm_call_count: 0`) |
//! | other scopes and marks | nothing (they remain in the ATOF stream) |
//!
//! Call ids: the tool's `tool_call_id` if the caller gave one, else a
//! requested call of the same name that no tool has claimed yet: the one
//! asked with the tool's very arguments if there is one (on the current
//! agent step or, for concurrent branches, an earlier one), else the first
//! in the model's order (a model that asks for two searches at once
//! usually gets them run in that order); else the tool scope's uuid. Every non-spec detail (ancestry, raw payloads,
//! error types) goes under `extra`.

use std::collections::{HashMap, HashSet};

use nemo_relay_core::{Event, Json, ScopePhase, ScopeType, Timestamp, Uuid};
use serde_json::json;

use super::model::{
    Agent, Extra, FinalMetrics, Metrics, Observation, ObservationResult, Source, Step, SubagentRef,
    ToolCall, Trajectory, SCHEMA_VERSION,
};
use super::AtifConfig;
use crate::payload::{self, Turn};

/// Which scope each uuid is, and which agent owns each event.
pub(crate) struct Projector<'a> {
    /// The events to project, sorted by time.
    events: Vec<&'a Event>,
    /// Scope uuid → its start event (or end event when the start is missing).
    scopes: HashMap<Uuid, &'a Event>,
    config: &'a AtifConfig,
}

impl<'a> Projector<'a> {
    pub(crate) fn new(events: impl IntoIterator<Item = &'a Event>, config: &'a AtifConfig) -> Self {
        let mut events: Vec<&Event> = events.into_iter().collect();
        events.sort_by_key(|e| e.timestamp); // stable: delivery order breaks ties
        let mut scopes = HashMap::new();
        for e in &events {
            match e.phase() {
                Some(ScopePhase::Start) => {
                    scopes.insert(e.uuid, *e);
                }
                Some(ScopePhase::End) => {
                    scopes.entry(e.uuid).or_insert(*e);
                }
                None => {}
            }
        }
        Projector {
            events,
            scopes,
            config,
        }
    }

    fn is_agent(&self, uuid: Uuid) -> bool {
        self.scopes
            .get(&uuid)
            .is_some_and(|e| e.category == Some(ScopeType::Agent))
    }

    /// The nearest agent scope at or above `uuid`.
    fn agent_at_or_above(&self, mut uuid: Uuid) -> Option<Uuid> {
        for _ in 0..10_000 {
            if self.is_agent(uuid) {
                return Some(uuid);
            }
            uuid = self.scopes.get(&uuid)?.parent_uuid?;
        }
        None // a parent cycle: foreign data, not something the runtime emits
    }

    /// The agent whose trajectory an event belongs to. An agent scope's own
    /// events belong to its parent agent (which references it).
    fn owner(&self, e: &Event) -> Option<Uuid> {
        self.agent_at_or_above(e.parent_uuid?)
    }

    /// Agent scopes whose parent is not a scope we saw: trajectory roots.
    pub(crate) fn roots(&self) -> Vec<Uuid> {
        let mut seen = HashSet::new();
        self.events
            .iter()
            .filter(|e| e.category == Some(ScopeType::Agent) && e.phase().is_some())
            .filter(|e| self.owner(e).is_none())
            .filter(|e| seen.insert(e.uuid))
            .map(|e| e.uuid)
            .collect()
    }

    /// The trajectory of agent scope `root` (pass `None` for a flat
    /// conversion of events that belong to no agent).
    pub(crate) fn trajectory(&self, root: Option<Uuid>, session_id: &str) -> Trajectory {
        let mine: Vec<&Event> = self
            .events
            .iter()
            .copied()
            .filter(|e| self.owner(e) == root && Some(e.uuid) != root)
            .collect();
        let mut walk = Walk::new(self, session_id);
        for e in &mine {
            walk.event(e);
        }
        let root_event = root.and_then(|r| self.scopes.get(&r));
        let mut t = walk.finish();
        t.session_id = Some(session_id.to_owned());
        t.trajectory_id = root.map(|r| r.to_string());
        t.agent.name = self.config.agent_name.clone().unwrap_or_else(|| {
            root_event.map_or_else(|| "nemo-relay".to_owned(), |e| e.name.to_string())
        });
        let mut extra = Extra::new();
        if let Some(e) = root_event {
            let mut relay = json!({"scope_uuid": e.uuid.to_string(), "scope_name": &*e.name});
            if let Some(s) = e.metadata_str("session_id") {
                relay["session_id"] = json!(s);
            }
            if let Some(p) = e.parent_uuid {
                relay["parent_uuid"] = json!(p.to_string());
            }
            extra.insert("nemo_relay".into(), relay);
        }
        if self.config.include_raw_events {
            let raw: Vec<Json> = mine.iter().map(|e| e.to_json()).collect();
            extra.insert("observed_events".into(), Json::Array(raw));
        }
        t.extra = (!extra.is_empty()).then_some(extra);
        t
    }
}

/// The state of one walk over one agent's events.
struct Walk<'p, 'a> {
    p: &'p Projector<'a>,
    session_id: &'p str,
    steps: Vec<Step>,
    subagents: Vec<Trajectory>,
    tool_definitions: Option<Vec<Json>>,
    /// Index of the latest agent step.
    current: Option<usize>,
    /// Call id → index of the step whose `tool_calls` has it.
    call_step: HashMap<String, usize>,
    /// Call ids a tool start has already claimed.
    claimed: HashSet<String>,
    /// Tool scope uuid → its call id.
    tool_call_of: HashMap<Uuid, String>,
    /// Request of a continuation LLM call, for the next agent step.
    stashed_request: HashMap<Uuid, Json>,
    system_prompt_done: bool,
}

impl<'p, 'a> Walk<'p, 'a> {
    fn new(p: &'p Projector<'a>, session_id: &'p str) -> Self {
        Walk {
            p,
            session_id,
            steps: Vec::new(),
            subagents: Vec::new(),
            tool_definitions: None,
            current: None,
            call_step: HashMap::new(),
            claimed: HashSet::new(),
            tool_call_of: HashMap::new(),
            stashed_request: HashMap::new(),
            system_prompt_done: false,
        }
    }

    fn event(&mut self, e: &Event) {
        match (e.category, e.phase()) {
            (Some(ScopeType::Llm), Some(ScopePhase::Start)) => self.llm_start(e),
            (Some(ScopeType::Llm), Some(ScopePhase::End)) => self.llm_end(e),
            (Some(ScopeType::Tool), Some(ScopePhase::Start)) => {
                self.resolve_call(e);
            }
            (Some(ScopeType::Tool), Some(ScopePhase::End)) => self.tool_end(e),
            (Some(ScopeType::Agent), Some(ScopePhase::Start)) => self.subagent(e),
            (_, None) if is_rejection(e) => self.rejection(e),
            _ => {}
        }
    }

    fn push(&mut self, e: &Event, mut step: Step) -> usize {
        step.timestamp = Some(iso(e.timestamp));
        let extra = step.extra.get_or_insert_with(Extra::new);
        extra.insert("ancestry".into(), self.ancestry(e));
        self.steps.push(step);
        self.steps.len() - 1
    }

    fn ancestry(&self, e: &Event) -> Json {
        let mut a = json!({"function_id": e.uuid.to_string(), "function_name": &*e.name});
        if let Some(parent) = e.parent_uuid {
            a["parent_id"] = json!(parent.to_string());
            if let Some(p) = self.p.scopes.get(&parent) {
                a["parent_name"] = json!(&*p.name);
            }
        }
        a
    }

    fn llm_start(&mut self, e: &Event) {
        let Some(data) = &e.data else { return };
        let body = payload::request_body(data);
        if self.tool_definitions.is_none() {
            self.tool_definitions = body.get("tools").and_then(Json::as_array).cloned();
        }
        if !self.system_prompt_done {
            self.system_prompt_done = true;
            if let Some(system) = payload::system_text(body) {
                self.push(e, Step::new(Source::System, system));
            }
        }
        match payload::turn(body) {
            Turn::User(text) => {
                let mut step = Step::new(Source::User, text);
                let mut extra = Extra::new();
                extra.insert("llm_request".into(), body.clone());
                step.extra = Some(extra);
                self.push(e, step);
            }
            Turn::Continuation => {
                self.stashed_request.insert(e.uuid, body.clone());
            }
        }
    }

    fn llm_end(&mut self, e: &Event) {
        let start = self
            .p
            .scopes
            .get(&e.uuid)
            .filter(|s| s.phase() == Some(ScopePhase::Start));
        let request = self.stashed_request.remove(&e.uuid);
        if failed(e) {
            let mut step = Step::new(
                Source::System,
                format!("LLM call '{}' failed: {}", e.name, error_message(e)),
            );
            step.extra = Some(error_extra(e));
            self.push(e, step);
            return;
        }
        let resp = e.data.as_ref().map_or(Json::Null, |d| d.to_value());
        // A streamed answer's chunks, folded (no copy when not streamed).
        let folded = match payload::assembled(&resp) {
            std::borrow::Cow::Owned(v) => Some(v),
            std::borrow::Cow::Borrowed(_) => None,
        };
        let resp = folded.unwrap_or(resp);
        let profile_model = e
            .category_profile
            .as_ref()
            .and_then(|p| p.get("model_name"))
            .and_then(Json::as_str);
        let mut step = Step::new(Source::Agent, payload::response_text(&resp));
        step.model_name = payload::response_model(&resp)
            .or(profile_model)
            .map(str::to_owned);
        step.reasoning_content = payload::reasoning(&resp);
        step.reasoning_effort = start
            .and_then(|s| s.data.as_deref())
            .map(payload::request_body)
            .and_then(|b| b.get("reasoning_effort"))
            .cloned();
        step.llm_call_count = Some(1);
        let calls: Vec<ToolCall> = payload::response_tool_calls(&resp)
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                tool_call_id: c.id.unwrap_or_else(|| format!("{}:{}", c.name, i + 1)),
                function_name: c.name,
                arguments: c.arguments,
                extra: None,
            })
            .collect();
        let metrics = metrics_of(&resp, e.category_profile.as_ref());
        step.metrics = (!metrics.is_empty()).then_some(metrics);
        let mut extra = Extra::new();
        let started = start.map_or(e.timestamp, |s| s.timestamp);
        extra.insert(
            "invocation".into(),
            json!({"start_timestamp": epoch_secs(started), "end_timestamp": epoch_secs(e.timestamp),
                   "invocation_id": e.uuid.to_string(), "status": "completed", "framework": "nemo_relay"}),
        );
        if let Some(r) = request {
            extra.insert("llm_request".into(), r);
        }
        extra.insert("llm_response".into(), resp);
        step.extra = Some(extra);
        let ids: Vec<String> = calls.iter().map(|c| c.tool_call_id.clone()).collect();
        step.tool_calls = (!calls.is_empty()).then_some(calls);
        let idx = self.push(e, step);
        for id in ids {
            self.call_step.insert(id, idx);
        }
        self.current = Some(idx);
    }

    /// The call id of a tool scope; makes sure some agent step requests it.
    fn resolve_call(&mut self, e: &Event) -> String {
        if let Some(id) = self.tool_call_of.get(&e.uuid) {
            return id.clone();
        }
        let explicit = e
            .category_profile
            .as_ref()
            .and_then(|p| p.get("tool_call_id"))
            .and_then(Json::as_str)
            .map(str::to_owned);
        let arguments = payload::normalize_arguments(e.data.as_deref().unwrap_or(&Json::Null));
        let id = explicit
            .or_else(|| self.unclaimed_call_named(&e.name, &arguments))
            .unwrap_or_else(|| e.uuid.to_string());
        self.claimed.insert(id.clone());
        self.tool_call_of.insert(e.uuid, id.clone());
        if !self.call_step.contains_key(&id) {
            let call = ToolCall {
                tool_call_id: id.clone(),
                function_name: e.name.to_string(),
                arguments,
                extra: None,
            };
            let idx = match self.current {
                Some(i) => i,
                None => {
                    // A tool run without a model asking for it: a
                    // deterministic dispatch step carries the call.
                    let mut step = Step::new(Source::Agent, "");
                    step.llm_call_count = Some(0);
                    let i = self.push(e, step);
                    self.current = Some(i);
                    i
                }
            };
            self.steps[idx]
                .tool_calls
                .get_or_insert_with(Vec::new)
                .push(call);
            self.call_step.insert(id.clone(), idx);
        }
        id
    }

    /// A requested call named `name` that no tool has claimed yet: the one
    /// asked with `arguments` on the current agent step, else on an earlier
    /// one (concurrent branches of an agent interleave their steps: a tool
    /// may run after another branch's model answered), else the first of
    /// the name on the current step. Only a call asked with the very
    /// arguments is taken from an earlier step: by name alone, a call the
    /// agent chose not to run would take a later run's result.
    fn unclaimed_call_named(&self, name: &str, arguments: &Json) -> Option<String> {
        let current = self.current?;
        // Newest first. Bounded, so that a long trajectory stays linear.
        let from = current.saturating_sub(LOOK_BACK);
        self.unclaimed(from..=current, name)
            .find(|c| c.arguments == *arguments)
            .or_else(|| self.unclaimed(current..=current, name).next())
            .map(|c| c.tool_call_id.clone())
    }

    /// The calls named `name` no tool has claimed, on `steps`: the newest
    /// step first, a step's calls in the model's order.
    fn unclaimed<'s>(
        &'s self,
        steps: std::ops::RangeInclusive<usize>,
        name: &'s str,
    ) -> impl Iterator<Item = &'s ToolCall> + 's {
        self.steps[steps]
            .iter()
            .rev()
            .filter_map(|s| s.tool_calls.as_ref())
            .flatten()
            .filter(move |c| c.function_name == name && !self.claimed.contains(&c.tool_call_id))
    }

    fn tool_end(&mut self, e: &Event) {
        let id = self.resolve_call(e);
        let mut extra = Extra::new();
        extra.insert("event_uuid".into(), json!(e.uuid.to_string()));
        extra.insert("event_name".into(), json!(&*e.name));
        let content = if failed(e) {
            extra.extend(error_extra(e));
            format!("error: {}", error_message(e))
        } else {
            extra.insert("status".into(), json!("ok"));
            match e.data.as_ref() {
                Some(d) => match d.value() {
                    Json::String(s) => s.clone(),
                    other => {
                        extra.insert("tool_result".into(), other.clone());
                        d.text().to_owned()
                    }
                },
                None => String::new(),
            }
        };
        if let Some(a) = e
            .category_profile
            .as_ref()
            .and_then(|p| p.get("tool_result_annotation"))
        {
            extra.insert("tool_result_annotation".into(), a.clone());
        }
        self.answer(&id, content, extra, None);
    }

    /// Record the result of call `id` on the step that requested it; merges
    /// into an existing result for that call (a subagent reference).
    fn answer(&mut self, id: &str, content: String, extra: Extra, sub: Option<SubagentRef>) {
        let Some(&idx) = self.call_step.get(id) else {
            return;
        };
        let results = &mut self.steps[idx]
            .observation
            .get_or_insert_with(Observation::default)
            .results;
        let pos = results
            .iter()
            .position(|r| r.source_call_id.as_deref() == Some(id));
        let r = match pos {
            Some(i) => &mut results[i],
            None => {
                results.push(ObservationResult {
                    source_call_id: Some(id.to_owned()),
                    ..Default::default()
                });
                results.last_mut().expect("just pushed")
            }
        };
        if !content.is_empty() || r.content.is_none() {
            r.content = Some(content);
        }
        if !extra.is_empty() {
            r.extra.get_or_insert_with(Extra::new).extend(extra);
        }
        if let Some(s) = sub {
            r.subagent_trajectory_ref
                .get_or_insert_with(Vec::new)
                .push(s);
        }
    }

    fn rejection(&mut self, e: &Event) {
        let data = e.data.as_ref();
        let reason = data
            .and_then(|d| d.get("rejection_reason"))
            .and_then(Json::as_str)
            .unwrap_or("rejected");
        let guardrail = data
            .and_then(|d| d.get("guardrail"))
            .and_then(Json::as_str)
            .unwrap_or("guardrail");
        let text = format!("rejected by guardrail '{guardrail}': {reason}");
        let mut extra = Extra::new();
        extra.insert("status".into(), json!("rejected"));
        extra.insert("guardrail".into(), json!(guardrail));
        extra.insert("rejection_reason".into(), json!(reason));
        extra.insert("event_uuid".into(), json!(e.uuid.to_string()));
        // The call id when the caller gave one; else the mark carries no
        // arguments to match, so the first unclaimed call of the name.
        let explicit = e
            .category_profile
            .as_ref()
            .and_then(|p| p.get("tool_call_id"))
            .and_then(Json::as_str)
            .filter(|id| self.call_step.contains_key(*id))
            .map(str::to_owned);
        // A refused LLM call answers no tool call.
        let llm = data.and_then(|d| d.get("kind")).and_then(Json::as_str)
            == Some("llm_conditional_execution");
        let matched = match llm {
            true => None,
            false => explicit.or_else(|| self.unclaimed_call_named(&e.name, &Json::Null)),
        };
        match matched {
            Some(id) => {
                self.claimed.insert(id.clone());
                self.answer(&id, text, extra, None);
            }
            None => {
                let call = if llm { "LLM call" } else { "tool call" };
                let mut step = Step::new(Source::System, format!("{call} '{}' {text}", e.name));
                step.extra = Some(extra);
                self.push(e, step);
            }
        }
    }

    fn subagent(&mut self, e: &Event) {
        let session = e.metadata_str("session_id").unwrap_or(self.session_id);
        let sub = self.p.trajectory(Some(e.uuid), session);
        let reference = SubagentRef {
            trajectory_id: e.uuid.to_string(),
            session_id: Some(session.to_owned()),
            extra: Some(Extra::from_iter([("name".to_owned(), json!(&*e.name))])),
        };
        self.subagents.push(sub);
        // Delegated from a tool: the reference sits on that call's result.
        let delegating = e
            .parent_uuid
            .and_then(|p| self.p.scopes.get(&p))
            .filter(|p| p.category == Some(ScopeType::Tool))
            .copied();
        if let Some(tool) = delegating {
            let id = self.resolve_call(tool);
            self.answer(&id, String::new(), Extra::new(), Some(reference));
            return;
        }
        // Otherwise a deterministic step hands the work over.
        let id = format!("subagent:{}", e.uuid);
        let mut step = Step::new(Source::Agent, "");
        step.llm_call_count = Some(0);
        step.tool_calls = Some(vec![ToolCall {
            tool_call_id: id.clone(),
            function_name: e.name.to_string(),
            arguments: payload::normalize_arguments(e.data.as_deref().unwrap_or(&Json::Null)),
            extra: None,
        }]);
        let idx = self.push(e, step);
        self.call_step.insert(id.clone(), idx);
        self.answer(&id, String::new(), Extra::new(), Some(reference));
    }

    fn finish(mut self) -> Trajectory {
        if self.steps.is_empty() {
            // The RFC asks for at least one step; say plainly that none ran.
            let mut step = Step::new(Source::System, "");
            step.extra = Some(Extra::from_iter([(
                "note".to_owned(),
                json!("no LLM or tool activity was recorded"),
            )]));
            self.steps.push(step);
        }
        for (i, s) in self.steps.iter_mut().enumerate() {
            s.step_id = i as u64 + 1;
        }
        let model_name = self.steps.iter().find_map(|s| s.model_name.clone());
        Trajectory {
            schema_version: SCHEMA_VERSION.to_owned(),
            agent: Agent {
                name: String::new(),
                version: self
                    .p
                    .config
                    .agent_version
                    .clone()
                    .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
                model_name,
                tool_definitions: self.tool_definitions,
                extra: None,
            },
            final_metrics: Some(FinalMetrics::of(&self.steps)),
            steps: self.steps,
            subagent_trajectories: self.subagents,
            ..Default::default()
        }
    }
}

/// How many agent steps before the current one a tool's call is looked
/// for (see `unclaimed_call_named`).
const LOOK_BACK: usize = 64;

/// A guardrail's rejection mark (the call never started).
fn is_rejection(e: &Event) -> bool {
    e.is_mark()
        && e.category == Some(ScopeType::Guardrail)
        && e.data.as_ref().and_then(|d| d.get("rejected")) == Some(&Json::Bool(true))
}

fn failed(e: &Event) -> bool {
    e.metadata_str("otel.status_code") == Some("ERROR")
}

fn error_message(e: &Event) -> String {
    e.metadata_str("otel.status_description")
        .unwrap_or("unknown error")
        .to_owned()
}

fn error_extra(e: &Event) -> Extra {
    let mut extra = Extra::new();
    extra.insert("status".into(), json!("error"));
    extra.insert(
        "error".into(),
        json!({"type": e.metadata_str("error.type").unwrap_or("_OTHER"), "message": error_message(e)}),
    );
    extra
}

fn metrics_of(resp: &Json, profile: Option<&Json>) -> Metrics {
    let u = payload::usage(resp, profile);
    let cached = match (u.cache_read, u.cache_write) {
        (None, None) => None,
        (r, w) => Some(r.unwrap_or(0) + w.unwrap_or(0)),
    };
    let mut extra = Extra::new();
    if let Some(t) = u.total {
        extra.insert("total_tokens".into(), json!(t));
    }
    if let Some(r) = u.reasoning {
        extra.insert("reasoning_tokens".into(), json!(r));
    }
    Metrics {
        prompt_tokens: u.input,
        completion_tokens: u.output,
        cached_tokens: cached,
        cost_usd: u.cost_usd,
        extra: (!extra.is_empty()).then_some(extra),
    }
}

/// ISO 8601 with microseconds (`…:56.123456Z`): the precision every
/// consumer's date parser accepts (Python's `fromisoformat` among them).
pub(crate) fn iso(t: Timestamp) -> String {
    let s = t.to_string(); // YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ
    format!("{}Z", &s[..26])
}

fn epoch_secs(t: Timestamp) -> f64 {
    t.unix_nanos() as f64 / 1e9
}
