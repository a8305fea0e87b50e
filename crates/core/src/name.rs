//! [`Name`]: the string type of event, scope and call names.
//!
//! Every event carries a name, and the same few names repeat endlessly
//! (`llm.chunk`, `search`, `openai.chat`). How that string is stored decides
//! much of what emitting costs, because events are built on the agent's
//! thread and dropped on the dispatcher thread:
//!
//! * a fresh `String`/`Arc<str>` per event is a malloc on one thread and a
//!   free on another (glibc handles cross-thread frees slowly);
//! * a shared `Arc<str>` avoids the malloc, but its reference count is then
//!   incremented by the producer and decremented by the dispatcher for every
//!   event, and that cache line bounces between the two cores (~100 ns a trip
//!   on the 2-core machines we measure on).
//!
//! So names up to [`MAX_INTERNED_LEN`] bytes are *interned for the life of
//! the process*: the first use of a name copies it into a global table and
//! every later use is a `&'static str`, copied without touching shared
//! memory. A per-thread cache in front of the table makes the repeat lookup a
//! hash and a compare. The table is bounded ([`MAX_INTERNED`] names): a
//! program that invents unbounded names (ids inside names) stops interning
//! once it is full and falls back to reference-counted names, so memory stays
//! bounded either way (at most ~`MAX_INTERNED × MAX_INTERNED_LEN` bytes).

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// Longest name that is interned; longer names are reference-counted.
pub const MAX_INTERNED_LEN: usize = 64;
/// Most distinct names interned per process.
pub const MAX_INTERNED: usize = 8192;

/// An immutable name: a `&'static str` when interned, else an `Arc<str>`.
/// Dereferences to `str`; compares, hashes and serializes as its text.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// The name `text`, interned when possible (see the module docs).
    pub fn new(text: &str) -> Name {
        match intern(text) {
            Some(s) => Name(Repr::Static(s)),
            None => Name(Repr::Shared(Arc::from(text))),
        }
    }

    /// A name backed by a string literal (no table lookup).
    pub const fn from_static(text: &'static str) -> Name {
        Name(Repr::Static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::new(&text)
    }
}

impl From<Arc<str>> for Name {
    fn from(text: Arc<str>) -> Name {
        Name::new(&text)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Per-thread direct-mapped cache in front of the global table.
const SLOTS: usize = 64;

thread_local! {
    static CACHE: RefCell<[Option<&'static str>; SLOTS]> = const { RefCell::new([None; SLOTS]) };
}

static TABLE: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

fn slot(text: &str) -> usize {
    // FNV-1a: cheap, and spreads short names well over 64 slots.
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h as usize % SLOTS
}

/// The interned copy of `text`, or `None` when it is too long or the table
/// is full.
fn intern(text: &str) -> Option<&'static str> {
    if text.len() > MAX_INTERNED_LEN {
        return None;
    }
    let i = slot(text);
    let cached = CACHE
        .try_with(|c| c.borrow()[i].filter(|hit| *hit == text))
        .ok()
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let found = intern_global(text)?;
    // During thread teardown the cache may be gone; the table still answers.
    let _ = CACHE.try_with(|c| c.borrow_mut()[i] = Some(found));
    Some(found)
}

#[cold]
fn intern_global(text: &str) -> Option<&'static str> {
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let table = table.get_or_insert_with(HashSet::new);
    if let Some(hit) = table.get(text) {
        return Some(hit);
    }
    if table.len() >= MAX_INTERNED {
        return None;
    }
    // Leaked on purpose: interned names live as long as the process, which
    // is what lets every later event copy a plain pointer (bounded above).
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    table.insert(leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_share_one_interned_copy() {
        let a = Name::new("search");
        let b = Name::new("search");
        assert!(matches!((&a.0, &b.0), (Repr::Static(x), Repr::Static(y)) if std::ptr::eq(*x, *y)));
        assert_eq!(a, b);
        assert_eq!(&*Name::new("other"), "other");
    }

    #[test]
    fn long_names_are_reference_counted_and_still_equal_by_text() {
        let long = "x".repeat(MAX_INTERNED_LEN + 1);
        let n = Name::new(&long);
        assert!(matches!(n.0, Repr::Shared(_)));
        assert_eq!(n, Name::from(long.as_str()));
        assert_eq!(n.to_string(), long);
    }

    #[test]
    fn names_interned_on_one_thread_are_found_from_another() {
        let here = Name::new("cross-thread-name");
        let there = std::thread::spawn(|| Name::new("cross-thread-name"))
            .join()
            .unwrap();
        assert!(
            matches!((&here.0, &there.0), (Repr::Static(x), Repr::Static(y)) if std::ptr::eq(*x, *y))
        );
    }
}
