//! [`OtlpConfig`]: destination, projection and batching of the OTLP exporter.
//!
//! JSON shape (every field optional):
//!
//! ```json
//! {
//!   "endpoint": "http://collector:4318",
//!   "protocol": "http/protobuf",
//!   "headers": {"x-tenant": "a"},
//!   "timeout_millis": 10000,
//!   "mode": "genai",
//!   "capture_content": false,
//!   "service_name": "my-agent",
//!   "resource_attributes": {"deployment.environment": "dev"},
//!   "max_queue_size": 2048,
//!   "max_export_batch_size": 512,
//!   "schedule_delay_millis": 5000,
//!   "max_retries": 5,
//!   "initial_backoff_millis": 100,
//!   "max_backoff_millis": 5000,
//!   "excluded_marks": ["llm.chunk"],
//!   "use_env": true
//! }
//! ```
//!
//! # Where each setting comes from
//!
//! An explicit config field wins; then (unless `use_env` is false) the
//! standard variables, signal-specific first; then the OTLP defaults:
//!
//! | setting | variables | default |
//! |---|---|---|
//! | endpoint | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`) | `http://localhost:4318/v1/traces` |
//! | protocol | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` |
//! | headers | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values percent-decoded; config headers are added over them) | none |
//! | timeout | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
//! | service name (`service_name`, else `service.name` in `resource_attributes`) | `OTEL_SERVICE_NAME`, `service.name` in `OTEL_RESOURCE_ATTRIBUTES` | `nemo-relay` |
//! | queue / batch / delay | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | 2048 / 512 / 5000 ms |
//!
//! A configured endpoint without a path (`http://host:4318`) gets
//! `/v1/traces` appended; one with a path is used as is. `grpc` is not
//! supported (the exporter speaks OTLP/HTTP) and is reported as an error
//! rather than silently sent to a gRPC port.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use nemo_relay_core::middleware::{is_header_name, is_header_value};
use nemo_relay_core::Json;

use crate::config::{parse, ConfigError};

/// The parts of an LLM span's content that OpenInference's privacy
/// variables hide (`OPENINFERENCE_HIDE_<PART>=true`), as its own
/// instrumentations do: hidden messages are left out, hidden text is
/// written as [`REDACTED`], hidden images lose their URL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hide {
    /// `llm.input_messages.*` (`..._INPUT_MESSAGES`).
    pub input_messages: bool,
    /// Their text (`..._INPUT_TEXT`).
    pub input_text: bool,
    /// Their image URLs (`..._INPUT_IMAGES`).
    pub input_images: bool,
    /// `llm.output_messages.*` (`..._OUTPUT_MESSAGES`).
    pub output_messages: bool,
    /// Their text (`..._OUTPUT_TEXT`).
    pub output_text: bool,
    /// `llm.invocation_parameters` (`..._LLM_INVOCATION_PARAMETERS`).
    pub invocation_parameters: bool,
}

/// What hidden text is written as (OpenInference's own placeholder).
pub const REDACTED: &str = "__REDACTED__";

/// Wire encoding of OTLP/HTTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// `application/x-protobuf` (the OTLP default).
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// `application/json` (OTLP/JSON: hex ids, camelCase names).
    #[serde(rename = "http/json")]
    HttpJson,
}

/// Which attribute conventions spans follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// OpenTelemetry GenAI semantic conventions (see [`super::semconv`]).
    #[default]
    Genai,
    /// OpenInference (`openinference.span.kind`, `input.value` …).
    Openinference,
}

/// Settings of an [`OtlpExporter`](super::OtlpExporter). See the
/// [module docs](self) for the JSON shape and the environment variables.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Traces URL, or a base URL without path.
    pub endpoint: Option<String>,
    /// `http/protobuf` or `http/json`.
    pub protocol: Option<Protocol>,
    /// Extra HTTP headers (authentication, tenancy).
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout.
    pub timeout_millis: Option<u64>,
    /// Attribute conventions.
    pub mode: Mode,
    /// Put prompts, answers, tool arguments and results on spans. Default:
    /// off for `genai` (the conventions make content opt-in), on for
    /// `openinference` (whose viewers are built around it), where
    /// `OPENINFERENCE_HIDE_INPUTS` / `OPENINFERENCE_HIDE_OUTPUTS` still apply,
    /// and so do the finer ones ([`Hide`]).
    pub capture_content: Option<bool>,
    /// `service.name` of the resource.
    pub service_name: Option<String>,
    /// More resource attributes.
    pub resource_attributes: BTreeMap<String, String>,
    /// Finished spans waiting for export; more are dropped and counted.
    pub max_queue_size: Option<usize>,
    /// Spans per export request.
    pub max_export_batch_size: Option<usize>,
    /// Longest wait before a partial batch is sent.
    pub schedule_delay_millis: Option<u64>,
    /// Retries of a failed request (connection errors, 429, 502–504).
    /// Default 5.
    pub max_retries: u32,
    /// First retry delay; doubles per retry. Default 100 ms.
    pub initial_backoff_millis: u64,
    /// Cap of the retry delay (and of a server's `Retry-After`). Default 5 s.
    pub max_backoff_millis: u64,
    /// Marks not turned into span events. Default `["llm.chunk"]`.
    pub excluded_marks: Vec<String>,
    /// Read the `OTEL_*` variables. Default `true`.
    pub use_env: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            protocol: None,
            headers: BTreeMap::new(),
            timeout_millis: None,
            mode: Mode::Genai,
            capture_content: None,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            max_queue_size: None,
            max_export_batch_size: None,
            schedule_delay_millis: None,
            max_retries: 5,
            initial_backoff_millis: 100,
            max_backoff_millis: 5000,
            excluded_marks: vec!["llm.chunk".into()],
            use_env: true,
        }
    }
}

/// A config with every setting decided (config, environment, defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Full traces URL.
    pub endpoint: String,
    /// Encoding.
    pub protocol: Protocol,
    /// HTTP headers.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Projection.
    pub mode: Mode,
    /// Capture input content.
    pub capture_inputs: bool,
    /// Capture output content.
    pub capture_outputs: bool,
    /// What the `OPENINFERENCE_HIDE_*` variables hide of captured LLM
    /// content (OpenInference mode only).
    pub hide: Hide,
    /// Resource attributes, `service.name` included.
    pub resource: Vec<(String, String)>,
    /// Queue bound.
    pub max_queue_size: usize,
    /// Batch size.
    pub max_export_batch_size: usize,
    /// Batch delay.
    pub schedule_delay: Duration,
    /// Retry policy.
    pub max_retries: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Marks left out.
    pub excluded_marks: Vec<String>,
}

impl OtlpConfig {
    /// Parse and validate a JSON config section.
    pub fn from_json(value: Json) -> Result<Self, ConfigError> {
        let config: Self = parse(value)?;
        config.validate()?;
        Ok(config)
    }

    /// Check values that the types alone do not rule out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(e) = &self.endpoint {
            check_url(e).map_err(|m| ConfigError::at("endpoint", m))?;
        }
        // Backends group traces by service.name: an empty one files them
        // under nothing.
        if self
            .service_name
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(ConfigError::at("service_name", "must not be empty"));
        }
        for (field, v) in [
            ("max_queue_size", self.max_queue_size),
            ("max_export_batch_size", self.max_export_batch_size),
            // 0 would fail every request at once, not mean "no timeout".
            ("timeout_millis", self.timeout_millis.map(|t| t as usize)),
        ] {
            if v == Some(0) {
                return Err(ConfigError::at(field, "must be positive"));
            }
        }
        if let (Some(batch), Some(queue)) = (self.max_export_batch_size, self.max_queue_size) {
            if batch > queue {
                return Err(ConfigError::at(
                    "max_export_batch_size",
                    "must not be above max_queue_size",
                ));
            }
        }
        if self.max_backoff_millis < self.initial_backoff_millis {
            return Err(ConfigError::at(
                "max_backoff_millis",
                "must not be below initial_backoff_millis",
            ));
        }
        Ok(())
    }

    /// Decide every setting, reading the process environment.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        self.resolve_with(|k| std::env::var(k).ok())
    }

    /// [`resolve`](Self::resolve) with an explicit environment (tests,
    /// embedders with their own settings source).
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Resolved, ConfigError> {
        self.validate()?;
        let env = |k: &str| {
            if self.use_env {
                env(k).filter(|v| !v.trim().is_empty())
            } else {
                None
            }
        };
        let endpoint = match &self.endpoint {
            Some(e) => with_traces_path(e, false),
            None => match env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                Some(e) => e,
                None => match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
                    Some(e) => with_traces_path(&e, true),
                    None => "http://localhost:4318/v1/traces".into(),
                },
            },
        };
        check_url(&endpoint).map_err(|m| ConfigError::at("endpoint", m))?;

        let protocol = match self.protocol {
            Some(p) => p,
            None => match first(
                &env,
                &[
                    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                ],
            ) {
                None => Protocol::HttpProtobuf,
                Some((var, v)) => match v.trim() {
                    "http/protobuf" => Protocol::HttpProtobuf,
                    "http/json" => Protocol::HttpJson,
                    other => {
                        return Err(ConfigError::at(
                            var,
                            format!(
                                "unsupported protocol '{other}' (use http/protobuf or http/json)"
                            ),
                        ))
                    }
                },
            },
        };

        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(v) = env(var) {
                headers.extend(parse_pairs(&v).map_err(|m| ConfigError::at(var, m))?);
            }
        }
        headers.extend(self.headers.clone());
        // Checked now, not at the first export: a bad header would fail
        // every batch, or (CR/LF in it) inject a header of its own.
        for (name, value) in &headers {
            if !is_header_name(name) {
                return Err(ConfigError::at(
                    format!("headers.{name}"),
                    format!("'{}' is not an HTTP header name", name.escape_debug()),
                ));
            }
            if !is_header_value(value) {
                return Err(ConfigError::at(
                    format!("headers.{name}"),
                    "a header value must not contain control characters",
                ));
            }
        }

        let timeout_ms = match self.timeout_millis {
            Some(t) => t,
            None => env_number(
                &env,
                &[
                    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                ],
            )?
            .unwrap_or(10_000),
        };
        if timeout_ms == 0 {
            return Err(ConfigError::at(
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "must be positive (0 would fail every request at once)",
            ));
        }

        let mut resource: BTreeMap<String, String> = match env("OTEL_RESOURCE_ATTRIBUTES") {
            Some(v) => {
                parse_pairs(&v).map_err(|m| ConfigError::at("OTEL_RESOURCE_ATTRIBUTES", m))?
            }
            None => BTreeMap::new(),
        };
        // Configured beats the environment: `service_name`, then
        // `service.name` among the configured resource attributes, then
        // OTEL_SERVICE_NAME (which beats OTEL_RESOURCE_ATTRIBUTES, as the
        // OpenTelemetry SDK spec has it).
        let service = self
            .service_name
            .clone()
            .or_else(|| self.resource_attributes.get("service.name").cloned())
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .or_else(|| resource.get("service.name").cloned())
            .unwrap_or_else(|| "nemo-relay".into());
        resource.extend(self.resource_attributes.clone());
        resource.insert("service.name".into(), service);

        let capture = self
            .capture_content
            .unwrap_or(self.mode == Mode::Openinference);
        let hidden =
            |var: &str| env(var).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let oi = self.mode == Mode::Openinference;

        let bsp = |field: Option<usize>, var: &str, default: usize| -> Result<usize, ConfigError> {
            match field {
                Some(v) => Ok(v),
                None => Ok(env_number(&env, &[var])?.map_or(default, |v| v.max(1) as usize)),
            }
        };
        Ok(Resolved {
            endpoint,
            protocol,
            headers: headers.into_iter().collect(),
            timeout: Duration::from_millis(timeout_ms),
            mode: self.mode,
            capture_inputs: capture && !(oi && hidden("OPENINFERENCE_HIDE_INPUTS")),
            capture_outputs: capture && !(oi && hidden("OPENINFERENCE_HIDE_OUTPUTS")),
            hide: match oi {
                false => Hide::default(),
                true => Hide {
                    input_messages: hidden("OPENINFERENCE_HIDE_INPUT_MESSAGES"),
                    input_text: hidden("OPENINFERENCE_HIDE_INPUT_TEXT"),
                    input_images: hidden("OPENINFERENCE_HIDE_INPUT_IMAGES"),
                    output_messages: hidden("OPENINFERENCE_HIDE_OUTPUT_MESSAGES"),
                    output_text: hidden("OPENINFERENCE_HIDE_OUTPUT_TEXT"),
                    invocation_parameters: hidden("OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS"),
                },
            },
            resource: resource.into_iter().collect(),
            max_queue_size: bsp(self.max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)?,
            max_export_batch_size: bsp(
                self.max_export_batch_size,
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                512,
            )?,
            schedule_delay: Duration::from_millis(match self.schedule_delay_millis {
                Some(d) => d,
                None => env_number(&env, &["OTEL_BSP_SCHEDULE_DELAY"])?.unwrap_or(5000),
            }),
            max_retries: self.max_retries,
            initial_backoff: Duration::from_millis(self.initial_backoff_millis),
            max_backoff: Duration::from_millis(self.max_backoff_millis),
            excluded_marks: self.excluded_marks.clone(),
        })
    }
}

fn first<'a>(env: &impl Fn(&str) -> Option<String>, vars: &[&'a str]) -> Option<(&'a str, String)> {
    vars.iter().find_map(|v| env(v).map(|x| (*v, x)))
}

fn env_number(
    env: &impl Fn(&str) -> Option<String>,
    vars: &[&str],
) -> Result<Option<u64>, ConfigError> {
    match first(env, vars) {
        None => Ok(None),
        Some((var, v)) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::at(var, format!("'{v}' is not a whole number"))),
    }
}

/// `http://host:4318` → `http://host:4318/v1/traces`. With `always`
/// (`OTEL_EXPORTER_OTLP_ENDPOINT` is a base by definition) the signal path is
/// appended even when the URL has a path.
fn with_traces_path(url: &str, always: bool) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let has_path = after_scheme
        .find('/')
        .is_some_and(|i| i + 1 < after_scheme.len());
    if has_path && !always {
        url.to_owned()
    } else {
        format!("{}/v1/traces", url.trim_end_matches('/'))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    match url.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() => Ok(()),
        Some(("https", rest)) if !rest.is_empty() => {
            if cfg!(feature = "tls") {
                Ok(())
            } else {
                Err("https endpoints need the crate's `tls` feature".into())
            }
        }
        _ => Err(format!("'{url}' is not an http:// or https:// URL")),
    }
}

/// `k=v,k2=v2` with percent-encoded values (the OTEL header format).
fn parse_pairs(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("'{p}' is not key=value"))?;
            Ok((percent_decode(k.trim()), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_generic_endpoint_gets_the_traces_path_and_the_signal_endpoint_is_used_as_is() {
        let c = OtlpConfig::default();
        let r = c
            .resolve_with(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]))
            .unwrap();
        assert_eq!(r.endpoint, "http://c:4318/v1/traces");
        let r = c
            .resolve_with(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom"),
            ]))
            .unwrap();
        assert_eq!(r.endpoint, "http://t:9/custom");
        assert_eq!(
            c.resolve_with(env(&[])).unwrap().endpoint,
            "http://localhost:4318/v1/traces"
        );
    }

    #[test]
    fn explicit_config_wins_over_the_environment() {
        let c = OtlpConfig {
            endpoint: Some("http://cfg:1".into()),
            protocol: Some(Protocol::HttpJson),
            timeout_millis: Some(7),
            ..Default::default()
        };
        let r = c
            .resolve_with(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:2"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "99"),
            ]))
            .unwrap();
        assert_eq!(r.endpoint, "http://cfg:1/v1/traces");
        assert_eq!(r.protocol, Protocol::HttpJson);
        assert_eq!(r.timeout, Duration::from_millis(7));
    }

    #[test]
    fn headers_that_http_cannot_carry_are_refused_at_configuration() {
        for (name, value) in [
            ("x-a\nx-b", "1"),
            ("x a", "1"),
            ("", "1"),
            ("x-a", "1\r\nx-b: 2"),
            ("x-a", "\u{1}"),
        ] {
            let c = OtlpConfig {
                headers: [(name.to_owned(), value.to_owned())].into(),
                ..Default::default()
            };
            let e = c.resolve_with(env(&[])).unwrap_err();
            assert_eq!(e.path, format!("headers.{name}"), "{name:?}");
        }
        // Percent-decoded environment values are checked too.
        let e = OtlpConfig::default()
            .resolve_with(env(&[("OTEL_EXPORTER_OTLP_HEADERS", "x=a%0Db")]))
            .unwrap_err();
        assert!(e.message.contains("control characters"), "{e:?}");
    }

    #[test]
    fn a_zero_timeout_and_a_batch_above_the_queue_are_refused() {
        let zero = OtlpConfig {
            timeout_millis: Some(0),
            ..Default::default()
        };
        assert_eq!(zero.validate().unwrap_err().path, "timeout_millis");
        let e = OtlpConfig::default()
            .resolve_with(env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]))
            .unwrap_err();
        assert!(e.message.contains("positive"), "{e:?}");
        let lopsided = OtlpConfig {
            max_queue_size: Some(10),
            max_export_batch_size: Some(11),
            ..Default::default()
        };
        assert_eq!(
            lopsided.validate().unwrap_err().path,
            "max_export_batch_size"
        );
    }

    #[test]
    fn headers_timeout_protocol_and_service_come_from_the_standard_variables() {
        let r = OtlpConfig::default()
            .resolve_with(env(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x=1"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=2"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=svc,team=ai"),
            ]))
            .unwrap();
        assert_eq!(
            r.headers,
            [("api-key".into(), "a b".into()), ("x".into(), "2".into())]
        );
        assert_eq!(r.timeout, Duration::from_millis(1500));
        assert_eq!(r.protocol, Protocol::HttpJson);
        assert!(r.resource.contains(&("service.name".into(), "svc".into())));
        assert!(r.resource.contains(&("team".into(), "ai".into())));
    }

    #[test]
    fn a_configured_service_name_beats_the_environment_in_either_field() {
        let vars = env(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
        ]);
        let service = |c: OtlpConfig| {
            let r = c.resolve_with(&vars).unwrap();
            let found = r.resource.iter().find(|(k, _)| k == "service.name");
            found.map(|(_, v)| v.clone()).unwrap()
        };
        let in_attributes = OtlpConfig {
            resource_attributes: [("service.name".into(), "from-config".into())].into(),
            ..Default::default()
        };
        assert_eq!(service(in_attributes), "from-config");
        assert_eq!(service(OtlpConfig::default()), "from-env");
    }

    #[test]
    fn the_openinference_hide_variables_apply_in_that_mode_only() {
        let vars = env(&[
            ("OPENINFERENCE_HIDE_INPUT_TEXT", "true"),
            ("OPENINFERENCE_HIDE_OUTPUT_MESSAGES", "1"),
            ("OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS", "TRUE"),
            ("OPENINFERENCE_HIDE_INPUT_IMAGES", "false"),
        ]);
        let oi = OtlpConfig {
            mode: Mode::Openinference,
            ..Default::default()
        };
        let hide = oi.resolve_with(&vars).unwrap().hide;
        assert_eq!(
            hide,
            Hide {
                input_text: true,
                output_messages: true,
                invocation_parameters: true,
                ..Hide::default()
            }
        );
        let genai = OtlpConfig::default().resolve_with(&vars).unwrap();
        assert_eq!(genai.hide, Hide::default());
    }

    #[test]
    fn grpc_is_reported_with_the_variable_that_asked_for_it() {
        let err = OtlpConfig::default()
            .resolve_with(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]))
            .unwrap_err();
        assert_eq!(err.path, "OTEL_EXPORTER_OTLP_PROTOCOL");
    }

    #[test]
    fn use_env_false_ignores_the_environment() {
        let c = OtlpConfig {
            use_env: false,
            ..Default::default()
        };
        let r = c
            .resolve_with(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:2")]))
            .unwrap();
        assert_eq!(r.endpoint, "http://localhost:4318/v1/traces");
    }
}
