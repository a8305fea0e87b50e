//! ATIF exporter: agent trajectories (Harbor RFC 0001, `ATIF-v1.7`).
//!
//! Where ATOF keeps every event, ATIF tells the story of one agent run as a
//! conversation: user, agent and system *steps*, the tool calls each agent
//! step requested and their results, token usage, and nested agents as
//! embedded subagent trajectories. [`project`] has the event → step rules.
//!
//! # Life cycle (what the C ABI maps onto)
//!
//! ```text
//!  AtifExporter::new(config)   nemo_relay_atif_exporter_create
//!  .register(&runtime)         nemo_relay_atif_exporter_register
//!  .export() -> String         nemo_relay_atif_exporter_export
//!  .clear()                    nemo_relay_atif_exporter_clear
//!  drop                        nemo_relay_atif_exporter_free
//! ```
//!
//! The subscriber buffers the events a trajectory needs (scope events and
//! guardrail rejections; every mark too with `include_raw_events`).
//! [`AtifExporter::export`] flushes the runtime and projects the buffer.
//! With `output_directory` set, a *root* agent scope — one with no agent
//! above it — is also written to `<dir>/<session_id>.json` when its end
//! event is delivered, and its events are released from the buffer; events
//! outside every agent scope are not buffered at all then (no file would
//! hold them), so a long-running process does not grow.
//!
//! The file is written in `on_batch_end`, on the dispatcher thread: it
//! happens once per session (not per event), and it means that once
//! `runtime.flush()` returns the file is complete on disk, with no second
//! flush to remember. It is written to a temporary name and renamed, so a
//! reader never sees half a document.

mod config;
pub mod model;
mod project;

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use nemo_relay_core::{Event, Json, Runtime, ScopePhase, ScopeType, Subscriber, Uuid};

pub use config::AtifConfig;
pub use model::Trajectory;

use crate::attach::Attachments;
use crate::ExportError;
use project::Projector;

/// How many events outside agent scopes a file-writing exporter keeps.
const OUTSIDE_KEPT: usize = 10_000;

/// How many written paths [`AtifExporter::written_files`] remembers.
pub const WRITTEN_KEPT: usize = 10_000;

/// The registration name [`AtifExporter::register`] uses.
pub const DEFAULT_NAME: &str = "nemo_relay.atif";

#[derive(Default)]
struct State {
    events: Vec<Event>,
    /// Scope uuid → (parent uuid, is an agent), for every scope start seen.
    scopes: nemo_relay_core::id::UuidMap<(Option<Uuid>, bool)>,
    /// Root agent scopes that ended since the last batch end.
    ended_roots: Vec<Uuid>,
    /// Writing files: the latest events outside every agent scope this
    /// exporter saw start, each with the unknown scope its ancestry led to
    /// (the stack's implicit root, or an agent that started before the
    /// exporter was registered or cleared). Only such an agent's end looks
    /// here, for its events; bounded, so that the calls a process makes
    /// outside agents cost nothing for long.
    outside: VecDeque<(Uuid, Event)>,
    written: VecDeque<PathBuf>,
    error: Option<String>,
}

impl State {
    /// The first agent scope strictly above `uuid`, if any.
    fn agent_above(&self, uuid: Option<Uuid>) -> Option<Uuid> {
        self.ancestry(uuid).ok()
    }

    /// The first agent scope from `uuid` up (`Ok`), else the first scope
    /// on the way this exporter never saw start (`Err`).
    fn ancestry(&self, uuid: Option<Uuid>) -> Result<Uuid, Option<Uuid>> {
        let mut cur = uuid;
        while let Some(u) = cur {
            let Some((parent, is_agent)) = self.scopes.get(&u) else {
                return Err(Some(u));
            };
            if *is_agent {
                return Ok(u);
            }
            cur = *parent;
        }
        Err(None)
    }

    /// Whether `e` is `root` or lies under it.
    fn in_tree(&self, e: &Event, root: Uuid) -> bool {
        let mut cur = if e.is_mark() {
            e.parent_uuid
        } else {
            Some(e.uuid)
        };
        while let Some(u) = cur {
            if u == root {
                return true;
            }
            cur = self.scopes.get(&u).and_then(|(p, _)| *p);
        }
        false
    }
}

struct Shared {
    config: AtifConfig,
    state: Mutex<State>,
}

impl Shared {
    fn keeps(&self, e: &Event) -> bool {
        !e.is_mark()
            || self.config.include_raw_events
            || (e.category == Some(ScopeType::Guardrail)
                && e.data.as_ref().and_then(|d| d.get("rejected")) == Some(&Json::Bool(true)))
    }

    /// Project root `root`, write its file and release its events.
    fn write_root(&self, st: &mut State, root: Uuid) {
        let Some(dir) = &self.config.output_directory else {
            return;
        };
        let (mut tree, rest): (Vec<Event>, Vec<Event>) = std::mem::take(&mut st.events)
            .into_iter()
            .partition(|e| st.in_tree(e, root));
        st.events = rest;
        // An agent that started before this exporter saw it: its events
        // were taken for outside ones.
        if !st.scopes.contains_key(&root) {
            let (mine, others) = std::mem::take(&mut st.outside)
                .into_iter()
                .partition(|(unknown, _)| *unknown == root);
            st.outside = others;
            tree.extend(mine.into_iter().map(|(_, e)| e));
        }
        let session = root.to_string();
        let trajectory = Projector::new(&tree, &self.config).trajectory(Some(root), &session);
        for e in &tree {
            st.scopes.remove(&e.uuid);
        }
        let name = self.config.template().replace("{session_id}", &session);
        let path = dir.join(name);
        match write_atomically(&path, &trajectory) {
            Ok(()) => {
                // The most recent ones: a process that runs agents for
                // weeks must not keep every path it ever wrote.
                if st.written.len() == WRITTEN_KEPT {
                    st.written.pop_front();
                }
                st.written.push_back(path)
            }
            Err(e) => {
                st.error.get_or_insert(format!("{}: {e}", path.display()));
            }
        }
    }
}

impl Shared {
    /// Write every session it holds, those still open as partial
    /// trajectories (when `output_directory` is set).
    fn write_all(&self) {
        if self.config.output_directory.is_none() {
            return;
        }
        let mut st = self.state.lock();
        let open: Vec<Uuid> = Projector::new(&st.events, &self.config).roots();
        let ended: HashSet<Uuid> = st.ended_roots.drain(..).collect();
        for root in ended.into_iter().chain(open) {
            self.write_root(&mut st, root);
        }
    }
}

impl Subscriber for Shared {
    fn on_event(&self, e: &Event) {
        if !self.keeps(e) {
            return;
        }
        let mut st = self.state.lock();
        let is_agent = e.category == Some(ScopeType::Agent) && e.phase().is_some();
        // Writing files, only events of some root agent's tree are kept:
        // nothing else is ever written, and a long-running process must not
        // hold (and re-sort at every agent's end) the calls it makes
        // outside agents. Their scopes are known while open, so an agent
        // started under one (a request scope, say) still finds its place.
        let outside = match (self.config.output_directory.is_some() && !is_agent)
            .then(|| st.ancestry(e.parent_uuid))
        {
            Some(Err(unknown)) => Some(unknown),
            _ => None,
        };
        match e.phase() {
            Some(ScopePhase::Start) => {
                st.scopes.insert(e.uuid, (e.parent_uuid, is_agent));
            }
            Some(ScopePhase::End) if outside.is_some() => {
                st.scopes.remove(&e.uuid);
            }
            Some(ScopePhase::End)
                if is_agent
                    && self.config.output_directory.is_some()
                    && st.agent_above(e.parent_uuid).is_none() =>
            {
                st.ended_roots.push(e.uuid);
            }
            _ => {}
        }
        match outside {
            None => st.events.push(e.clone()),
            Some(unknown) => {
                if st.outside.len() == OUTSIDE_KEPT {
                    st.outside.pop_front();
                }
                st.outside.push_back((unknown.unwrap_or(e.uuid), e.clone()));
            }
        }
    }

    fn on_batch_end(&self) {
        let mut st = self.state.lock();
        for root in std::mem::take(&mut st.ended_roots) {
            self.write_root(&mut st, root);
        }
    }

    /// The runtime shut down: no event will come, so the sessions still
    /// open are written as they are (a process that exits inside its agent
    /// scope keeps its trajectory so far).
    fn on_shutdown(&self) {
        self.write_all();
    }
}

/// Projects events onto ATIF trajectories. See the [module docs](self).
///
/// ```
/// use nemo_relay_core::{Runtime, ScopeType, ScopeOptions, PopOptions};
/// use nemo_relay_observability::atif::{AtifConfig, AtifExporter};
///
/// let rt = Runtime::new();
/// let atif = AtifExporter::new(AtifConfig::default())?;
/// atif.register(&rt)?;
/// let agent = rt.push_scope("helper", ScopeType::Agent, ScopeOptions::default()).unwrap();
/// rt.pop_scope(&agent, PopOptions::default()).unwrap();
/// let doc: serde_json::Value = serde_json::from_str(&atif.export()?).unwrap();
/// assert_eq!(doc["schema_version"], "ATIF-v1.7");
/// assert_eq!(doc["agent"]["name"], "helper");
/// # Ok::<(), nemo_relay_observability::ExportError>(())
/// ```
pub struct AtifExporter {
    shared: Arc<Shared>,
    attachments: Attachments,
}

impl AtifExporter {
    /// Validate `config` and create the exporter (and its output directory).
    pub fn new(config: AtifConfig) -> Result<Self, ExportError> {
        config.validate()?;
        if let Some(dir) = &config.output_directory {
            std::fs::create_dir_all(dir)?;
        }
        Ok(AtifExporter {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State::default()),
            }),
            attachments: Attachments::default(),
        })
    }

    /// The subscriber to register by hand.
    pub fn subscriber(&self) -> Arc<dyn Subscriber> {
        self.shared.clone()
    }

    /// Register as global subscriber [`DEFAULT_NAME`] on `runtime`.
    pub fn register(&self, runtime: &Runtime) -> Result<(), ExportError> {
        self.register_as(runtime, DEFAULT_NAME)
    }

    /// Register as global subscriber `name` on `runtime`.
    pub fn register_as(&self, runtime: &Runtime, name: &str) -> Result<(), ExportError> {
        self.attachments.attach(runtime, name, self.subscriber())
    }

    /// The trajectory of the configured (or most recent) session as JSON
    /// text, pretty-printed. Flushes the registered runtimes first.
    pub fn export(&self) -> Result<String, ExportError> {
        let t = self.export_trajectory()?;
        serde_json::to_string_pretty(&t).map_err(|e| ExportError::Export(e.to_string()))
    }

    /// [`export`](Self::export) as a JSON value.
    pub fn export_value(&self) -> Result<Json, ExportError> {
        let t = self.export_trajectory()?;
        serde_json::to_value(&t).map_err(|e| ExportError::Export(e.to_string()))
    }

    /// [`export`](Self::export) as the typed document.
    ///
    /// Which events: the root agent scope whose uuid or `session_id`
    /// metadata equals `config.session_id`; else the most recently started
    /// root; else (no agent scope at all) a flat trajectory of everything.
    pub fn export_trajectory(&self) -> Result<Trajectory, ExportError> {
        self.attachments.flush_runtimes();
        let st = self.shared.state.lock();
        if st.events.is_empty() {
            // Writing files, only running agents are kept: say so, or
            // "nothing buffered" reads as events lost.
            let why = if self.shared.config.output_directory.is_some() {
                "no events buffered: with output_directory, a root agent scope's \
                 events are released once its file is written, and events outside \
                 agent scopes are not kept (see the files written)"
            } else {
                "no events buffered"
            };
            return Err(ExportError::Export(why.into()));
        }
        let p = Projector::new(&st.events, &self.shared.config);
        let roots = p.roots();
        let wanted = self.shared.config.session_id.as_deref();
        let chosen = match wanted {
            Some(s) => Some(
                roots
                    .iter()
                    .copied()
                    .find(|r| r.to_string() == s || root_session(&st.events, *r) == Some(s))
                    .ok_or_else(|| ExportError::Export(format!("no session '{s}' buffered")))?,
            ),
            None => roots.last().copied(),
        };
        let session = match chosen {
            Some(r) => r.to_string(),
            None => st.events[0]
                .parent_uuid
                .map_or_else(|| st.events[0].uuid.to_string(), |p| p.to_string()),
        };
        Ok(p.trajectory(chosen, &session))
    }

    /// One trajectory per buffered root agent scope, oldest first.
    pub fn export_all(&self) -> Vec<Trajectory> {
        self.attachments.flush_runtimes();
        let st = self.shared.state.lock();
        let p = Projector::new(&st.events, &self.shared.config);
        p.roots()
            .into_iter()
            .map(|r| p.trajectory(Some(r), &r.to_string()))
            .collect()
    }

    /// Forget every buffered event.
    pub fn clear(&self) {
        let mut st = self.shared.state.lock();
        st.events.clear();
        st.scopes.clear();
        st.ended_roots.clear();
        st.outside.clear();
    }

    /// Files written so far (automatic export), oldest first: the most
    /// recent [`WRITTEN_KEPT`].
    pub fn written_files(&self) -> Vec<PathBuf> {
        self.shared.state.lock().written.iter().cloned().collect()
    }

    /// Deliver pending events (so ended sessions are written) and report the
    /// first write error, if any.
    pub fn flush(&self) -> Result<(), ExportError> {
        self.attachments.flush_runtimes();
        match &self.shared.state.lock().error {
            Some(e) => Err(ExportError::Io(e.clone())),
            None => Ok(()),
        }
    }

    /// Deregister, then write the sessions that are still open (partial
    /// trajectories) when `output_directory` is set. Idempotent.
    pub fn shutdown(&self) -> Result<(), ExportError> {
        self.attachments.detach_all();
        self.shared.write_all();
        self.flush()
    }
}

impl Drop for AtifExporter {
    fn drop(&mut self) {
        self.attachments.detach_all();
    }
}

/// `session_id` metadata of a root scope's start event.
fn root_session(events: &[Event], root: Uuid) -> Option<&str> {
    events
        .iter()
        .find(|e| e.uuid == root)
        .and_then(|e| e.metadata_str("session_id"))
}

fn write_atomically(path: &std::path::Path, t: &Trajectory) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(t).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
