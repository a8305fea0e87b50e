//! [`ScopeHandle`]: an opened scope, tool call or LLM call.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::event::Json;
use crate::id::Uuid;
use crate::scope::{Attributes, ScopeType};
use crate::time::Timestamp;

/// An opened scope. Cloning is cheap (shared).
///
/// The same handle type serves plain scopes, tool calls and LLM calls: a tool
/// handle is a scope of type [`ScopeType::Tool`] that also carries its
/// `tool_call_id`, an LLM handle carries its `model_name`.
#[derive(Clone)]
pub struct ScopeHandle(pub(crate) Arc<HandleData>);

pub(crate) struct HandleData {
    pub(crate) uuid: Uuid,
    pub(crate) parent_uuid: Option<Uuid>,
    pub(crate) name: crate::name::Name,
    pub(crate) scope_type: ScopeType,
    pub(crate) attributes: Attributes,
    pub(crate) started_at: Timestamp,
    /// Application data kept on the handle (never emitted).
    pub(crate) data: Option<Json>,
    /// Emitted on start; the base that end metadata is merged over.
    pub(crate) metadata: Option<Json>,
    pub(crate) tool_call_id: Option<Arc<str>>,
    pub(crate) model_name: Option<Arc<str>>,
    /// Id of the stack this scope was pushed on (0 = never pushed: manual or
    /// managed calls, or an implicit root).
    pub(crate) stack_id: u64,
    /// Set when the scope ends: popped from its stack, or (a call started
    /// by hand) by the first `call_end` / `call_failed`, so that such a
    /// call emits exactly one end event however often it is ended.
    pub(crate) ended: AtomicBool,
    /// See [`ScopeHandle::binding_tag`].
    pub(crate) binding_tag: AtomicU64,
}

impl ScopeHandle {
    /// Unique id (UUID v7); start and end events share it.
    pub fn uuid(&self) -> Uuid {
        self.0.uuid
    }
    /// Parent scope id (`None` only for an implicit root).
    pub fn parent_uuid(&self) -> Option<Uuid> {
        self.0.parent_uuid
    }
    /// Name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Scope type (category).
    pub fn scope_type(&self) -> ScopeType {
        self.0.scope_type
    }
    /// Attribute flags.
    pub fn attributes(&self) -> Attributes {
        self.0.attributes
    }
    /// When the scope started.
    pub fn started_at(&self) -> Timestamp {
        self.0.started_at
    }
    /// Application data attached at open time (not emitted).
    pub fn data(&self) -> Option<&Json> {
        self.0.data.as_ref()
    }
    /// Metadata emitted with the start event.
    pub fn metadata(&self) -> Option<&Json> {
        self.0.metadata.as_ref()
    }
    /// Tool call id, for tool handles.
    pub fn tool_call_id(&self) -> Option<&str> {
        self.0.tool_call_id.as_deref()
    }
    /// Model name, for LLM handles.
    pub fn model_name(&self) -> Option<&str> {
        self.0.model_name.as_deref()
    }

    /// Whether the scope has ended: popped, or (a manually started call)
    /// ended. Every clone of a handle agrees, whichever of them ended it.
    pub fn is_ended(&self) -> bool {
        self.0.ended.load(Ordering::Acquire)
    }

    /// A number a binding attached to this scope (0: none), shared by every
    /// clone of the handle. A binding that keeps its own record of a scope
    /// (the Node addon keeps pushed scopes in a table, by id) tags the
    /// scope with the record's key, so that it finds the record in O(1)
    /// from any handle to the scope, such as the stack's top.
    pub fn binding_tag(&self) -> u64 {
        self.0.binding_tag.load(Ordering::Relaxed)
    }

    /// Attach `tag` (see [`binding_tag`](Self::binding_tag)).
    pub fn set_binding_tag(&self, tag: u64) {
        self.0.binding_tag.store(tag, Ordering::Relaxed);
    }

    /// Claim the one end of a manually ended call: true for the first
    /// caller only.
    pub(crate) fn claim_end(&self) -> bool {
        !self.0.ended.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn name_ref(&self) -> crate::name::Name {
        self.0.name.clone()
    }
}

impl std::fmt::Debug for ScopeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeHandle")
            .field("uuid", &self.0.uuid)
            .field("name", &self.0.name)
            .field("type", &self.0.scope_type)
            .field("parent", &self.0.parent_uuid)
            .finish()
    }
}

impl PartialEq for ScopeHandle {
    fn eq(&self, other: &Self) -> bool {
        self.0.uuid == other.0.uuid
    }
}
impl Eq for ScopeHandle {}
