//! Turning scope start/end pairs into finished spans.
//!
//! Runs on the dispatcher thread. A start event opens a span (its ids and
//! parent are fixed then); the end event closes it, and only then is the
//! OTLP `Span` built — spans are immutable once exported, so there is
//! nothing to send earlier. Marks become span events on their parent span
//! while it is open; a mark whose parent is not open becomes a zero-length
//! span of its own (`mark:<name>`) so it is not lost.
//!
//! Parentage: a scope whose parent is an open (or recently closed) span is
//! its child in the same trace. A scope whose parent we never saw — a
//! top-level scope, whose parent is its stack's implicit root — starts a
//! new trace whose id is its own uuid.

use std::collections::VecDeque;

use nemo_relay_core::id::UuidMap;
use nemo_relay_core::{Event, ScopePhase, ScopeType, Uuid};
use opentelemetry_proto::tonic::trace::v1::span::{Event as SpanEvent, SpanKind};
use opentelemetry_proto::tonic::trace::v1::Span;

use super::attrs::{span_id, trace_id, Attrs};
use super::config::Resolved;
use super::project::{project, Context};
use super::semconv::relay;

/// How many closed spans are remembered for late children and marks.
const CLOSED_CAPACITY: usize = 4096;

/// Where a span sits: enough to parent children to it.
#[derive(Clone)]
struct Place {
    trace_id: [u8; 16],
    /// Session of the trace (root `session_id` metadata, else root uuid).
    session: std::sync::Arc<str>,
}

struct Open {
    place: Place,
    parent_span_id: Option<[u8; 8]>,
    start: Event,
    events: Vec<SpanEvent>,
}

/// Open spans plus a bounded memory of closed ones.
pub(crate) struct Tracker {
    cfg: Resolved,
    open: UuidMap<Open>,
    closed: UuidMap<Place>,
    closed_order: VecDeque<Uuid>,
}

impl Tracker {
    pub(crate) fn new(cfg: Resolved) -> Self {
        Tracker {
            cfg,
            open: UuidMap::default(),
            closed: UuidMap::default(),
            closed_order: VecDeque::new(),
        }
    }

    /// Feed one event; returns a span when one finished.
    pub(crate) fn on_event(&mut self, e: &Event) -> Option<Span> {
        match e.phase() {
            Some(ScopePhase::Start) => {
                let (place, parent_span_id) = self.place_under(e);
                self.open.insert(
                    e.uuid,
                    Open {
                        place,
                        parent_span_id,
                        start: self.kept_start(e),
                        events: Vec::new(),
                    },
                );
                None
            }
            Some(ScopePhase::End) => Some(self.close(e)),
            None => self.mark(e),
        }
    }

    /// The start event as the span's projection will read it, which is
    /// only its timestamp and payload (see `project.rs`): the payload only
    /// when it can reach the span (captured inputs, or an LLM or embedder
    /// request's model and parameters). An open span otherwise kept a deep
    /// copy of every tool call's arguments, made and freed on the
    /// dispatcher thread, for nothing.
    fn kept_start(&self, e: &Event) -> Event {
        let needs_data = self.cfg.capture_inputs
            || matches!(e.category, Some(ScopeType::Llm | ScopeType::Embedder));
        Event {
            kind: e.kind,
            uuid: e.uuid,
            parent_uuid: e.parent_uuid,
            timestamp: e.timestamp,
            name: e.name.clone(),
            category: e.category,
            category_profile: None,
            data: if needs_data { e.data.clone() } else { None },
            data_schema: None,
            metadata: None,
            status: None,
        }
    }

    /// Trace placement of a new span whose parent is `e.parent_uuid`.
    fn place_under(&self, e: &Event) -> (Place, Option<[u8; 8]>) {
        let parent = e.parent_uuid;
        let known = parent.and_then(|p| {
            self.open
                .get(&p)
                .map(|o| o.place.clone())
                .or_else(|| self.closed.get(&p).cloned())
        });
        match known {
            Some(place) => (place, parent.map(|p| span_id(&p))),
            None => {
                let session = e
                    .metadata_str("session_id")
                    .map_or_else(|| e.uuid.to_string(), str::to_owned);
                (
                    Place {
                        trace_id: trace_id(&e.uuid),
                        session: session.into(),
                    },
                    None,
                )
            }
        }
    }

    fn close(&mut self, end: &Event) -> Span {
        let (place, parent_span_id, start, mut events) = match self.open.remove(&end.uuid) {
            Some(o) => (o.place, o.parent_span_id, Some(o.start), o.events),
            None => {
                // Registered mid-scope: we never saw the start.
                let (place, parent) = self.place_under(end);
                (place, parent, None, Vec::new())
            }
        };
        let ctx = Context {
            session: &place.session,
        };
        let mut p = project(start.as_ref(), end, &self.cfg, &ctx);
        events.append(&mut p.events);
        let start_ns = start.as_ref().map_or(end.timestamp, |s| s.timestamp);
        let span = Span {
            trace_id: place.trace_id.to_vec(),
            span_id: span_id(&end.uuid).to_vec(),
            parent_span_id: parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            name: p.name,
            kind: p.kind as i32,
            start_time_unix_nano: nanos(start_ns),
            end_time_unix_nano: nanos(end.timestamp),
            attributes: p.attrs.0,
            events,
            status: p.status,
            ..Default::default()
        };
        self.remember(end.uuid, place);
        span
    }

    fn remember(&mut self, uuid: Uuid, place: Place) {
        if self.closed.insert(uuid, place).is_none() {
            self.closed_order.push_back(uuid);
        }
        while self.closed_order.len() > CLOSED_CAPACITY {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }

    fn mark(&mut self, e: &Event) -> Option<Span> {
        if self.cfg.excluded_marks.iter().any(|m| **m == *e.name) {
            return None;
        }
        let mut a = Attrs::default();
        a.str(&format!("{}.uuid", relay::MARK_PREFIX), e.uuid.to_string());
        if let Some(c) = e.category {
            a.str(&format!("{}.category", relay::MARK_PREFIX), c.as_str());
        }
        if self.cfg.capture_inputs {
            if let Some(d) = &e.data {
                a.payload(&format!("{}.data", relay::MARK_PREFIX), d);
            }
        }
        if e.category == Some(ScopeType::Guardrail) {
            // Rejection reasons are policy outcomes, not user content.
            if let Some(r) = e.data.as_ref().and_then(|d| d.get("rejection_reason")) {
                a.json(&format!("{}.rejection_reason", relay::MARK_PREFIX), r);
            }
        }
        let event = SpanEvent {
            time_unix_nano: nanos(e.timestamp),
            name: e.name.to_string(),
            attributes: a.0,
            dropped_attributes_count: 0,
        };
        if let Some(open) = e.parent_uuid.and_then(|p| self.open.get_mut(&p)) {
            open.events.push(event);
            return None;
        }
        let (place, parent) = self.place_under(e);
        Some(Span {
            trace_id: place.trace_id.to_vec(),
            span_id: span_id(&e.uuid).to_vec(),
            parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: format!("mark:{}", e.name),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: nanos(e.timestamp),
            end_time_unix_nano: nanos(e.timestamp),
            events: vec![event],
            ..Default::default()
        })
    }
}

fn nanos(t: nemo_relay_core::Timestamp) -> u64 {
    t.unix_nanos().max(0) as u64
}
