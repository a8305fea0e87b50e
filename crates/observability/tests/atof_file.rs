//! ATOF exporter: every delivered event ends up in the file, in order.

mod support;

use std::sync::{Arc, Mutex};

use nemo_relay_core::{Event, Runtime, Subscriber};
use nemo_relay_observability::atof::{AtofConfig, AtofExporter, FileMode, Rotation};
use serde_json::{json, Value};
use support::{agent_run, read_jsonl, scratch_dir};

/// Records canonical JSON of every event, next to the exporter.
#[derive(Default)]
struct Canon(Mutex<Vec<Value>>);
impl Subscriber for Canon {
    fn on_event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.to_json());
    }
}

fn config(dir: &std::path::Path) -> AtofConfig {
    AtofConfig {
        output_directory: dir.to_owned(),
        filename: "events.jsonl".into(),
        ..Default::default()
    }
}

#[test]
fn every_emitted_event_is_in_the_file_in_delivery_order_after_flush() {
    let dir = scratch_dir("atof-roundtrip");
    let rt = Runtime::new();
    let canon = Arc::new(Canon::default());
    rt.register(nemo_relay_core::Registration::new(
        "canon",
        nemo_relay_core::Middleware::Subscriber(canon.clone()),
    ))
    .unwrap();
    let atof = AtofExporter::new(config(&dir)).unwrap();
    atof.register(&rt).unwrap();

    agent_run(&rt);
    rt.flush().unwrap();
    atof.flush().unwrap();

    let lines = read_jsonl(&atof.files());
    let expected = canon.0.lock().unwrap().clone();
    assert!(
        expected.len() >= 20,
        "the run emits a realistic number of events"
    );
    assert_eq!(lines, expected);
    assert_eq!(atof.stats().events, expected.len() as u64);
    assert_eq!(atof.files(), [dir.join("events.jsonl")]);
}

#[test]
fn exporter_flush_alone_flushes_the_runtime_it_is_registered_with() {
    let dir = scratch_dir("atof-flush-alone");
    let rt = Runtime::new();
    let atof = AtofExporter::new(config(&dir)).unwrap();
    atof.register(&rt).unwrap();
    for i in 0..1000 {
        rt.mark(
            "tick",
            nemo_relay_core::MarkOptions {
                data: Some(json!({"i": i})),
                ..Default::default()
            },
        )
        .unwrap();
    }
    atof.flush().unwrap();
    let lines = read_jsonl(&atof.files());
    let seq: Vec<i64> = lines
        .iter()
        .map(|l| l["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, (0..1000).collect::<Vec<_>>());
}

#[test]
fn rotation_cuts_files_at_line_boundaries_and_keeps_every_record_in_order() {
    let dir = scratch_dir("atof-rotation");
    let rt = Runtime::new();
    let atof = AtofExporter::new(AtofConfig {
        rotation: Some(Rotation {
            max_bytes: 4096,
            max_files: None,
        }),
        ..config(&dir)
    })
    .unwrap();
    atof.register(&rt).unwrap();
    for i in 0..500 {
        rt.mark(
            "tick",
            nemo_relay_core::MarkOptions {
                data: Some(json!({"i": i})),
                ..Default::default()
            },
        )
        .unwrap();
    }
    atof.shutdown().unwrap();

    let files = atof.files();
    assert!(files.len() > 5, "{} files", files.len());
    assert_eq!(files[0], dir.join("events.jsonl"));
    assert_eq!(files[1], dir.join("events.1.jsonl"));
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 4096, "{f:?} has {len} bytes");
        assert!(std::fs::read_to_string(f).unwrap().ends_with('\n'));
    }
    let seq: Vec<i64> = read_jsonl(&files)
        .iter()
        .map(|l| l["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(seq, (0..500).collect::<Vec<_>>());
}

#[test]
fn rotation_with_max_files_deletes_the_oldest_segments() {
    let dir = scratch_dir("atof-max-files");
    let rt = Runtime::new();
    let atof = AtofExporter::new(AtofConfig {
        rotation: Some(Rotation {
            max_bytes: 2048,
            max_files: Some(2),
        }),
        ..config(&dir)
    })
    .unwrap();
    atof.register(&rt).unwrap();
    for i in 0..300 {
        rt.mark(
            "tick",
            nemo_relay_core::MarkOptions {
                data: Some(json!({"i": i})),
                ..Default::default()
            },
        )
        .unwrap();
    }
    atof.shutdown().unwrap();
    let files = atof.files();
    assert_eq!(files.len(), 2);
    let on_disk = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(on_disk, 2);
    let seq: Vec<i64> = read_jsonl(&files)
        .iter()
        .map(|l| l["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(*seq.last().unwrap(), 299, "the newest records survive");
    assert!(seq.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn append_mode_keeps_earlier_records_and_overwrite_mode_truncates() {
    let dir = scratch_dir("atof-modes");
    for _ in 0..2 {
        let rt = Runtime::new();
        let atof = AtofExporter::new(config(&dir)).unwrap();
        atof.register(&rt).unwrap();
        rt.mark("once", Default::default()).unwrap();
        atof.shutdown().unwrap();
    }
    assert_eq!(read_jsonl(&[dir.join("events.jsonl")]).len(), 2);

    let rt = Runtime::new();
    let atof = AtofExporter::new(AtofConfig {
        mode: FileMode::Overwrite,
        ..config(&dir)
    })
    .unwrap();
    atof.register(&rt).unwrap();
    rt.mark("fresh", Default::default()).unwrap();
    atof.shutdown().unwrap();
    let lines = read_jsonl(&[dir.join("events.jsonl")]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "fresh");
}

#[test]
fn overwrite_mode_replaces_the_whole_stream_rotated_segments_included() {
    let dir = scratch_dir("atof-overwrite-segments");
    let rotated = |mode: FileMode, marks: usize| {
        let rt = Runtime::new();
        let atof = AtofExporter::new(AtofConfig {
            mode,
            rotation: Some(Rotation {
                max_bytes: 2048,
                max_files: None,
            }),
            ..config(&dir)
        })
        .unwrap();
        atof.register(&rt).unwrap();
        for _ in 0..marks {
            rt.mark("tick", Default::default()).unwrap();
        }
        atof.shutdown().unwrap();
    };
    rotated(FileMode::Overwrite, 300);
    assert!(std::fs::read_dir(&dir).unwrap().count() > 2);
    rotated(FileMode::Overwrite, 3);
    let on_disk: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    assert_eq!(read_jsonl(&[dir.join("events.jsonl")]).len(), 3);
}

#[test]
fn events_after_shutdown_are_counted_not_written() {
    let dir = scratch_dir("atof-after-shutdown");
    let rt = Runtime::new();
    let atof = AtofExporter::new(config(&dir)).unwrap();
    let sub = atof.subscriber();
    rt.register(nemo_relay_core::Registration::new(
        "manual",
        nemo_relay_core::Middleware::Subscriber(sub),
    ))
    .unwrap();
    rt.mark("before", Default::default()).unwrap();
    rt.flush().unwrap();
    atof.shutdown().unwrap();
    rt.mark("after", Default::default()).unwrap();
    rt.flush().unwrap();
    assert_eq!(read_jsonl(&atof.files()).len(), 1);
    assert_eq!(atof.stats().dropped_after_shutdown, 1);
}

#[test]
fn events_after_a_failed_write_are_counted_as_not_written_and_flush_reports_the_file() {
    let dir = scratch_dir("atof-write-fails");
    let rt = Runtime::new();
    let atof = AtofExporter::new(AtofConfig {
        rotation: Some(Rotation {
            max_bytes: 300,
            max_files: None,
        }),
        ..config(&dir)
    })
    .unwrap();
    atof.register(&rt).unwrap();
    rt.mark("before", Default::default()).unwrap();
    atof.flush().unwrap();
    // The next segment cannot be created.
    std::fs::remove_dir_all(&dir).unwrap();
    for i in 0..20 {
        rt.mark(&format!("after-{i}"), Default::default()).unwrap();
    }
    let err = atof.flush().unwrap_err();
    assert!(err.to_string().contains(&*dir.to_string_lossy()), "{err}");
    let stats = atof.stats();
    assert_eq!(stats.events, 21);
    assert!((19..=20).contains(&stats.not_written), "{stats:?}");
}

#[test]
fn exporters_started_in_the_same_second_with_the_default_name_get_files_of_their_own() {
    let dir = scratch_dir("atof-same-second");
    let generated = || {
        AtofExporter::new(AtofConfig {
            output_directory: dir.clone(),
            ..Default::default()
        })
        .unwrap()
    };
    // Named from the time to the second, so alike unless made unique; the
    // third may start in the next second, and must not match the others
    // either way.
    let (a, b, c) = (generated(), generated(), generated());
    let files: std::collections::BTreeSet<_> = [a.files(), b.files(), c.files()]
        .concat()
        .into_iter()
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    // In overwrite mode the finished files of the same second are not
    // truncated, even when rotation has removed the first segment.
    let overwrite = || {
        AtofExporter::new(AtofConfig {
            output_directory: dir.clone(),
            mode: FileMode::Overwrite,
            rotation: Some(Rotation {
                max_bytes: 300,
                max_files: Some(2),
            }),
            ..Default::default()
        })
        .unwrap()
    };
    let write_six = |atof: &AtofExporter| {
        let rt = Runtime::new();
        atof.register(&rt).unwrap();
        for i in 0..6 {
            rt.mark(&format!("m-{i}"), Default::default()).unwrap();
        }
        atof.shutdown().unwrap();
    };
    let first = overwrite();
    write_six(&first);
    let kept = read_jsonl(&first.files());
    let second = overwrite();
    write_six(&second);
    assert!(second.files().iter().all(|f| !first.files().contains(f)));
    assert_eq!(read_jsonl(&first.files()), kept);
}

#[test]
fn config_errors_name_the_offending_field() {
    let err = AtofConfig::from_json(json!({"rotation": {"max_bytes": 0}})).unwrap_err();
    assert_eq!(err.path, "rotation.max_bytes");
    let err = AtofConfig::from_json(json!({"mode": "truncate"})).unwrap_err();
    assert_eq!(err.path, "mode");
    let err = AtofConfig::from_json(json!({"filename": "a/b.jsonl"})).unwrap_err();
    assert_eq!(err.path, "filename");
    let err = AtofConfig::from_json(json!({"unknown": 1})).unwrap_err();
    assert!(err.message.contains("unknown"), "{err}");
    // Allocated up front: past the bound it is an error, not an abort.
    let err = AtofConfig::from_json(json!({"max_pending_batches": 1e15 as u64})).unwrap_err();
    assert_eq!(err.path, "max_pending_batches");
    assert!(AtofConfig::from_json(json!({"max_pending_batches": 65536})).is_ok());
    let ok = AtofConfig::from_json(json!({"output_directory": "x", "rotation": {"max_bytes": 10}}))
        .unwrap();
    assert_eq!(
        ok.rotation,
        Some(Rotation {
            max_bytes: 10,
            max_files: None
        })
    );
}

#[test]
fn an_unwritable_directory_is_reported_when_the_exporter_is_created_naming_it() {
    let dir = scratch_dir("atof-unwritable");
    let file = dir.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = AtofExporter::new(AtofConfig {
        output_directory: file.clone(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, nemo_relay_observability::ExportError::Io(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
}

#[test]
fn two_shutdowns_at_once_both_wait_until_every_earlier_event_is_written() {
    for round in 0..5 {
        let dir = scratch_dir(&format!("atof-double-shutdown-{round}"));
        let rt = Runtime::new();
        let atof = Arc::new(AtofExporter::new(config(&dir)).unwrap());
        atof.register(&rt).unwrap();
        for i in 0..5_000 {
            rt.mark(&format!("m{i}"), Default::default()).unwrap();
        }
        let both: Vec<_> = (0..2)
            .map(|_| {
                let atof = atof.clone();
                std::thread::spawn(move || atof.shutdown())
            })
            .collect();
        for t in both {
            t.join().unwrap().unwrap();
        }
        let dropped = rt.stats().dispatcher.dropped_full;
        assert_eq!(atof.stats().dropped_after_shutdown, 0, "round {round}");
        assert_eq!(
            read_jsonl(&atof.files()).len() as u64 + dropped,
            5_000,
            "round {round}"
        );
    }
}

#[test]
fn a_shut_down_exporter_cannot_register_again_and_one_runtime_takes_an_exporter_once() {
    let dir = scratch_dir("atof-register-rules");
    let rt = Runtime::new();
    let atof = AtofExporter::new(config(&dir)).unwrap();
    atof.register_as(&rt, "first").unwrap();
    let twice = atof.register_as(&rt, "second").unwrap_err();
    assert!(
        matches!(&twice, nemo_relay_observability::ExportError::Register(e) if e.code().as_str() == "already_exists"),
        "{twice}"
    );
    // Another runtime is another audience.
    atof.register_as(&Runtime::new(), "first").unwrap();
    atof.shutdown().unwrap();
    assert!(matches!(
        atof.register_as(&rt, "third"),
        Err(nemo_relay_observability::ExportError::ShutDown)
    ));
    assert!(rt
        .registrations(nemo_relay_core::Family::Subscriber)
        .is_empty());
}

#[test]
fn an_exporter_someone_unsubscribed_can_register_again_and_its_shutdown_spares_a_newer_namesake() {
    use nemo_relay_core::{Family, Middleware, Registration};
    let dir = scratch_dir("atof-unsubscribed");
    let rt = Runtime::new();
    let atof = AtofExporter::new(config(&dir)).unwrap();
    atof.register_as(&rt, "trace").unwrap();
    // The application removes it by name, registers another subscriber
    // under that name, and later registers the exporter again elsewhere.
    assert!(rt.deregister(Family::Subscriber, "trace"));
    let newer = Arc::new(Canon::default());
    rt.register(Registration::new(
        "trace",
        Middleware::Subscriber(newer.clone()),
    ))
    .unwrap();
    atof.register_as(&rt, "trace-again").unwrap();

    atof.shutdown().unwrap();
    rt.mark("after", Default::default()).unwrap();
    rt.flush().unwrap();
    assert_eq!(
        rt.registrations(Family::Subscriber),
        [Arc::from("trace")],
        "the exporter's shutdown removed only its own registration"
    );
    assert_eq!(
        newer.0.lock().unwrap().len(),
        1,
        "the newer subscriber still gets events"
    );
}

#[test]
fn a_subscriber_that_flushes_the_exporter_while_it_shuts_down_does_not_deadlock() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = scratch_dir("atof-flush-in-subscriber");
    let rt = Runtime::new();
    let atof = Arc::new(AtofExporter::new(config(&dir)).unwrap());
    atof.register(&rt).unwrap();
    // Another subscriber, on the same dispatcher thread, flushes the
    // exporter for every event (as an application's checkpointing might).
    let weak = Arc::downgrade(&atof);
    rt.register(nemo_relay_core::Registration::new(
        "checkpoint",
        nemo_relay_core::Middleware::Subscriber(nemo_relay_core::subscriber_fn(move |_| {
            if let Some(atof) = weak.upgrade() {
                let _ = atof.flush();
            }
        })),
    ))
    .unwrap();
    for i in 0..200 {
        rt.mark(&format!("m{i}"), Default::default()).unwrap();
    }
    let (done, finished) = mpsc::channel();
    let shutting = atof.clone();
    std::thread::spawn(move || {
        let _ = shutting.shutdown();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(20)).is_ok(),
        "shutdown and the flushing subscriber deadlocked"
    );
}
