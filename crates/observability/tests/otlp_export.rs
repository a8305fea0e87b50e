//! OTLP exporter against a local receiver: the span tree, both encodings,
//! both attribute modes, retries, and a receiver that is down.

mod support;

use std::time::{Duration, Instant};

use nemo_relay_core::{Runtime, Uuid};
use nemo_relay_observability::otel::{span_id, trace_id, Mode, OtlpConfig, OtlpExporter, Protocol};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use support::otlp::Receiver;
use support::{agent_run, Run};

fn config(endpoint: String, protocol: Protocol, mode: Mode) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        mode,
        use_env: false,
        schedule_delay_millis: Some(50),
        headers: [("x-tenant".to_owned(), "t1".to_owned())].into(),
        ..Default::default()
    }
}

fn run_against(receiver: &Receiver, protocol: Protocol, mode: Mode) -> (Vec<Span>, Run) {
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(config(receiver.endpoint(), protocol, mode)).unwrap();
    otlp.register(&rt).unwrap();
    let run = agent_run(&rt);
    otlp.flush().unwrap();
    let stats = otlp.stats();
    assert_eq!(stats.dropped_queue_full + stats.dropped_export_failed, 0);
    (receiver.spans(), run)
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a Av> {
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn attr_str<'a>(s: &'a Span, key: &str) -> &'a str {
    match attr(s, key) {
        Some(Av::StringValue(v)) => v,
        other => panic!("{key} on {} is {other:?}", s.name),
    }
}

fn attr_int(s: &Span, key: &str) -> i64 {
    match attr(s, key) {
        Some(Av::IntValue(v)) => *v,
        other => panic!("{key} on {} is {other:?}", s.name),
    }
}

fn uuid(s: &str) -> Uuid {
    s.parse().unwrap()
}

#[test]
fn genai_spans_over_protobuf_form_the_scope_tree_with_derived_ids() {
    let receiver = Receiver::start(0);
    let (spans, run) = run_against(&receiver, Protocol::HttpProtobuf, Mode::Genai);
    let req = &receiver.requests()[0];
    assert_eq!(req.path, "/v1/traces");
    assert_eq!(req.content_type, "application/x-protobuf");
    assert!(req.headers.contains(&("x-tenant".into(), "t1".into())));

    // agent, 3 chats, get_weather, research, researcher, its chat, flaky.
    assert_eq!(
        spans.len(),
        9,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let agent = by_name(&spans, "invoke_agent weather-agent");
    let trace = trace_id(&uuid(&run.agent)).to_vec();
    assert!(
        spans.iter().all(|s| s.trace_id == trace),
        "one trace, id = root scope uuid"
    );
    assert_eq!(agent.span_id, span_id(&uuid(&run.agent)).to_vec());
    assert!(agent.parent_span_id.is_empty());
    assert_eq!(agent.kind, SpanKind::Internal as i32);
    assert_eq!(attr_str(agent, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(attr_str(agent, "gen_ai.conversation.id"), "s-1");

    let chats: Vec<&Span> = spans.iter().filter(|s| s.name == "chat gpt-4.1").collect();
    assert_eq!(chats.len(), 3);
    let chat = chats.iter().min_by_key(|s| s.start_time_unix_nano).unwrap();
    assert_eq!(chat.parent_span_id, agent.span_id);
    assert_eq!(chat.kind, SpanKind::Client as i32);
    assert_eq!(attr_str(chat, "gen_ai.provider.name"), "openai");
    assert_eq!(attr_str(chat, "gen_ai.request.model"), "gpt-4.1");
    assert_eq!(attr_str(chat, "gen_ai.response.model"), "gpt-4.1-2025");
    assert_eq!(attr_int(chat, "gen_ai.usage.input_tokens"), 20);
    assert_eq!(attr_int(chat, "gen_ai.usage.output_tokens"), 10);
    assert_eq!(attr_int(chat, "gen_ai.usage.cache_read.input_tokens"), 4);
    assert!(attr(chat, "gen_ai.request.temperature").is_some());
    assert!(
        attr(chat, "gen_ai.input.messages").is_none(),
        "content capture is opt-in"
    );
    assert!(chat.end_time_unix_nano > chat.start_time_unix_nano);

    let tool = by_name(&spans, "execute_tool get_weather");
    assert_eq!(tool.parent_span_id, agent.span_id);
    assert_eq!(attr_str(tool, "gen_ai.tool.call.id"), "call_1");
    assert!(
        attr(tool, "gen_ai.tool.call.arguments").is_none(),
        "arguments are content: not captured by default"
    );

    let research = by_name(&spans, "execute_tool research");
    let researcher = by_name(&spans, "invoke_agent researcher");
    assert_eq!(
        researcher.parent_span_id, research.span_id,
        "nested agent under the delegating tool"
    );
    assert_eq!(researcher.span_id, span_id(&uuid(&run.researcher)).to_vec());
    let inner = by_name(&spans, "chat claude-sonnet");
    assert_eq!(inner.parent_span_id, researcher.span_id);
    assert_eq!(attr_str(inner, "gen_ai.provider.name"), "anthropic");
    assert_eq!(
        attr_int(inner, "gen_ai.usage.cache_creation.input_tokens"),
        2
    );

    let flaky = by_name(&spans, "execute_tool flaky");
    let status = flaky.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("disk full"));
    assert_eq!(attr_str(flaky, "error.type"), "internal");
    assert!(flaky.events.iter().any(|e| e.name == "exception"));

    let marks: Vec<&str> = agent.events.iter().map(|e| e.name.as_str()).collect();
    assert!(
        marks.contains(&"checkpoint"),
        "marks are span events: {marks:?}"
    );
    assert!(
        marks.contains(&"shell"),
        "the rejection mark is an event too: {marks:?}"
    );
}

#[test]
fn json_encoding_uses_hex_ids_and_carries_the_same_tree() {
    let receiver = Receiver::start(0);
    let (spans, run) = run_against(&receiver, Protocol::HttpJson, Mode::Genai);
    let req = &receiver.requests()[0];
    assert_eq!(req.content_type, "application/json");
    let raw: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let span = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let trace_hex = span["traceId"].as_str().unwrap();
    assert_eq!(trace_hex.len(), 32);
    assert!(trace_hex.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    assert_eq!(
        raw["resourceSpans"][0]["scopeSpans"][0]["schemaUrl"],
        nemo_relay_observability::otel::semconv::GENAI_SCHEMA_URL
    );
    assert_eq!(spans.len(), 9);
    let agent = by_name(&spans, "invoke_agent weather-agent");
    assert_eq!(agent.trace_id, trace_id(&uuid(&run.agent)).to_vec());
    let resource = &raw["resourceSpans"][0]["resource"]["attributes"];
    assert!(resource
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["key"] == "service.name"));
}

#[test]
fn openinference_mode_sets_span_kinds_io_values_and_flattened_messages() {
    let receiver = Receiver::start(0);
    let (spans, run) = run_against(&receiver, Protocol::HttpProtobuf, Mode::Openinference);
    let agent = by_name(&spans, "weather-agent");
    assert_eq!(attr_str(agent, "openinference.span.kind"), "AGENT");
    assert_eq!(attr_str(agent, "nemo_relay.uuid"), run.agent);
    assert_eq!(attr_str(agent, "session.id"), "s-1");
    let llm = spans
        .iter()
        .filter(|s| s.name == "openai.chat")
        .min_by_key(|s| s.start_time_unix_nano)
        .unwrap();
    assert_eq!(attr_str(llm, "openinference.span.kind"), "LLM");
    assert_eq!(llm.kind, SpanKind::Client as i32);
    assert_eq!(llm.parent_span_id, agent.span_id);
    assert_eq!(attr_str(llm, "llm.model_name"), "gpt-4.1-2025");
    assert_eq!(attr_str(llm, "llm.input_messages.1.message.role"), "user");
    assert_eq!(
        attr_str(llm, "llm.input_messages.1.message.content"),
        "Weather in Paris? Also clean my disk."
    );
    assert_eq!(
        attr_str(llm, "llm.output_messages.0.message.content"),
        "Let me check."
    );
    assert_eq!(
        attr_str(
            llm,
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name"
        ),
        "get_weather"
    );
    assert_eq!(attr_int(llm, "llm.token_count.prompt"), 20);
    assert_eq!(attr_int(llm, "llm.token_count.total"), 30);
    assert_eq!(attr_str(llm, "input.mime_type"), "application/json");
    let tool = by_name(&spans, "get_weather");
    assert_eq!(attr_str(tool, "openinference.span.kind"), "TOOL");
    assert_eq!(attr_str(tool, "tool_call.id"), "call_1");
    assert_eq!(attr_str(tool, "output.value"), "18C, sunny");
    assert_eq!(attr_str(tool, "output.mime_type"), "text/plain");
    assert_eq!(
        attr_str(tool, "input.value"),
        r#"{"city":"Paris"}"#,
        "inputs are captured in this mode, so the tool's arguments are kept until its end"
    );
    assert_eq!(
        attr_str(tool, "tool_call.function.arguments"),
        r#"{"city":"Paris"}"#
    );
}

#[test]
fn transient_failures_are_retried_until_the_collector_accepts() {
    let receiver = Receiver::start(2);
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(OtlpConfig {
        initial_backoff_millis: 5,
        ..config(receiver.endpoint(), Protocol::HttpProtobuf, Mode::Genai)
    })
    .unwrap();
    otlp.register(&rt).unwrap();
    agent_run(&rt);
    otlp.flush().unwrap();
    let stats = otlp.stats();
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.exported, 9);
    assert_eq!(stats.dropped_export_failed, 0);
    assert_eq!(receiver.spans().len(), 9);
}

#[test]
fn spans_a_collector_rejects_in_a_partial_success_are_counted_as_lost_and_reported() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let receiver = Receiver::rejecting(2);
        let rt = Runtime::new();
        let otlp = OtlpExporter::new(config(receiver.endpoint(), protocol, Mode::Genai)).unwrap();
        otlp.register(&rt).unwrap();
        agent_run(&rt);
        let err = otlp.flush().unwrap_err().to_string();
        assert!(err.contains("span names must not be empty"), "{err}");
        // Each request (batch) has 2 spans rejected.
        let stats = otlp.stats();
        assert_eq!(
            stats.dropped_export_failed,
            2 * stats.requests,
            "{protocol:?}"
        );
        assert_eq!(stats.exported + stats.dropped_export_failed, 9);
        assert!(stats
            .last_error
            .unwrap()
            .contains("collector rejected 2 of"));
    }
    // At shutdown too, a partial success does not stop the batches after it.
    let receiver = Receiver::rejecting(1);
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(OtlpConfig {
        max_export_batch_size: Some(2),
        ..config(receiver.endpoint(), Protocol::HttpProtobuf, Mode::Genai)
    })
    .unwrap();
    otlp.register(&rt).unwrap();
    agent_run(&rt);
    rt.shutdown().unwrap();
    let _ = otlp.shutdown();
    let stats = otlp.stats();
    // Each batch (of at most 2 of the 9 spans) was sent, and lost 1.
    assert!(stats.requests >= 5, "{stats:?}");
    assert_eq!(stats.dropped_export_failed, stats.requests, "{stats:?}");
    assert_eq!(stats.exported + stats.dropped_export_failed, 9);
}

#[test]
fn with_the_receiver_down_the_app_keeps_working_and_every_lost_span_is_counted() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(OtlpConfig {
        max_retries: 3,
        initial_backoff_millis: 20,
        max_backoff_millis: 50,
        max_queue_size: Some(5),
        max_export_batch_size: Some(4),
        ..config(
            format!("http://127.0.0.1:{port}"),
            Protocol::HttpProtobuf,
            Mode::Genai,
        )
    })
    .unwrap();
    otlp.register(&rt).unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        let rt = Runtime::new();
        otlp.register(&rt).unwrap();
        agent_run(&rt);
    }
    agent_run(&rt);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "calls never wait for the exporter"
    );
    assert!(otlp.flush().is_err(), "flush reports that spans were lost");
    otlp.shutdown().unwrap_err();
    let stats = otlp.stats();
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.dropped_queue_full + stats.dropped_export_failed,
        6 * 9
    );
    assert!(
        stats.dropped_queue_full > 0,
        "a small queue overflows while retries wait"
    );
    assert!(stats.retries > 0);
    assert!(stats.last_error.is_some());
}

#[test]
fn environment_variables_choose_endpoint_protocol_and_headers() {
    let receiver = Receiver::start(0);
    let endpoint = receiver.endpoint();
    let resolved = OtlpConfig {
        schedule_delay_millis: Some(20),
        ..Default::default()
    }
    .resolve_with(|k| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/json".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("authorization=Bearer%20abc".into()),
        _ => None,
    })
    .unwrap();
    let rt = Runtime::new();
    let otlp = OtlpExporter::with_resolved(resolved).unwrap();
    otlp.register(&rt).unwrap();
    agent_run(&rt);
    otlp.flush().unwrap();
    let req = &receiver.requests()[0];
    assert_eq!(req.path, "/v1/traces");
    assert_eq!(req.content_type, "application/json");
    assert!(req
        .headers
        .contains(&("authorization".into(), "Bearer abc".into())));
}

#[test]
fn shutting_the_runtime_down_sends_the_finished_spans_without_waiting_for_the_schedule() {
    let receiver = Receiver::start(0);
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(OtlpConfig {
        // Far later than the test: only the shutdown can send them.
        schedule_delay_millis: Some(3_600_000),
        ..config(receiver.endpoint(), Protocol::HttpProtobuf, Mode::Genai)
    })
    .unwrap();
    otlp.register(&rt).unwrap();
    agent_run(&rt);
    assert!(receiver.spans().is_empty());
    rt.shutdown().unwrap();
    assert_eq!(receiver.spans().len(), 9, "every span of the run was sent");
    otlp.shutdown().unwrap();
}

#[test]
fn a_collector_that_never_answers_holds_a_shutdown_for_one_request_timeout_not_one_per_batch() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(conns);
    });
    let rt = Runtime::new();
    let otlp = OtlpExporter::new(OtlpConfig {
        timeout_millis: Some(500),
        schedule_delay_millis: Some(3_600_000),
        max_export_batch_size: Some(2),
        max_retries: 2,
        initial_backoff_millis: 10,
        ..config(endpoint, Protocol::HttpProtobuf, Mode::Genai)
    })
    .unwrap();
    otlp.register(&rt).unwrap();
    // 9 spans, batches of 2: the first is in flight (its first timeout)
    // when the runtime shuts down.
    agent_run(&rt);
    let started = Instant::now();
    rt.shutdown().unwrap();
    otlp.shutdown().unwrap_err();
    // That batch's first attempt, then one attempt for the rest: about
    // 1 s. Retrying, then trying every batch, took 3.5 s.
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(2_000), "waited {waited:?}");
    let stats = otlp.stats();
    assert_eq!(stats.exported, 0);
    assert_eq!(stats.dropped_export_failed, 9, "{stats:?}");
    drop(held);
}
