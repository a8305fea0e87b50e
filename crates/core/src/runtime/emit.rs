//! Building and enqueueing events.

use std::sync::Arc;

use crate::dispatch::audience::Audience;
use crate::event::{Event, EventKind, Json, Payload, ScopePhase, Status};
use crate::id::{uuid_v7_at, Uuid};
use crate::registry::Registrations;
use crate::runtime::Runtime;
use crate::scope::{ScopeHandle, ScopeType};
use crate::time::Timestamp;

impl Runtime {
    /// The subscribers an event emitted now, with these scope-local
    /// registrations visible, goes to; `None` when there are none.
    pub(crate) fn subscribers_for(&self, locals: &[Arc<Registrations>]) -> Option<Audience> {
        Self::subscribers_in(&self.inner.global.load(), locals)
    }

    /// [`subscribers_for`](Self::subscribers_for) with the global
    /// registrations already read.
    pub(crate) fn subscribers_in(
        global: &Registrations,
        locals: &[Arc<Registrations>],
    ) -> Option<Audience> {
        let local_count: usize = locals.iter().map(|l| l.subscriber_set.len()).sum();
        if local_count == 0 {
            return match &global.pinned {
                Some(p) => Some(Audience::Pinned(p.clone())),
                None => (!global.subscriber_set.is_empty())
                    .then(|| Audience::Owned(global.subscriber_set.clone())),
            };
        }
        // In priority order across levels, as middleware chains are: each
        // registry is sorted already, and a stable sort keeps global before
        // scope-local, outer before inner, at equal priority.
        let mut all: Vec<_> = std::iter::once(global)
            .chain(locals.iter().map(|l| &**l))
            .flat_map(|level| level.subscribers.entries())
            .collect();
        all.sort_by_key(|e| e.priority);
        Some(Audience::Owned(
            all.into_iter()
                .map(|e| e.callback.clone())
                .collect::<Vec<_>>()
                .into(),
        ))
    }

    /// Enqueue the event `make` builds for the subscribers visible with
    /// these scope-local registrations; `false` (and nothing built) when
    /// there are none. Unlike [`subscribers_for`](Self::subscribers_for)
    /// plus [`enqueue`](Self::enqueue), the usual case takes no reference
    /// to the global set: the registrations read here keep it alive until
    /// the event is in the queue, which is all a pinned set needs (see
    /// `dispatch/audience.rs`). For one-shot events (marks).
    pub(crate) fn enqueue_visible(
        &self,
        locals: &[Arc<Registrations>],
        make: impl FnOnce() -> Event,
    ) -> bool {
        if locals.iter().all(|l| l.subscriber_set.is_empty()) {
            let global = self.inner.global.load();
            if let Some(pinned) = &global.pinned {
                debug_assert!(
                    pinned.dispatcher().is(&self.inner.dispatcher),
                    "a pinned subscriber set travels only through its own dispatcher"
                );
                self.inner
                    .dispatcher
                    .enqueue_queued(make(), || pinned.queued());
                return true;
            }
        }
        match self.subscribers_for(locals) {
            Some(subs) => {
                self.enqueue(make(), &subs);
                true
            }
            None => false,
        }
    }

    pub(crate) fn enqueue(&self, event: Event, audience: &Audience) {
        self.inner.dispatcher.enqueue_to(event, audience);
    }

    /// Emit the start or end event of a scope-like handle.
    #[allow(clippy::too_many_arguments)] // internal: the event's fields
    pub(crate) fn emit_scope(
        &self,
        subs: &Audience,
        handle: &ScopeHandle,
        phase: ScopePhase,
        timestamp: Timestamp,
        data: Option<Payload>,
        metadata: Option<Json>,
        status: Option<Status>,
    ) {
        let event = Event {
            kind: EventKind::Scope {
                phase,
                attributes: handle.attributes(),
            },
            uuid: handle.uuid(),
            parent_uuid: handle.parent_uuid(),
            timestamp,
            name: handle.name_ref(),
            category: Some(handle.scope_type()),
            category_profile: profile(handle),
            data,
            data_schema: None,
            metadata,
            status,
        };
        self.enqueue(event, subs);
    }

    /// Emit a mark.
    #[allow(clippy::too_many_arguments)] // internal: one call per mark kind
    pub(crate) fn emit_mark(
        &self,
        subs: &Audience,
        name: crate::name::Name,
        parent: Uuid,
        timestamp: Timestamp,
        category: Option<ScopeType>,
        category_profile: Option<Json>,
        data: Option<Payload>,
        metadata: Option<Json>,
    ) {
        let event = Event {
            kind: EventKind::Mark,
            uuid: uuid_v7_at(timestamp.unix_millis()),
            parent_uuid: Some(parent),
            timestamp,
            name,
            category,
            category_profile,
            data,
            data_schema: None,
            metadata,
            status: None,
        };
        self.enqueue(event, subs);
    }
}

/// `category_profile` of a handle: `{}` for tools/LLMs (plus `tool_call_id`
/// / `model_name` when known), `null` for plain scopes.
pub(crate) fn profile(handle: &ScopeHandle) -> Option<Json> {
    match handle.scope_type() {
        ScopeType::Tool | ScopeType::Llm => {
            let mut m = serde_json::Map::new();
            if let Some(id) = handle.tool_call_id() {
                m.insert("tool_call_id".into(), Json::String(id.to_owned()));
            }
            if let Some(model) = handle.model_name() {
                m.insert("model_name".into(), Json::String(model.to_owned()));
            }
            Some(Json::Object(m))
        }
        _ => None,
    }
}
