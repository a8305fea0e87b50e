//! `redaction`: scrub sensitive fields and patterns from emitted payloads.
//!
//! Installs sanitize guardrails, so only what subscribers and exporters see
//! is redacted; tools and providers still receive the real data. Their
//! reach is the tool and LLM request and response payloads: error
//! messages, guardrail reasons, scope inputs and mark data are not
//! payloads a sanitizer sees, and are emitted as they are.

use std::sync::Arc;

use regex::Regex;

use crate::error::{RelayError, Result};
use crate::event::Json;
use crate::middleware::{rewrite, LlmRequest};
use crate::plugin::builtin::{config_strings, string_list};
use crate::plugin::{ConfigCheck, PluginContext, PluginKind};
use crate::registry::Middleware;

/// Named patterns for common secrets and personal data.
const NAMED: [(&str, &str); 4] = [
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    (
        "api_key",
        r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}",
    ),
    ("bearer_token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    ("credit_card", r"\b(?:\d[ -]?){12,15}\d\b"),
];

const TARGETS: [&str; 4] = [
    "tool_request",
    "tool_response",
    "llm_request",
    "llm_response",
];

fn compile(pattern: &str) -> std::result::Result<Regex, String> {
    let source = NAMED
        .iter()
        .find(|(n, _)| *n == pattern)
        .map_or(pattern, |(_, re)| re);
    Regex::new(source).map_err(|e| e.to_string())
}

/// The redaction rules of one component.
struct Rules {
    fields: Vec<String>,
    patterns: Vec<Regex>,
    replacement: String,
}

impl Rules {
    fn redact(&self, v: &mut Json) {
        match v {
            Json::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if self.fields.iter().any(|f| f.eq_ignore_ascii_case(k)) {
                        *val = Json::String(self.replacement.clone());
                    } else {
                        self.redact(val);
                    }
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|i| self.redact(i)),
            Json::String(s) => {
                for re in &self.patterns {
                    if re.is_match(s) {
                        *s = re.replace_all(s, self.replacement.as_str()).into_owned();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sanitize guardrails that redact configured fields and patterns.
pub struct Redaction;

impl PluginKind for Redaction {
    fn kind(&self) -> &str {
        "redaction"
    }

    fn description(&self) -> &str {
        "redacts field names and patterns (emails, API keys …) from emitted payloads (sanitize guardrails)"
    }

    fn validate(&self, check: &mut ConfigCheck<'_>) {
        check.known_fields("", &["fields", "patterns", "replacement", "targets"]);
        let fields = string_list(check, "fields").unwrap_or_default();
        let patterns = string_list(check, "patterns").unwrap_or_default();
        if fields.is_empty() && patterns.is_empty() {
            check.error(
                "fields",
                "plugin.missing_field",
                "configure at least one of 'fields' (key names to redact) or 'patterns' (email, api_key, bearer_token, credit_card, or a regex)",
            );
        }
        for (i, p) in patterns.iter().enumerate() {
            if let Err(e) = compile(p) {
                check.error(
                    &format!("patterns[{i}]"),
                    "plugin.invalid_value",
                    format!("invalid regex '{p}': {e}"),
                );
            }
        }
        check.typed("replacement", "a string", Json::is_string);
        for (i, t) in string_list(check, "targets")
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !TARGETS.contains(t) {
                check.unsupported(
                    &format!("targets[{i}]"),
                    format!("unknown target '{t}' (supported: {})", TARGETS.join(", ")),
                );
            }
        }
    }

    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        let list = |field: &str| config_strings(config, field);
        let patterns = list("patterns")
            .iter()
            .map(|p| compile(p).map_err(|e| RelayError::invalid(format!("pattern '{p}': {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let rules = Arc::new(Rules {
            fields: list("fields"),
            patterns,
            replacement: config["replacement"]
                .as_str()
                .unwrap_or("[REDACTED]")
                .to_owned(),
        });
        let targets = list("targets");
        let wants = |t: &str| targets.is_empty() || targets.iter().any(|x| x == t);
        let json_rule = |rules: &Arc<Rules>| {
            let rules = rules.clone();
            rewrite(move |_, mut v: Json| {
                rules.redact(&mut v);
                Ok(v)
            })
        };
        if wants("tool_request") {
            ctx.register(
                "tool-request",
                Middleware::ToolSanitizeRequest(json_rule(&rules)),
            )?;
        }
        if wants("tool_response") {
            ctx.register(
                "tool-response",
                Middleware::ToolSanitizeResponse(json_rule(&rules)),
            )?;
        }
        if wants("llm_request") {
            let r = rules.clone();
            let llm = rewrite(move |_, mut req: LlmRequest| {
                r.redact(&mut req.content);
                let mut headers = Json::Object(std::mem::take(&mut req.headers));
                r.redact(&mut headers);
                if let Json::Object(h) = headers {
                    req.headers = h;
                }
                Ok(req)
            });
            ctx.register("llm-request", Middleware::LlmSanitizeRequest(llm))?;
        }
        if wants("llm_response") {
            ctx.register(
                "llm-response",
                Middleware::LlmSanitizeResponse(json_rule(&rules)),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_patterns_and_fields_are_redacted_recursively() {
        let rules = Rules {
            fields: vec!["password".into()],
            patterns: ["email", "api_key", "bearer_token"]
                .iter()
                .map(|p| compile(p).unwrap())
                .collect(),
            replacement: "[X]".into(),
        };
        let mut v = json!({
            "user": {"Password": "hunter2", "note": "mail bob@example.com now"},
            "keys": ["sk-abcdefghijklmnopqrstuv", "Bearer abc.def.ghi123", "ok"],
        });
        rules.redact(&mut v);
        assert_eq!(
            v,
            json!({"user": {"Password": "[X]", "note": "mail [X] now"}, "keys": ["[X]", "[X]", "ok"]})
        );
    }
}
