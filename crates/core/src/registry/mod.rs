//! Middleware registries: one generic, priority-ordered, copy-on-write
//! registry type serves every family.
//!
//! Registration is rare and calls are hot, so a [`Registry`] is an immutable
//! sorted slice behind an `Arc`: readers clone a pointer (no lock is ever held
//! while middleware runs), writers build a new slice and swap it in.
//!
//! # Ordering
//!
//! Within one registry, entries run by ascending `priority` (lower first,
//! negatives allowed), ties broken by name. When a call merges the global
//! registry with scope-local ones, the rule is:
//!
//! 1. ascending priority;
//! 2. at equal priority, global entries before scope-local ones, and
//!    scope-local entries of outer scopes before those of inner scopes;
//! 3. within one registry, by name.
//!
//! For execution intercepts the first entry is the outermost wrapper.

mod families;

use std::sync::Arc;

use crate::error::{RelayError, Result};

pub use families::{CallRegistries, EntryMeta, Family, Middleware, Registration, Registrations};

/// Who registered a callback: a tag chosen by the code that registers it,
/// [`Origin::UNKNOWN`] unless it says otherwise.
///
/// The core never interprets it. A binding tags what it registers so that,
/// before a call starts, it can ask whether every middleware the call will
/// run is its own (reading [`CallSnapshot::levels`]) and then skip work
/// only it knows to be unneeded — the Node addon passes JS values between
/// JS middleware without converting them to JSON.
///
/// [`CallSnapshot::levels`]: crate::pipeline::CallSnapshot::levels
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin(pub u64);

impl Origin {
    /// Untagged: matches no binding's own origin.
    pub const UNKNOWN: Origin = Origin(0);
}

/// One registered callback.
pub struct Entry<T> {
    /// Registration name (unique within its registry).
    pub name: Arc<str>,
    /// Lower runs first.
    pub priority: i32,
    /// For request intercepts: skip later request intercepts after this one.
    pub break_chain: bool,
    /// Who registered it.
    pub origin: Origin,
    /// Which registration it is (see [`EntryMeta::serial`]).
    pub serial: u64,
    /// The callback.
    pub callback: T,
}

impl<T: Clone> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            name: self.name.clone(),
            priority: self.priority,
            break_chain: self.break_chain,
            origin: self.origin,
            serial: self.serial,
            callback: self.callback.clone(),
        }
    }
}

/// An immutable, sorted set of entries of one family at one level.
pub struct Registry<T> {
    entries: Arc<[Entry<T>]>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Registry {
            entries: self.entries.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&*e.name, e.priority)))
            .finish()
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            entries: Arc::from(Vec::new()),
        }
    }
}

impl<T: Clone> Registry<T> {
    /// Entries in run order.
    pub fn entries(&self) -> &[Entry<T>] {
        &self.entries
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A copy with `entry` added. Duplicate names are an error.
    pub fn with(&self, entry: Entry<T>) -> Result<Self> {
        if self.entries.iter().any(|e| e.name == entry.name) {
            return Err(RelayError::AlreadyExists(format!(
                "a registration named '{}' already exists",
                entry.name
            )));
        }
        let mut v: Vec<Entry<T>> = self.entries.to_vec();
        let at = v
            .iter()
            .position(|e| (e.priority, &*e.name) > (entry.priority, &*entry.name))
            .unwrap_or(v.len());
        v.insert(at, entry);
        Ok(Registry { entries: v.into() })
    }

    /// A copy without the entries tagged `origin`, or `None` if there are
    /// none.
    pub fn without_origin(&self, origin: Origin) -> Option<Self> {
        if !self.entries.iter().any(|e| e.origin == origin) {
            return None;
        }
        let kept: Vec<Entry<T>> = self
            .entries
            .iter()
            .filter(|e| e.origin != origin)
            .cloned()
            .collect();
        Some(Registry {
            entries: kept.into(),
        })
    }

    /// A copy without the entry named `name`, or `None` if there is none.
    pub fn without(&self, name: &str) -> Option<Self> {
        self.without_if(name, |_| true)
    }

    /// [`without`](Self::without), if the entry's serial passes `is`.
    pub fn without_if(&self, name: &str, is: impl Fn(u64) -> bool) -> Option<Self> {
        let at = self
            .entries
            .iter()
            .position(|e| &*e.name == name && is(e.serial))?;
        let mut v: Vec<Entry<T>> = self.entries.to_vec();
        v.remove(at);
        Some(Registry { entries: v.into() })
    }
}

/// A merged, ordered view of one family for one call.
///
/// Borrowing the global slice when there are no scope-local entries keeps the
/// common case allocation-free.
pub enum Chain<T> {
    /// Exactly the global registry.
    Shared(Arc<[Entry<T>]>),
    /// A merge of global and scope-local registries.
    Merged(Vec<Entry<T>>),
}

impl<T> std::ops::Deref for Chain<T> {
    type Target = [Entry<T>];
    fn deref(&self) -> &[Entry<T>] {
        match self {
            Chain::Shared(s) => s,
            Chain::Merged(v) => v,
        }
    }
}

impl<T: Clone> Chain<T> {
    /// Merge `global` with the scope-local registries (outer → inner) picked
    /// out of `locals` by `pick`, following the ordering rule of this module.
    pub fn merge<'a, L: 'a>(
        global: &Registry<T>,
        locals: &'a [Arc<L>],
        pick: impl Fn(&'a L) -> &'a Registry<T>,
    ) -> Self
    where
        T: 'a,
    {
        let mut extra = locals
            .iter()
            .map(|l| pick(l))
            .filter(|r| !r.is_empty())
            .peekable();
        if extra.peek().is_none() {
            return Chain::Shared(global.entries.clone());
        }
        let mut v: Vec<Entry<T>> = global.entries.to_vec();
        for r in extra {
            v.extend(r.entries.iter().cloned());
        }
        // Stable: equal priorities keep "global, then outer → inner, then name".
        v.sort_by_key(|e| e.priority);
        Chain::Merged(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, priority: i32) -> Entry<u8> {
        Entry {
            name: name.into(),
            priority,
            break_chain: false,
            origin: Origin::UNKNOWN,
            serial: 0,
            callback: 0,
        }
    }

    fn names<T>(c: &[Entry<T>]) -> Vec<&str> {
        c.iter().map(|e| &*e.name).collect()
    }

    #[test]
    fn entries_run_by_priority_then_name() {
        let r = Registry::default()
            .with(entry("b", 5))
            .unwrap()
            .with(entry("a", 5))
            .unwrap()
            .with(entry("z", -1))
            .unwrap();
        assert_eq!(names(r.entries()), ["z", "a", "b"]);
    }

    #[test]
    fn duplicate_names_are_rejected_and_leave_the_registry_unchanged() {
        let r = Registry::default().with(entry("a", 1)).unwrap();
        let err = r.with(entry("a", 2)).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::AlreadyExists);
        assert_eq!(r.entries().len(), 1);
    }

    #[test]
    fn removing_reports_whether_anything_was_removed() {
        let r = Registry::default().with(entry("a", 1)).unwrap();
        assert!(r.without("nope").is_none());
        assert!(r.without("a").unwrap().is_empty());
    }

    #[test]
    fn priority_ties_put_global_before_outer_before_inner_scope() {
        let global = Registry::default()
            .with(entry("g", 1))
            .unwrap()
            .with(entry("first", 0))
            .unwrap();
        let outer = Arc::new(Registry::default().with(entry("o", 1)).unwrap());
        let inner = Arc::new(
            Registry::default()
                .with(entry("i", 1))
                .unwrap()
                .with(entry("early", -5))
                .unwrap(),
        );
        let locals = [outer, inner];
        let chain = Chain::merge(&global, &locals, |r| r);
        assert_eq!(names(&chain), ["early", "first", "g", "o", "i"]);
    }

    #[test]
    fn merging_without_scope_local_entries_shares_the_global_slice() {
        let global = Registry::default().with(entry("g", 1)).unwrap();
        let locals: [Arc<Registry<u8>>; 1] = [Arc::new(Registry::default())];
        assert!(matches!(
            Chain::merge(&global, &locals, |r| r),
            Chain::Shared(_)
        ));
    }
}
