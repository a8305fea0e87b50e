//! Plugin system: documents, validation, atomic activation, built-in kinds.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::rewrite;
use nemo_relay_core::plugin::{
    ComponentConfig, FnPluginKind, Level, PluginConfig, PluginHost, MAX_DOCUMENT_BYTES,
};
use nemo_relay_core::{
    CallOptions, ErrorCode, Family, Json, LlmRequest, Middleware, Registration, RelayError,
    Runtime, ScopePhase,
};
use serde_json::json;
use support::{data, Recorder};

fn host() -> (Runtime, PluginHost) {
    let rt = Runtime::new();
    (rt.clone(), PluginHost::new(rt))
}

fn doc(v: Json) -> PluginConfig {
    PluginConfig::from_json(&v)
}

fn codes(host: &PluginHost, cfg: &PluginConfig) -> Vec<(Level, String)> {
    host.validate(cfg)
        .diagnostics
        .into_iter()
        .map(|d| (d.level, d.code))
        .collect()
}

/// Every family's registration names, to compare registry states.
fn registry(rt: &Runtime) -> Vec<Vec<Arc<str>>> {
    Family::ALL.iter().map(|f| rt.registrations(*f)).collect()
}

fn headers_component() -> Json {
    json!({"kind": "header-injection", "config": {"headers": {"x-team": "agents"}}})
}

#[test]
fn an_empty_allow_list_allows_no_tool_and_says_so_when_validated() {
    let (rt, host) = host();
    let cfg = doc(json!({"components": [{"kind": "policy", "config": {"allow": []}}]}));
    assert_eq!(
        codes(&host, &cfg),
        [(Level::Warning, "policy.empty_allow".to_owned())]
    );
    host.initialize(&cfg).unwrap();
    let rejected = block_on(rt.tool_call(
        "anything",
        json!({}),
        CallOptions::default(),
        |_| async { Ok(Json::Null) },
    ))
    .unwrap_err();
    assert!(rejected.to_string().contains("allow list"), "{rejected}");
}

#[test]
fn header_injection_refuses_what_is_no_http_header() {
    let (_, host) = host();
    for (name, value) in [
        ("x-ok\r\nx-evil", "v"),
        ("", "v"),
        ("x team", "v"),
        ("x-team", "a\r\nx-evil: 1"),
        ("x-team", "bell\u{7}"),
    ] {
        let cfg = doc(json!({"components": [
            {"kind": "header-injection", "config": {"headers": {name: value}}}
        ]}));
        assert_eq!(
            codes(&host, &cfg),
            [(Level::Error, "plugin.invalid_value".to_owned())],
            "{name:?}: {value:?}"
        );
    }
}

#[test]
fn a_valid_document_has_no_diagnostics() {
    let (_, host) = host();
    let cfg = doc(json!({
        "version": 1,
        "components": [
            headers_component(),
            {"kind": "redaction", "enabled": true, "config": {"fields": ["password"], "patterns": ["email"]}},
            {"kind": "policy", "config": {"deny": ["shell"], "max_calls_per_scope": 3}},
        ],
        "policy": {"unknown_component": "error", "unknown_field": "error", "unsupported_value": "error"}
    }));
    assert_eq!(host.validate(&cfg).diagnostics, vec![]);
}

#[test]
fn unknown_components_follow_the_policy() {
    let (_, host) = host();
    for (policy, expected) in [
        ("ignore", vec![]),
        (
            "warn",
            vec![(Level::Warning, "plugin.unknown_component".to_string())],
        ),
        (
            "error",
            vec![(Level::Error, "plugin.unknown_component".to_string())],
        ),
    ] {
        let cfg = doc(json!({
            "components": [{"kind": "teleporter"}],
            "policy": {"unknown_component": policy}
        }));
        assert_eq!(codes(&host, &cfg), expected, "policy {policy}");
    }
}

#[test]
fn unknown_fields_follow_the_policy_with_their_path() {
    let (_, host) = host();
    for (policy, expected) in [
        ("ignore", None),
        ("warn", Some(Level::Warning)),
        ("error", Some(Level::Error)),
    ] {
        let cfg = doc(json!({
            "components": [{"kind": "header-injection", "config": {"headers": {}, "hedaers": 1}}],
            "policy": {"unknown_field": policy}
        }));
        let report = host.validate(&cfg);
        match expected {
            None => assert!(report.diagnostics.is_empty(), "{report:?}"),
            Some(level) => {
                let d = &report.diagnostics[0];
                assert_eq!((d.level, d.code.as_str()), (level, "plugin.unknown_field"));
                assert_eq!(d.field.as_deref(), Some("config.hedaers"));
                assert_eq!(
                    (d.component, d.kind.as_deref()),
                    (Some(0), Some("header-injection"))
                );
            }
        }
    }
}

#[test]
fn a_missing_required_field_gets_an_actionable_diagnostic() {
    let (_, host) = host();
    let report = host.validate(&doc(
        json!({"components": [{"kind": "header-injection", "config": {}}]}),
    ));
    let d = &report.diagnostics[0];
    assert_eq!(
        (d.level, d.code.as_str()),
        (Level::Error, "plugin.missing_field")
    );
    assert_eq!(d.field.as_deref(), Some("config.headers"));
    assert!(
        d.message.contains("headers") && d.message.contains("object"),
        "{}",
        d.message
    );
    assert!(d.to_string().starts_with(
        "error[plugin.missing_field] components[0] (header-injection) at config.headers"
    ));

    let report = host.validate(&doc(json!({"components": [{"enabled": true}]})));
    assert_eq!(report.diagnostics[0].code, "plugin.missing_field");
    assert_eq!(report.diagnostics[0].field.as_deref(), Some("kind"));
}

#[test]
fn version_mismatches_and_bad_shapes_are_errors() {
    let (_, host) = host();
    let cfg = doc(json!({"version": 2, "components": {}, "policy": {"unknown_field": "loud"}}));
    let codes = codes(&host, &cfg);
    assert!(
        codes.contains(&(Level::Error, "plugin.unsupported_version".into())),
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|(_, c)| c == "config.invalid").count(),
        2,
        "{codes:?}"
    );
    assert!(host.initialize(&cfg).is_err());
}

#[test]
fn validation_never_changes_the_runtime() {
    let (rt, host) = host();
    let before = registry(&rt);
    host.validate(&doc(json!({"components": [headers_component()]})));
    assert_eq!(registry(&rt), before);
    assert!(host.active_report().is_none());
}

#[test]
fn initialize_installs_qualified_registrations_and_reports_them() {
    let (rt, host) = host();
    let report = host
        .initialize(&doc(json!({"components": [headers_component()]})))
        .unwrap();
    assert_eq!(
        report.components[0].registrations,
        vec![(
            "llm_request_intercept".to_string(),
            "header-injection#1/inject".to_string()
        )]
    );
    assert_eq!(
        rt.registrations(Family::LlmRequestIntercept),
        vec![Arc::from("header-injection#1/inject")]
    );
    assert_eq!(host.active_report(), Some(report));
}

#[test]
fn the_header_injection_example_adds_headers_to_llm_requests() {
    let (rt, host) = host();
    host.initialize(&doc(json!({"components": [headers_component()]})))
        .unwrap();
    let out = block_on(rt.llm_call(
        "openai.chat",
        LlmRequest::new(json!({})),
        CallOptions::default(),
        |r| async move { Ok(json!(r.headers)) },
    ))
    .unwrap();
    assert_eq!(out, json!({"x-team": "agents"}));
}

#[test]
fn two_instances_of_one_kind_coexist() {
    let (rt, host) = host();
    let report = host
        .initialize(&doc(json!({"components": [
            {"kind": "header-injection", "config": {"headers": {"a": "1"}}},
            {"kind": "header-injection", "config": {"headers": {"b": "2"}}},
        ]})))
        .unwrap();
    assert_eq!(report.components.len(), 2);
    let out = block_on(rt.llm_call(
        "x",
        LlmRequest::new(json!({})),
        CallOptions::default(),
        |r| async move { Ok(json!(r.headers)) },
    ))
    .unwrap();
    assert_eq!(out, json!({"a": "1", "b": "2"}));
    assert_eq!(rt.registrations(Family::LlmRequestIntercept).len(), 2);
}

#[test]
fn disabled_components_install_nothing() {
    let (rt, host) = host();
    let before = registry(&rt);
    let report = host
        .initialize(&doc(json!({"components": [
            {"kind": "header-injection", "enabled": false, "config": {"headers": {"a": "1"}}},
        ]})))
        .unwrap();
    assert!(!report.components[0].enabled && report.components[0].registrations.is_empty());
    assert_eq!(registry(&rt), before);
}

#[test]
fn a_failing_registration_rolls_everything_back() {
    let (rt, host) = host();
    rt.register(Registration::new(
        "app/own",
        Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
    ))
    .unwrap();
    let torn_down = Arc::new(AtomicUsize::new(0));
    let t = torn_down.clone();
    host.register_kind(Arc::new(FnPluginKind::new(
        "flaky",
        |_| {},
        move |_, ctx| {
            let t = t.clone();
            ctx.on_teardown(move || {
                t.fetch_add(1, Ordering::SeqCst);
            });
            ctx.register(
                "ok",
                Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
            )?;
            Err(RelayError::callback("exporter endpoint unreachable"))
        },
    )))
    .unwrap();
    let before = registry(&rt);
    let err = host
        .initialize(&doc(
            json!({"components": [headers_component(), {"kind": "flaky"}]}),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("components[1] (flaky)"), "{err}");
    assert_eq!(
        registry(&rt),
        before,
        "the registry looks exactly as before"
    );
    assert_eq!(
        torn_down.load(Ordering::SeqCst),
        1,
        "the failed component's resources were released"
    );
    assert!(host.active_report().is_none());
}

#[test]
fn a_name_conflict_at_commit_rolls_everything_back() {
    let (rt, host) = host();
    rt.register(Registration::new(
        "header-injection#1/inject",
        Middleware::LlmRequestIntercept(rewrite(|_, v: LlmRequest| Ok(v))),
    ))
    .unwrap();
    let before = registry(&rt);
    let err = host
        .initialize(&doc(json!({"components": [
            {"kind": "policy", "config": {"deny": ["x"]}},
            headers_component(),
        ]})))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::AlreadyExists);
    assert_eq!(registry(&rt), before);
}

#[test]
fn a_failed_re_initialize_keeps_the_previous_configuration() {
    let (rt, host) = host();
    let first = host
        .initialize(&doc(json!({"components": [headers_component()]})))
        .unwrap();
    let before = registry(&rt);
    host.register_kind(Arc::new(FnPluginKind::new(
        "broken",
        |_| {},
        |_, _| Err(RelayError::callback("nope")),
    )))
    .unwrap();
    assert!(host
        .initialize(&doc(json!({"components": [{"kind": "policy", "config": {"deny": ["a"]}}, {"kind": "broken"}]})))
        .is_err());
    assert!(host
        .initialize(&doc(
            json!({"components": [{"kind": "header-injection", "config": {}}]})
        ))
        .is_err());
    assert_eq!(registry(&rt), before);
    assert_eq!(host.active_report(), Some(first));
}

#[test]
fn re_initializing_replaces_the_active_configuration() {
    let (rt, host) = host();
    host.initialize(&doc(json!({"components": [headers_component()]})))
        .unwrap();
    host.initialize(&doc(
        json!({"components": [{"kind": "policy", "config": {"deny": ["rm"]}}]}),
    ))
    .unwrap();
    assert!(rt.registrations(Family::LlmRequestIntercept).is_empty());
    assert_eq!(
        rt.registrations(Family::ToolConditionalExecution),
        vec![Arc::from("policy#1/allow-deny")]
    );
}

#[test]
fn clear_removes_everything_plugins_installed_and_nothing_else() {
    let (rt, host) = host();
    rt.register(Registration::new(
        "app/own",
        Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
    ))
    .unwrap();
    let before = registry(&rt);
    host.initialize(&doc(json!({"components": [
        headers_component(),
        {"kind": "redaction", "config": {"fields": ["password"]}},
    ]})))
    .unwrap();
    assert_ne!(registry(&rt), before);
    assert!(host.clear().unwrap());
    assert_eq!(registry(&rt), before);
    assert!(!host.clear().unwrap());
    assert!(host.active_report().is_none());
}

#[test]
fn redaction_scrubs_emitted_payloads_only() {
    let (rt, host) = host();
    let rec = Recorder::install(&rt);
    host.initialize(&doc(json!({"components": [
        {"kind": "redaction", "config": {"fields": ["password"], "patterns": ["email"]}},
    ]})))
    .unwrap();
    let out = block_on(rt.tool_call(
        "signup",
        json!({"email": "ann@example.com", "password": "hunter2"}),
        CallOptions::default(),
        |a| async move { Ok(json!({"welcome": a["email"]})) },
    ))
    .unwrap();
    assert_eq!(
        out,
        json!({"welcome": "ann@example.com"}),
        "the caller sees real data"
    );
    rt.flush().unwrap();
    assert_eq!(
        data(&rec.find("signup", Some(ScopePhase::Start))),
        json!({"email": "[REDACTED]", "password": "[REDACTED]"})
    );
    assert_eq!(
        data(&rec.find("signup", Some(ScopePhase::End))),
        json!({"welcome": "[REDACTED]"})
    );
}

#[test]
fn policy_enforces_allow_deny_lists_and_a_per_scope_budget() {
    let (rt, host) = host();
    host.initialize(&doc(json!({"components": [
        {"kind": "policy", "config": {"allow": ["search*", "read_file"], "deny": ["search_admin"], "max_calls_per_scope": 2}},
    ]})))
    .unwrap();
    let call = |name: &str| {
        block_on(
            rt.tool_call(name, json!({}), CallOptions::default(), |_| async {
                Ok(Json::Null)
            }),
        )
    };
    assert!(call("search_web").is_ok());
    let denied = call("search_admin").unwrap_err();
    assert!(denied.to_string().contains("denied by policy"), "{denied}");
    assert!(call("shell")
        .unwrap_err()
        .to_string()
        .contains("allow list"));
    assert!(call("read_file").is_ok());
    let over = call("read_file").unwrap_err();
    assert!(over.to_string().contains("budget of 2"), "{over}");
    let scope = rt
        .push_scope(
            "next-request",
            nemo_relay_core::ScopeType::Agent,
            Default::default(),
        )
        .unwrap();
    assert!(call("read_file").is_ok(), "a new scope has a fresh budget");
    rt.pop_scope(&scope, Default::default()).unwrap();
}

#[test]
fn configuration_files_load_from_toml_and_json() {
    let dir = std::env::temp_dir().join(format!("nemo-relay-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml_path = dir.join("plugins.toml");
    std::fs::write(
        &toml_path,
        r#"
version = 1

[[components]]
kind = "header-injection"
config = { headers = { "x-team" = "agents" } }

[policy]
unknown_field = "error"
"#,
    )
    .unwrap();
    let cfg = PluginConfig::load(&toml_path).unwrap();
    assert_eq!(
        cfg.components,
        vec![ComponentConfig::new(
            "header-injection",
            json!({"headers": {"x-team": "agents"}})
        )]
    );
    assert_eq!(
        cfg.policy.unknown_field,
        nemo_relay_core::plugin::PolicyLevel::Error
    );
    let json_path = dir.join("plugins.json");
    std::fs::write(
        &json_path,
        r#"{"components": [{"kind": "policy", "config": {"deny": ["x"]}}]}"#,
    )
    .unwrap();
    assert_eq!(
        PluginConfig::load(&json_path).unwrap().components[0].kind,
        "policy"
    );
    std::fs::write(&toml_path, "version = [").unwrap();
    let err = PluginConfig::load(&toml_path).unwrap_err();
    assert!(err.to_string().contains("plugins.toml"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_configuration_path_that_is_not_a_small_text_file_is_refused_instead_of_read_forever() {
    // An endless device: read up to the limit, then refused.
    #[cfg(unix)]
    {
        let err = PluginConfig::load("/dev/zero").unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_argument", "{err}");
        assert!(err.to_string().contains("at most 16 MiB"), "{err}");
    }
    let dir = std::env::temp_dir().join(format!("nemo-relay-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("plugins.json");
    std::fs::write(&big, vec![b' '; (MAX_DOCUMENT_BYTES + 1) as usize]).unwrap();
    assert!(PluginConfig::load(&big)
        .unwrap_err()
        .to_string()
        .contains("at most"));
    let binary = dir.join("plugins.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let err = PluginConfig::load(&binary).unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_argument");
    assert!(err.to_string().contains("UTF-8"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn kinds_are_listed_and_can_be_registered_and_removed() {
    let (_, host) = host();
    let kinds: Vec<String> = host.kinds().into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["header-injection", "policy", "redaction"]);
    let k = Arc::new(FnPluginKind::new("custom", |_| {}, |_, _| Ok(())));
    host.register_kind(k.clone()).unwrap();
    assert_eq!(
        host.register_kind(k).unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert!(host.deregister_kind("custom"));
    assert!(!host.deregister_kind("custom"));
}

#[test]
fn a_hook_that_re_enters_initialize_gets_an_error_instead_of_a_deadlock() {
    let rt = Runtime::new();
    let host = Arc::new(PluginHost::new(rt));
    let inner = Arc::downgrade(&host);
    host.register_kind(Arc::new(FnPluginKind::new(
        "reentrant",
        |_| {},
        move |_, _| {
            let host = inner.upgrade().expect("host alive");
            let err = host.initialize(&PluginConfig::default()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument);
            assert!(host.clear().is_err());
            Ok(())
        },
    )))
    .unwrap();
    host.initialize(&doc(json!({"components": [{"kind": "reentrant"}]})))
        .expect("the outer activation still succeeds");
    assert!(host.clear().unwrap(), "and the host is usable afterwards");
}

#[test]
fn singleton_kinds_reject_a_second_component() {
    let (_, host) = host();
    host.register_kind(Arc::new(
        FnPluginKind::new("solo", |_| {}, |_, _| Ok(())).allow_multiple(false),
    ))
    .unwrap();
    let report = host.validate(&doc(
        json!({"components": [{"kind": "solo"}, {"kind": "solo"}]}),
    ));
    assert_eq!(report.diagnostics[0].code, "plugin.duplicate_component");
    assert_eq!(report.diagnostics[0].component, Some(1));
}

#[test]
fn a_batch_that_adds_a_subscriber_after_shutdown_is_refused_whole() {
    let rt = nemo_relay_core::Runtime::new();
    rt.shutdown().unwrap();
    let err = rt
        .apply(
            &[],
            vec![nemo_relay_core::Registration::new(
                "late",
                nemo_relay_core::Middleware::Subscriber(nemo_relay_core::subscriber_fn(|_| {})),
            )],
        )
        .unwrap_err();
    assert_eq!(err.code(), nemo_relay_core::ErrorCode::ShutDown);
    assert!(!rt.has_listeners());
}

#[test]
fn clear_and_reinitialize_leave_a_registration_that_took_over_a_removed_plugin_name() {
    let (rt, host) = host();
    host.register_kind(Arc::new(FnPluginKind::new(
        "tagger",
        |_| {},
        |_, ctx| {
            ctx.register(
                "tag",
                Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
            )
        },
    )))
    .unwrap();
    let cfg = doc(json!({"components": [{"kind": "tagger"}]}));
    for change in ["clear", "reinitialize"] {
        host.initialize(&cfg).unwrap();
        // The user removes the plugin's registration and takes its name.
        assert!(rt.deregister(Family::ToolRequestIntercept, "tagger#1/tag"));
        rt.register(Registration::new(
            "tagger#1/tag",
            Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
        ))
        .unwrap();
        if change == "clear" {
            host.clear().unwrap();
        } else {
            // The new activation's own "tagger#1/tag" collides with the
            // user's: refused, and the user's stays.
            assert!(host.initialize(&cfg).is_err());
            host.clear().unwrap();
        }
        assert_eq!(
            rt.registrations(Family::ToolRequestIntercept),
            vec![Arc::<str>::from("tagger#1/tag")],
            "{change}: the user's registration stays"
        );
        assert!(rt.deregister(Family::ToolRequestIntercept, "tagger#1/tag"));
    }
}
