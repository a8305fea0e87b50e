//! The canonical (ATOF 0.1) JSON form of events.

mod support;

use nemo_relay_core::event::Layout;
use nemo_relay_core::executor::block_on;
use nemo_relay_core::Json;
use nemo_relay_core::{
    Attributes, CallOptions, DataSchema, MarkOptions, Payload, PopOptions, Runtime, ScopeOptions,
    ScopePhase, ScopeStack, ScopeType,
};
use serde_json::json;
use support::Recorder;

#[test]
fn scope_events_serialize_with_every_envelope_field_in_lexicographic_order() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let stack = ScopeStack::new();
    let h = rt
        .push_scope(
            "planner",
            ScopeType::Agent,
            ScopeOptions {
                stack: Some(stack.clone()),
                attributes: Attributes::RELOCATABLE | Attributes::PARALLEL,
                input: Some(json!({"task": "summarize"})),
                metadata: Some(json!({"session_id": "s-1"})),
                ..Default::default()
            },
        )
        .unwrap();
    rt.pop_scope(
        &h,
        PopOptions {
            stack: Some(stack.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    rt.flush().unwrap();
    let text = rec.events()[0].to_json_string();
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(
        keys,
        [
            "atof_version",
            "attributes",
            "category",
            "category_profile",
            "data",
            "data_schema",
            "kind",
            "metadata",
            "name",
            "parent_uuid",
            "scope_category",
            "timestamp",
            "uuid"
        ]
    );
    // Text order too (serde_json's Map is sorted; check the raw text).
    assert!(text.starts_with("{\"atof_version\":\"0.1\",\"attributes\":[\"parallel\",\"relocatable\"],\"category\":\"agent\""));
    let v = rec.events()[0].to_json();
    assert_eq!(v["kind"], "scope");
    assert_eq!(v["scope_category"], "start");
    assert_eq!(v["category_profile"], json!(null));
    assert_eq!(v["parent_uuid"], json!(stack.root_uuid().to_string()));
    assert_eq!(v["uuid"], json!(h.uuid().to_string()));
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rec.events()[1].to_json()["scope_category"], "end");
}

#[test]
fn marks_have_no_scope_category_or_attributes() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.mark(
        "checkpoint",
        MarkOptions {
            data: Some(json!({"step": 2})),
            data_schema: Some(DataSchema {
                name: "demo.step".into(),
                version: "1".into(),
            }),
            ..Default::default()
        },
    )
    .unwrap();
    rt.flush().unwrap();
    let v = rec.events()[0].to_json();
    let obj = v.as_object().unwrap();
    assert!(!obj.contains_key("scope_category") && !obj.contains_key("attributes"));
    assert_eq!(v["kind"], "mark");
    assert_eq!(v["category"], json!(null));
    assert_eq!(
        v["data_schema"],
        json!({"name": "demo.step", "version": "1"})
    );
    assert!(
        v["parent_uuid"].is_string(),
        "runtime events always have a parent"
    );
}

#[test]
fn tool_events_carry_an_object_category_profile() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    block_on(
        rt.tool_call("t", json!({}), CallOptions::default(), |_| async {
            Ok(json!(null))
        }),
    )
    .unwrap();
    rt.flush().unwrap();
    let start = rec.find("t", Some(ScopePhase::Start)).to_json();
    assert_eq!(start["category"], "tool");
    assert_eq!(start["category_profile"], json!({}));
    assert_eq!(start["attributes"], json!([]));
}

#[test]
fn the_fast_writer_produces_exactly_the_canonical_serialization_for_every_shape() {
    use nemo_relay_core::{ErrorStatus, Event, EventKind, Name, Status, Timestamp, Uuid};
    let tricky = "q\"uo\\te \u{1} tab\t nl\n é 漢 🚀";
    let names = ["m", "llm.chunk", tricky];
    let payloads = [
        None,
        Some(json!(null)),
        Some(json!(1.5)),
        Some(json!({"i": 1, "s": tricky, "a": [1, {"b": false}], "e": {}})),
        Some(json!(tricky)),
    ];
    let metadata = [
        None,
        Some(json!({})),
        Some(json!({"a": 1, "error.type": "mine", "f": [2], "otel.status_code": "x", "z": tricky})),
        Some(json!({"otel.status_description": 3, "zz": null})),
        Some(json!("not an object")),
    ];
    let statuses = [
        None,
        Some(Status::Ok),
        Some(Status::Error(Box::new(ErrorStatus {
            description: format!("failed: {tricky}"),
            error_type: "callback_failed".into(),
            exception_type: Some("IOError".into()),
        }))),
        Some(Status::Error(Box::new(ErrorStatus {
            description: "cancelled".into(),
            error_type: "cancelled".into(),
            exception_type: None,
        }))),
    ];
    let kinds = [
        EventKind::Mark,
        EventKind::Scope {
            phase: ScopePhase::Start,
            attributes: Attributes::NONE,
        },
        EventKind::Scope {
            phase: ScopePhase::End,
            attributes: Attributes::REMOTE | Attributes::STREAMING | Attributes::PARALLEL,
        },
    ];
    let mut checked = 0;
    for (i, kind) in kinds.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            for (k, data) in payloads.iter().enumerate() {
                for (l, meta) in metadata.iter().enumerate() {
                    for (m, status) in statuses.iter().enumerate() {
                        let n = i + j + k + l + m;
                        let event = Event {
                            kind: *kind,
                            uuid: Uuid::from_u128(
                                0x0193_0000_7000_8000_0000_0000_0000_0000 + n as u128,
                            ),
                            parent_uuid: (n % 2 == 0).then(|| Uuid::from_u128(n as u128)),
                            timestamp: Timestamp::from_unix_nanos(
                                1_772_368_496_123_456_789 - (n as i64) * 86_400_000_000_001,
                            ),
                            name: Name::new(name),
                            category: [None, Some(ScopeType::Tool), Some(ScopeType::Custom)][n % 3],
                            category_profile: [
                                None,
                                Some(json!({})),
                                Some(json!({"tool_call_id": tricky})),
                            ][n % 3]
                                .clone(),
                            data: data.as_ref().map(Payload::new),
                            data_schema: (n % 4 == 0).then(|| {
                                Box::new(DataSchema {
                                    name: tricky.into(),
                                    version: "1.0".into(),
                                })
                            }),
                            metadata: meta.clone(),
                            status: status.clone(),
                        };
                        let mut fast = Vec::new();
                        event.write_json(&mut fast);
                        let canonical = serde_json::to_vec(&event).unwrap();
                        // The row layout: the object's values in order,
                        // without atof_version.
                        let mut row = Vec::new();
                        event.write_with(Layout::Row, &mut row);
                        let row: Vec<Json> = serde_json::from_slice(&row).unwrap();
                        let object: serde_json::Map<String, Json> =
                            serde_json::from_slice(&canonical).unwrap();
                        let values: Vec<Json> = object
                            .into_iter()
                            .filter(|(k, _)| k != "atof_version")
                            .map(|(_, v)| v)
                            .collect();
                        assert_eq!(row, values);
                        assert_eq!(row.len(), if i == 0 { 10 } else { 12 });
                        assert_eq!(
                            String::from_utf8(fast).unwrap(),
                            String::from_utf8(canonical).unwrap()
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 3 * 5 * 5 * 4);
    // Pre-epoch timestamps too.
    let mut e = Event {
        kind: EventKind::Mark,
        uuid: Uuid::nil(),
        parent_uuid: None,
        timestamp: Timestamp::from_unix_nanos(-1),
        name: Name::new("old"),
        category: None,
        category_profile: None,
        data: None,
        data_schema: None,
        metadata: None,
        status: None,
    };
    for t in [-1, 0, i64::MIN, i64::MAX] {
        e.timestamp = Timestamp::from_unix_nanos(t);
        assert_eq!(e.to_json_string(), serde_json::to_string(&e).unwrap());
    }
}

#[test]
fn a_failed_calls_status_is_written_into_its_metadata_in_key_order_and_wins_over_caller_keys() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let out = block_on(rt.tool_call(
        "fetch",
        json!({}),
        CallOptions {
            metadata: Some(json!({
                "a": 1,
                "f": 2,
                "otel.status_code": "caller's",
                "z": 3
            })),
            ..Default::default()
        },
        |_| async {
            Err::<serde_json::Value, _>(nemo_relay_core::RelayError::Callback {
                message: "boom".into(),
                exception_type: Some("IOError".into()),
                payload: None,
            })
        },
    ));
    assert!(out.is_err());
    rt.flush().unwrap();
    let end = &rec.events()[1];
    assert_eq!(end.metadata_str("otel.status_code"), Some("ERROR"));
    let text = end.to_json_string();
    let start = text.find("\"metadata\":").unwrap();
    let meta = &text[start..text[start..].find('}').unwrap() + start + 1];
    assert_eq!(
        meta,
        "\"metadata\":{\"a\":1,\"error.type\":\"callback_failed\",\"exception.type\":\"IOError\",\"f\":2,\
         \"otel.status_code\":\"ERROR\",\"otel.status_description\":\"callback failed: IOError: boom\",\"z\":3}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["metadata"],
        end.metadata_json().unwrap()
    );
}
