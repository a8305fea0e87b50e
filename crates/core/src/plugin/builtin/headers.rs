//! `header-injection`: add headers to outgoing LLM requests.

use std::sync::Arc;

use crate::error::Result;
use crate::event::Json;
use crate::middleware::{is_header_name, is_header_value, LlmRequest, Step};
use crate::plugin::builtin::{glob_match, string_list};
use crate::plugin::{ConfigCheck, PluginContext, PluginKind};
use crate::registry::{Middleware, Registration};

/// LLM request intercept that injects configured headers.
pub struct HeaderInjection;

impl PluginKind for HeaderInjection {
    fn kind(&self) -> &str {
        "header-injection"
    }

    fn description(&self) -> &str {
        "adds configured headers to LLM requests (request intercept)"
    }

    fn validate(&self, check: &mut ConfigCheck<'_>) {
        check.known_fields("", &["headers", "overwrite", "llm_names", "priority"]);
        if let Some(h) = check.require("headers", "an object of header name → string value") {
            match h.as_object() {
                Some(obj) => {
                    for (k, v) in obj {
                        // What an HTTP client would refuse (or, worse, send
                        // as two headers) is refused here, before any call.
                        if !is_header_name(k) {
                            check.error(
                                &format!("headers.{k}"),
                                "plugin.invalid_value",
                                format!("'{}' is not an HTTP header name", k.escape_debug()),
                            );
                        }
                        match v.as_str() {
                            None => check.error(
                                &format!("headers.{k}"),
                                "plugin.invalid_type",
                                format!("header '{k}' must be a string, got {v}"),
                            ),
                            Some(s) if !is_header_value(s) => check.error(
                                &format!("headers.{k}"),
                                "plugin.invalid_value",
                                format!("header '{k}' must not contain control characters"),
                            ),
                            Some(_) => {}
                        }
                    }
                }
                None => check.error(
                    "headers",
                    "plugin.invalid_type",
                    "'headers' must be an object",
                ),
            }
        }
        check.typed("overwrite", "true or false", Json::is_boolean);
        check.typed("priority", "an integer", |v| {
            v.as_i64().is_some_and(|p| i32::try_from(p).is_ok())
        });
        string_list(check, "llm_names");
    }

    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        let headers: Vec<(String, Json)> = config["headers"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let overwrite = config["overwrite"].as_bool().unwrap_or(true);
        let names: Option<Vec<String>> = config["llm_names"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
        let priority = config["priority"].as_i64().unwrap_or(0) as i32;
        let intercept = Arc::new(move |call: &crate::CallContext, mut req: LlmRequest| {
            let applies = names
                .as_ref()
                .is_none_or(|n| n.iter().any(|p| glob_match(p, &call.name)));
            if applies {
                for (k, v) in &headers {
                    if overwrite || !req.headers.contains_key(k) {
                        req.headers.insert(k.clone(), v.clone());
                    }
                }
            }
            Step::ready(Ok(req))
        });
        ctx.register_with(
            Registration::new("inject", Middleware::LlmRequestIntercept(intercept))
                .priority(priority),
        )
    }
}
