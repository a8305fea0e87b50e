//! Test helpers: a subscriber that records what it receives.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use nemo_relay_core::{Event, Json, Middleware, Registration, Runtime, ScopePhase, Subscriber};

/// Records every delivered event.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
    batches: Mutex<usize>,
}

impl Subscriber for Recorder {
    fn on_event(&self, event: &Event) {
        self.events.lock().unwrap().push(event.clone());
    }
    fn on_batch_end(&self) {
        *self.batches.lock().unwrap() += 1;
    }
}

impl Recorder {
    /// A runtime with a recorder registered as global subscriber `rec`.
    pub fn install(rt: &Runtime) -> Arc<Recorder> {
        let rec = Arc::new(Recorder::default());
        rt.register(Registration::new(
            "rec",
            Middleware::Subscriber(rec.clone()),
        ))
        .unwrap();
        rec
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn batches(&self) -> usize {
        *self.batches.lock().unwrap()
    }

    /// `"start:name"`, `"end:name"`, `"mark:name"` in delivery order.
    pub fn trace(&self) -> Vec<String> {
        self.events().iter().map(describe).collect()
    }

    pub fn find(&self, name: &str, phase: Option<ScopePhase>) -> Event {
        self.events()
            .into_iter()
            .find(|e| &*e.name == name && e.phase() == phase)
            .unwrap_or_else(|| panic!("no event {name} {phase:?} in {:?}", self.trace()))
    }
}

pub fn describe(e: &Event) -> String {
    match e.phase() {
        Some(ScopePhase::Start) => format!("start:{}", e.name),
        Some(ScopePhase::End) => format!("end:{}", e.name),
        None => format!("mark:{}", e.name),
    }
}

pub fn status(e: &Event) -> Option<String> {
    e.metadata_str("otel.status_code").map(str::to_owned)
}

pub fn data(e: &Event) -> Json {
    e.data.as_ref().map_or(Json::Null, |d| d.to_value())
}
