//! Scope push/pop and marks.

use crate::error::{RelayError, Result};
use crate::event::{merge_metadata, DataSchema, Event, EventKind, Json, Payload, ScopePhase};
use crate::id::{uuid_v7, uuid_v7_at, Uuid};
use crate::runtime::Runtime;
use crate::scope::{Attributes, ScopeHandle, ScopeStack, ScopeType};
use crate::time::Timestamp;

/// Options of [`Runtime::push_scope`]. Every field defaults to "none".
#[derive(Clone, Debug, Default)]
pub struct ScopeOptions {
    /// Stack to push on (default: [`ScopeStack::current`]).
    pub stack: Option<ScopeStack>,
    /// Record this parent instead of the stack's top (the scope is still
    /// pushed on the stack).
    pub parent: Option<Uuid>,
    /// Attribute flags.
    pub attributes: Attributes,
    /// Input, emitted as the start event's `data`.
    pub input: Option<Json>,
    /// Application data kept on the handle, never emitted.
    pub data: Option<Json>,
    /// Metadata emitted on start; end metadata is merged over it.
    pub metadata: Option<Json>,
    /// Explicit start time (default: now).
    pub timestamp: Option<Timestamp>,
}

/// Options of [`Runtime::pop_scope`].
#[derive(Clone, Debug, Default)]
pub struct PopOptions {
    /// Stack the scope is on (default: [`ScopeStack::current`]).
    pub stack: Option<ScopeStack>,
    /// Output, emitted as the end event's `data`.
    pub output: Option<Json>,
    /// Metadata shallow-merged over the start metadata.
    pub metadata: Option<Json>,
    /// Explicit end time (default: now, and always after the start).
    pub timestamp: Option<Timestamp>,
}

/// Options of [`Runtime::mark`].
#[derive(Clone, Debug, Default)]
pub struct MarkOptions {
    /// Stack whose top is the parent (default: [`ScopeStack::current`]).
    pub stack: Option<ScopeStack>,
    /// Explicit parent scope.
    pub parent: Option<Uuid>,
    /// Payload.
    pub data: Option<Json>,
    /// Schema tag of the payload.
    pub data_schema: Option<DataSchema>,
    /// Metadata.
    pub metadata: Option<Json>,
    /// Optional category.
    pub category: Option<ScopeType>,
    /// Optional category profile (an object).
    pub category_profile: Option<Json>,
    /// Explicit time (default: now).
    pub timestamp: Option<Timestamp>,
}

pub(crate) fn check_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty() {
        return Err(RelayError::invalid(format!(
            "{what} name must not be empty"
        )));
    }
    Ok(())
}

pub(crate) fn check_object(v: &Option<Json>, what: &str) -> Result<()> {
    match v {
        None | Some(Json::Object(_)) => Ok(()),
        Some(_) => Err(RelayError::invalid(format!("{what} must be a JSON object"))),
    }
}

impl Runtime {
    /// Open a scope on the current (or given) stack and emit its start event.
    pub fn push_scope(
        &self,
        name: &str,
        scope_type: ScopeType,
        opts: ScopeOptions,
    ) -> Result<ScopeHandle> {
        check_name(name, "scope")?;
        check_object(&opts.metadata, "scope metadata")?;
        let stack = opts.stack.unwrap_or_else(ScopeStack::current);
        let started_at = opts.timestamp.unwrap_or_else(Timestamp::now);
        let handle = stack.push(
            crate::scope::handle::HandleData {
                uuid: mint(opts.timestamp.is_some(), started_at),
                parent_uuid: None,
                name: crate::name::Name::new(name),
                scope_type,
                attributes: opts.attributes,
                started_at,
                data: opts.data,
                metadata: opts.metadata,
                tool_call_id: None,
                model_name: None,
                stack_id: 0,
                ended: Default::default(),
                binding_tag: Default::default(),
            },
            opts.parent,
        );
        if self.has_listeners() {
            let (_, locals) = stack.snapshot();
            if let Some(subs) = self.subscribers_for(&locals) {
                let meta = handle.metadata().cloned();
                self.emit_scope(
                    &subs,
                    &handle,
                    ScopePhase::Start,
                    started_at,
                    opts.input.as_ref().map(Payload::new),
                    meta,
                    None,
                );
            }
        }
        Ok(handle)
    }

    /// Close `handle`, which must be the innermost open scope of the stack,
    /// and emit its end event. Scope-local registrations it owned vanish.
    ///
    /// Errors (nothing changes on error): `scope_not_on_top` if inner scopes
    /// are still open, `not_found` if it was already popped, `foreign_scope`
    /// if it belongs to another stack, `root_scope` for the implicit root.
    pub fn pop_scope(&self, handle: &ScopeHandle, opts: PopOptions) -> Result<()> {
        check_object(&opts.metadata, "scope end metadata")?;
        let stack = opts.stack.unwrap_or_else(ScopeStack::current);
        let own_locals = stack.pop(handle)?;
        if self.has_listeners() {
            // The end event still reaches the popped scope's own subscribers.
            let (_, mut locals) = stack.snapshot();
            locals.extend(own_locals);
            if let Some(subs) = self.subscribers_for(&locals) {
                let ts = opts
                    .timestamp
                    .unwrap_or_else(|| Timestamp::now_after(handle.started_at()));
                let meta = merge_metadata(handle.metadata(), opts.metadata);
                let output = opts.output.as_ref().map(Payload::new);
                self.emit_scope(&subs, handle, ScopePhase::End, ts, output, meta, None);
            }
        }
        Ok(())
    }

    /// Emit a mark (a point-in-time event) under the current scope.
    pub fn mark(&self, name: &str, opts: MarkOptions) -> Result<()> {
        if !self.has_listeners() {
            return Ok(());
        }
        check_name(name, "mark")?;
        check_object(&opts.category_profile, "mark category_profile")?;
        check_object(&opts.metadata, "mark metadata")?;
        let stack = opts.stack.unwrap_or_else(ScopeStack::current);
        let (top, locals) = stack.snapshot();
        let timestamp = opts.timestamp.unwrap_or_else(Timestamp::now);
        self.enqueue_visible(&locals, || Event {
            kind: EventKind::Mark,
            uuid: mint(opts.timestamp.is_some(), timestamp),
            parent_uuid: Some(opts.parent.unwrap_or(top)),
            timestamp,
            name: crate::name::Name::new(name),
            category: opts.category,
            category_profile: opts.category_profile,
            data: opts.data.as_ref().map(Payload::new),
            data_schema: opts.data_schema.map(Box::new),
            metadata: opts.metadata,
            status: None,
        });
        Ok(())
    }

    /// The innermost open scope of the current stack (its implicit root if
    /// none is open).
    pub fn current_scope(&self) -> ScopeHandle {
        ScopeStack::current().top()
    }
}

/// The id of an event at `at`. Ids are minted for the moment they are
/// made (RFC 9562's creation time), not for a timestamp the caller gave:
/// they are strictly increasing per thread, so one far-future timestamp
/// would otherwise drag every later id of this thread to that date.
fn mint(explicit: bool, at: Timestamp) -> Uuid {
    if explicit {
        uuid_v7()
    } else {
        uuid_v7_at(at.unix_millis())
    }
}
