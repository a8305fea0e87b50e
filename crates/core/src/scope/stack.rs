//! [`ScopeStack`]: a persistent (structure-sharing) stack of open scopes.
//!
//! Frames form an immutable parent-linked list: pushing allocates one frame
//! that points at the old top, popping moves the top pointer back. Because
//! frames are never mutated in place (except their scope-local registrations,
//! which sit behind an atomic pointer), a fork is O(1): the new stack simply
//! starts at the same top frame. Frames at or below a stack's *base* depth
//! belong to whoever forked it and cannot be popped through the fork.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{RelayError, Result};
use crate::id::{uuid_v7, Uuid};
use crate::registry::Registrations;
use crate::scope::handle::HandleData;
use crate::scope::{Attributes, ScopeHandle, ScopeType};
use crate::time::Timestamp;

static NEXT_STACK_ID: AtomicU64 = AtomicU64::new(1);

/// Number of frames, process-wide, that currently own scope-local
/// registrations. While it is zero, collecting scope-local middleware for a
/// call is skipped entirely (the common case costs one atomic load).
pub(crate) static FRAMES_WITH_LOCALS: AtomicU32 = AtomicU32::new(0);

/// One open scope on a stack.
pub(crate) struct Frame {
    pub(crate) handle: ScopeHandle,
    pub(crate) parent: Option<Arc<Frame>>,
    depth: usize,
    /// Scope-local registrations owned by this scope (copy-on-write: the
    /// lock is held only to swap or clone the pointer). A plain mutex rather
    /// than an atomic pointer: frames are created and dropped on every
    /// managed call, and an `ArcSwapOption` costs ~250 instructions to drop.
    locals: Mutex<Option<Arc<Registrations>>>,
}

impl Frame {
    pub(crate) fn locals(&self) -> Option<Arc<Registrations>> {
        self.locals.lock().clone()
    }

    /// Replace this frame's registrations (writers are serialized by the
    /// runtime's registration lock). Returns the replaced value so the caller
    /// can drop it outside that lock.
    #[must_use = "drop the displaced registrations outside any lock"]
    pub(crate) fn set_locals(
        &self,
        regs: Option<Arc<Registrations>>,
    ) -> Option<Arc<Registrations>> {
        let has = regs.is_some();
        let old = std::mem::replace(&mut *self.locals.lock(), regs);
        let had = old.is_some();
        match (had, has) {
            (false, true) => {
                FRAMES_WITH_LOCALS.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                FRAMES_WITH_LOCALS.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
        old
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if self.locals.get_mut().is_some() {
            FRAMES_WITH_LOCALS.fetch_sub(1, Ordering::AcqRel);
        }
        // Unlink the parent chain in a loop. Left to the compiler, dropping
        // the last reference to a deep chain recurses once per frame, and a
        // program that leaks a few hundred thousand unended scopes would
        // overflow the thread's stack (a crash, not an error) when the stack
        // is finally dropped. Each frame we own outright is emptied of its
        // parent before it drops, so no drop below this one recurses; at the
        // first frame someone else still holds, `into_inner` just releases
        // our reference and the walk stops. In the common case (a pop, the
        // parent still on a stack) this costs one atomic decrement.
        let mut next = self.parent.take();
        while let Some(frame) = next {
            next = Arc::into_inner(frame).and_then(|mut owned| owned.parent.take());
        }
    }
}

struct State {
    top: Arc<Frame>,
    /// Frames with `depth <= base` are not owned by this stack.
    base: usize,
}

struct Inner {
    id: u64,
    state: Mutex<State>,
}

/// A stack of open scopes. `Clone` shares the same stack.
#[derive(Clone)]
pub struct ScopeStack(Arc<Inner>);

impl ScopeStack {
    /// A new stack holding only its implicit root (an agent scope named
    /// `root` that never emits events; top-level scopes name it as parent).
    pub fn new() -> Self {
        let id = NEXT_STACK_ID.fetch_add(1, Ordering::Relaxed);
        let root = ScopeHandle(Arc::new(HandleData {
            uuid: uuid_v7(),
            parent_uuid: None,
            name: crate::name::Name::from_static("root"),
            scope_type: ScopeType::Agent,
            attributes: Attributes::NONE,
            started_at: Timestamp::now(),
            data: None,
            metadata: None,
            tool_call_id: None,
            model_name: None,
            stack_id: id,
            ended: Default::default(),
            binding_tag: Default::default(),
        }));
        Self::from_top(Self::frame(root, None), 0)
    }

    fn from_top(top: Arc<Frame>, base: usize) -> Self {
        ScopeStack(Arc::new(Inner {
            id: NEXT_STACK_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State { top, base }),
        }))
    }

    fn frame(handle: ScopeHandle, parent: Option<Arc<Frame>>) -> Arc<Frame> {
        let depth = parent.as_ref().map_or(0, |p| p.depth + 1);
        Arc::new(Frame {
            handle,
            parent,
            depth,
            locals: Mutex::new(None),
        })
    }

    /// Process-unique id of this stack.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The innermost open scope (the implicit root if none is open).
    pub fn top(&self) -> ScopeHandle {
        self.0.state.lock().top.handle.clone()
    }

    /// Uuid of the innermost open scope.
    pub fn top_uuid(&self) -> Uuid {
        self.0.state.lock().top.handle.uuid()
    }

    /// Uuid of the implicit root shared by this stack and its forks.
    pub fn root_uuid(&self) -> Uuid {
        let mut f = self.0.state.lock().top.clone();
        while let Some(p) = f.parent.clone() {
            f = p;
        }
        f.handle.uuid()
    }

    /// Number of open scopes above the implicit root.
    pub fn depth(&self) -> usize {
        self.0.state.lock().top.depth
    }

    /// Open scopes from the root (excluded) to the top.
    pub fn scopes(&self) -> Vec<ScopeHandle> {
        let mut out = Vec::new();
        let mut f = Some(self.0.state.lock().top.clone());
        while let Some(frame) = f {
            if frame.parent.is_some() {
                out.push(frame.handle.clone());
            }
            f = frame.parent.clone();
        }
        out.reverse();
        out
    }

    /// A new, independent stack that starts where this one is now.
    ///
    /// The fork sees every scope open at the fork point (parents and their
    /// scope-local registrations) but cannot pop them, and nothing pushed on
    /// either stack afterwards is visible to the other. O(1).
    pub fn fork(&self) -> ScopeStack {
        let st = self.0.state.lock();
        Self::from_top(st.top.clone(), st.top.depth)
    }

    /// Whether something besides this value holds the stack (a running
    /// call, another binding handle): scopes open on it may still be ended
    /// there, so a holder letting go must leave them be.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// The open scopes this stack owns (pushed on it, not inherited from
    /// the stack it was forked from), innermost first.
    pub fn owned_scopes(&self) -> Vec<ScopeHandle> {
        let st = self.0.state.lock();
        let mut out = Vec::new();
        let mut frame = Some(st.top.clone());
        while let Some(f) = frame.filter(|f| f.depth > st.base) {
            out.push(f.handle.clone());
            frame = f.parent.clone();
        }
        out
    }

    /// A fork that starts at the open scope `at` of this stack (at its
    /// base, the frame it was forked or built on, when `None`) rather than
    /// at its top: for work that began when that scope was the top and
    /// must not be parented to what was pushed since (a timer a finished
    /// callback left behind, say). A plain [`fork`](Self::fork) when `at`
    /// is no longer on this stack. O(depth).
    pub fn fork_at(&self, at: Option<Uuid>) -> ScopeStack {
        let st = self.0.state.lock();
        let mut frame = Some(st.top.clone());
        while let Some(f) = frame {
            let found = match at {
                Some(uuid) => f.handle.uuid() == uuid,
                None => f.depth <= st.base,
            };
            if found {
                let depth = f.depth;
                return Self::from_top(f, depth);
            }
            frame = f.parent.clone();
        }
        Self::from_top(st.top.clone(), st.top.depth)
    }

    /// The current top frame (for building a child stack later).
    pub(crate) fn top_frame(&self) -> Arc<Frame> {
        self.0.state.lock().top.clone()
    }

    /// A stack whose top is `handle` above `parent`, used to run a managed
    /// call's callback "inside" the call without pushing it on the caller's
    /// stack. Its frames cannot be popped through it.
    pub(crate) fn child_of(parent: Arc<Frame>, handle: ScopeHandle) -> ScopeStack {
        let frame = Self::frame(handle, Some(parent));
        let base = frame.depth;
        Self::from_top(frame, base)
    }

    /// [`child_of`](Self::child_of) this stack's current top.
    pub(crate) fn child(&self, handle: ScopeHandle) -> ScopeStack {
        Self::child_of(self.top_frame(), handle)
    }

    /// Start a scope on this stack. Returns the handle and the frame.
    pub(crate) fn push(&self, mut data: HandleData, explicit_parent: Option<Uuid>) -> ScopeHandle {
        let mut st = self.0.state.lock();
        data.parent_uuid = Some(explicit_parent.unwrap_or(st.top.handle.uuid()));
        data.stack_id = self.0.id;
        let handle = ScopeHandle(Arc::new(data));
        st.top = Self::frame(handle.clone(), Some(st.top.clone()));
        handle
    }

    /// Remove `handle`, which must be the top scope owned by this stack.
    /// Returns the scope-local registrations it owned (for the end event's
    /// snapshot). On error nothing changes.
    pub(crate) fn pop(&self, handle: &ScopeHandle) -> Result<Option<Arc<Registrations>>> {
        let mut st = self.0.state.lock();
        let top = st.top.clone();
        if top.handle.uuid() == handle.uuid() {
            if top.parent.is_none() {
                return Err(RelayError::RootScope);
            }
            if top.depth <= st.base || handle.0.stack_id != self.0.id {
                return Err(RelayError::ForeignScope(handle.name().to_owned()));
            }
            st.top = top.parent.clone().expect("non-root frame has a parent");
            drop(st);
            top.handle.0.ended.store(true, Ordering::Release);
            return Ok(top.set_locals(None));
        }
        // Not on top: explain precisely what is wrong.
        let mut f = top.parent.clone();
        while let Some(frame) = f {
            if frame.handle.uuid() == handle.uuid() {
                if frame.parent.is_none() {
                    return Err(RelayError::RootScope);
                }
                if frame.depth <= st.base {
                    return Err(RelayError::ForeignScope(handle.name().to_owned()));
                }
                return Err(RelayError::ScopeNotOnTop {
                    name: handle.name().to_owned(),
                    top: top.handle.name().to_owned(),
                });
            }
            f = frame.parent.clone();
        }
        if handle.0.stack_id != self.0.id {
            return Err(RelayError::ForeignScope(handle.name().to_owned()));
        }
        Err(RelayError::NotFound(format!(
            "scope '{}' is not open on this stack (already popped?)",
            handle.name()
        )))
    }

    /// The visible frame whose scope is `uuid` (any depth, root included).
    pub(crate) fn find_frame(&self, uuid: Uuid) -> Option<Arc<Frame>> {
        let mut f = Some(self.0.state.lock().top.clone());
        while let Some(frame) = f {
            if frame.handle.uuid() == uuid {
                return Some(frame);
            }
            f = frame.parent.clone();
        }
        None
    }

    /// Top uuid plus scope-local registrations visible from the top, ordered
    /// root → top. Empty (no allocation) when no frame anywhere has locals.
    pub(crate) fn snapshot(&self) -> (Uuid, Vec<Arc<Registrations>>) {
        if FRAMES_WITH_LOCALS.load(Ordering::Acquire) == 0 {
            // Only the top's uuid is needed: no reference to the frame.
            return (self.0.state.lock().top.handle.uuid(), Vec::new());
        }
        let top = self.0.state.lock().top.clone();
        let uuid = top.handle.uuid();
        let mut out = Vec::new();
        let mut f = Some(top);
        while let Some(frame) = f {
            if let Some(l) = frame.locals() {
                out.push(l);
            }
            f = frame.parent.clone();
        }
        out.reverse();
        (uuid, out)
    }
}

impl Default for ScopeStack {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ScopeStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeStack")
            .field("id", &self.0.id)
            .field("depth", &self.depth())
            .finish()
    }
}
