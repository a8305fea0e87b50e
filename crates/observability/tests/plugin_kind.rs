//! The `observability` plugin kind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use nemo_relay_core::executor::{block_on, poll_once};
use nemo_relay_core::plugin::{Level, PluginConfig, PluginHost};
use nemo_relay_core::{CallOptions, Family, Runtime, ScopeOptions, ScopeType};
use nemo_relay_observability::plugin::register_kind;
use serde_json::json;

fn host() -> (Runtime, PluginHost) {
    let rt = Runtime::new();
    let host = PluginHost::new(rt.clone());
    register_kind(&host).unwrap();
    (rt, host)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nemo-relay-obs-plugin-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn doc(config: serde_json::Value, policy: &str) -> PluginConfig {
    PluginConfig::from_json(&json!({
        "components": [{"kind": "observability", "config": config}],
        "policy": {"unknown_field": policy}
    }))
}

#[test]
fn the_documented_short_form_validates_cleanly() {
    let (_, host) = host();
    let report = host.validate(&doc(
        json!({
            "atof": {"path": "relay-output/events.jsonl"},
            "atif": {"dir": "relay-output/trajectories"},
            "otlp": {"endpoint": "http://127.0.0.1:4318", "protocol": "http/json", "headers": {"x-k": "v"}, "mode": "openinference"}
        }),
        "error",
    ));
    assert_eq!(report.diagnostics, vec![]);
}

#[test]
fn unknown_fields_follow_the_policy_and_bad_values_are_errors_with_their_path() {
    let (_, host) = host();
    let cfg = json!({"atof": {"path": "e.jsonl", "colour": "blue"}});
    assert!(host
        .validate(&doc(cfg.clone(), "ignore"))
        .diagnostics
        .is_empty());
    let warn = host.validate(&doc(cfg.clone(), "warn"));
    assert_eq!(warn.diagnostics[0].level, Level::Warning);
    assert_eq!(
        warn.diagnostics[0].field.as_deref(),
        Some("config.atof.colour")
    );
    assert!(host.validate(&doc(cfg, "error")).has_errors());

    let bad = host.validate(&doc(json!({"otlp": {"mode": "zipkin"}}), "warn"));
    let d = &bad.diagnostics[0];
    assert_eq!(
        (d.level, d.code.as_str()),
        (Level::Error, "observability.invalid_config")
    );
    assert_eq!(d.field.as_deref(), Some("config.otlp.mode"), "as written");
    let dir = host.validate(&doc(json!({"atif": {"dir": 5}}), "warn"));
    assert_eq!(dir.diagnostics[0].field.as_deref(), Some("config.atif.dir"));
}

#[test]
fn a_short_form_beside_the_field_it_stands_for_is_an_error_not_a_silent_choice() {
    let (_, host) = host();
    for (cfg, field) in [
        (
            json!({"atof": {"path": "a/e.jsonl", "output_directory": "b"}}),
            "config.atof.path",
        ),
        (
            json!({"atof": {"path": "a/e.jsonl", "filename": "f.jsonl"}}),
            "config.atof.path",
        ),
        (
            json!({"atif": {"dir": "a", "output_directory": "b"}}),
            "config.atif.dir",
        ),
    ] {
        let report = host.validate(&doc(cfg.clone(), "warn"));
        assert!(report.has_errors(), "{cfg}");
        assert_eq!(report.diagnostics[0].field.as_deref(), Some(field), "{cfg}");
        assert!(report.diagnostics[0].message.contains("not both"), "{cfg}");
    }
}

#[test]
fn every_bad_section_is_reported_not_only_the_first() {
    let (_, host) = host();
    let cfg = json!({
        "atof": {"rotation": {"max_bytes": 0}},
        "atif": {"filename_template": "fixed.json"},
        "otlp": {"mode": "zipkin", "colour": "blue"}
    });
    let report = host.validate(&doc(cfg, "warn"));
    // Sections in name order; each section's own findings in its order.
    let fields: Vec<_> = report
        .diagnostics
        .iter()
        .map(|d| (d.level, d.field.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        fields,
        vec![
            (Level::Error, "config.atif.filename_template"),
            (Level::Error, "config.atof.rotation.max_bytes"),
            (Level::Warning, "config.otlp.colour"),
            (Level::Error, "config.otlp.mode"),
        ]
    );
}

#[test]
fn an_activated_component_writes_atof_and_atif_files_and_clear_flushes_them() {
    let (rt, host) = host();
    let dir = tmp("files");
    let report = host
        .initialize(&doc(
            json!({
                "atof": {"path": dir.join("events.jsonl").to_str().unwrap()},
                "atif": {"dir": dir.join("atif").to_str().unwrap()}
            }),
            "error",
        ))
        .unwrap();
    assert_eq!(
        report.components[0].registrations,
        vec![
            ("subscriber".to_string(), "observability#1/atof".to_string()),
            ("subscriber".to_string(), "observability#1/atif".to_string()),
        ]
    );
    let agent = rt
        .push_scope("agent", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    block_on(rt.tool_call(
        "search",
        json!({"q": "x"}),
        CallOptions::default(),
        |_| async { Ok(json!({"hits": 1})) },
    ))
    .unwrap();
    rt.pop_scope(&agent, Default::default()).unwrap();
    assert!(host.clear().unwrap());
    assert!(rt.registrations(Family::Subscriber).is_empty());

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<(&str, &str)> = lines
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["scope_category"].as_str().unwrap_or("mark"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("agent", "start"),
            ("search", "start"),
            ("search", "end"),
            ("agent", "end")
        ]
    );
    let atif: Vec<_> = std::fs::read_dir(dir.join("atif")).unwrap().collect();
    assert_eq!(atif.len(), 1, "one trajectory per root agent scope");
    let traj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(atif[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    assert_eq!(traj["schema_version"], "ATIF-v1.7");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn re_initializing_with_an_unchanged_section_keeps_its_exporter_and_an_open_trajectory_whole() {
    let (rt, host) = host();
    let dir = tmp("reinit");
    let config = |deny: &str| {
        PluginConfig::from_json(&json!({
            "components": [
                {"kind": "observability", "config": {
                    "atof": {"path": dir.join("events.jsonl").to_str().unwrap()},
                    "atif": {"dir": dir.join("atif").to_str().unwrap()}}},
                {"kind": "policy", "config": {"deny": [deny]}}
            ]
        }))
    };
    let tool = |name: &str| {
        block_on(
            rt.tool_call(name, json!({}), CallOptions::default(), |_| async {
                Ok(json!(1))
            }),
        )
        .unwrap();
    };
    host.initialize(&config("rm")).unwrap();
    let agent = rt
        .push_scope("agent", ScopeType::Agent, ScopeOptions::default())
        .unwrap();
    tool("before");
    // Another component changes mid-run; the exporters' sections do not.
    host.initialize(&config("mv")).unwrap();
    tool("after");
    rt.pop_scope(&agent, Default::default()).unwrap();
    assert!(host.clear().unwrap());

    let atof = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let names: Vec<String> = atof
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].to_string())
        .collect();
    assert_eq!(
        names,
        ["agent", "before", "before", "after", "after", "agent"].map(|n| format!("\"{n}\"")),
        "the overwrite-mode file was not truncated, nor any event written twice"
    );
    let files: Vec<_> = std::fs::read_dir(dir.join("atif")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let traj = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(traj.contains("before") && traj.contains("after"), "{traj}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_call_running_across_a_re_initialize_ends_in_the_exporter_that_replaced_its_own() {
    let (rt, host) = host();
    let dir = tmp("handoff");
    let atof = |file: &str| {
        doc(
            json!({"atof": {"path": dir.join(file).to_str().unwrap()}}),
            "error",
        )
    };
    host.initialize(&atof("before.jsonl")).unwrap();
    let finish = Arc::new(AtomicBool::new(false));
    let f = finish.clone();
    let mut call = Box::pin(
        rt.tool_call("slow", json!({}), CallOptions::default(), move |_| {
            let f = f.clone();
            std::future::poll_fn(move |_| match f.load(Ordering::SeqCst) {
                true => Poll::Ready(Ok(json!("done"))),
                false => Poll::Pending,
            })
        }),
    );
    assert!(poll_once(call.as_mut()).is_pending(), "the call is running");
    // The section changes while the call runs: its exporter is replaced.
    host.initialize(&atof("after.jsonl")).unwrap();
    finish.store(true, Ordering::SeqCst);
    block_on(call).unwrap();
    assert!(host.clear().unwrap());

    let events = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|e| {
                format!(
                    "{}:{}",
                    e["scope_category"].as_str().unwrap(),
                    e["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(events("before.jsonl"), ["start:slow"]);
    assert_eq!(
        events("after.jsonl"),
        ["end:slow"],
        "the end event is not lost"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_components_with_the_same_section_get_an_exporter_each_and_every_event_once_in_each() {
    let (rt, host) = host();
    let dir = tmp("twins");
    let section = json!({"atof": {"output_directory": dir.to_str().unwrap()}});
    host.initialize(&PluginConfig::from_json(&json!({
        "components": [
            {"kind": "observability", "config": section},
            {"kind": "observability", "config": section}
        ]
    })))
    .unwrap();
    rt.mark("m", Default::default()).unwrap();
    assert!(host.clear().unwrap());
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 2);
    for f in files {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn re_initializing_replaces_an_atof_exporter_whose_writes_failed() {
    let (rt, host) = host();
    let dir = tmp("recover");
    let config = PluginConfig::from_json(&json!({"components": [{"kind": "observability",
        "config": {"atof": {"path": dir.join("e.jsonl").to_str().unwrap(),
                            "rotation": {"max_bytes": 100}}}}]}));
    host.initialize(&config).unwrap();
    rt.mark("first", Default::default()).unwrap();
    // Gone: the next segment cannot be made (the new exporter makes it
    // again).
    std::fs::remove_dir_all(&dir).unwrap();
    rt.mark("lost", Default::default()).unwrap();
    rt.flush().unwrap();
    host.initialize(&config).unwrap();
    rt.mark("after", Default::default()).unwrap();
    assert!(host.clear().unwrap());
    let text = std::fs::read_to_string(dir.join("e.jsonl")).unwrap();
    assert!(text.contains("after"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failing_exporter_leaves_the_runtime_untouched() {
    let (rt, host) = host();
    let file = tmp("blocked");
    std::fs::write(&file, "not a directory").unwrap();
    let err = host
        .initialize(&doc(
            json!({"atof": {"path": file.join("events.jsonl").to_str().unwrap()}}),
            "error",
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("components[0] (observability)"),
        "{err}"
    );
    assert!(rt.registrations(Family::Subscriber).is_empty());
    std::fs::remove_file(file).unwrap();
}
