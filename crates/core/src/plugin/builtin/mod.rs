//! Built-in plugin kinds.
//!
//! | kind | installs | config |
//! |---|---|---|
//! | `header-injection` | an LLM request intercept adding headers | `headers` (object of strings, required; names must be HTTP tokens, values free of CR/LF/NUL), `overwrite` (bool, default true), `llm_names` (array, default all calls), `priority` (int) |
//! | `redaction` | sanitize guardrails redacting emitted payloads | `fields` (names, case-insensitive), `patterns` (`email`, `api_key`, `bearer_token`, `credit_card` or a regex), `replacement` (default `"[REDACTED]"`), `targets` (`tool_request`, `tool_response`, `llm_request`, `llm_response`; default all) |
//! | `policy` | tool conditional-execution guardrails | `allow`, `deny` (tool-name globs with `*`; a given `allow` list is all that may run, so an empty one allows nothing), `max_calls_per_scope` (per parent scope) |

mod headers;
mod policy;
mod redaction;

use std::sync::Arc;

use crate::plugin::PluginKind;

pub use headers::HeaderInjection;
pub use policy::ToolPolicy;
pub use redaction::Redaction;

/// Every built-in kind.
pub fn all() -> Vec<Arc<dyn PluginKind>> {
    vec![
        Arc::new(HeaderInjection),
        Arc::new(Redaction),
        Arc::new(ToolPolicy),
    ]
}

/// Helpers shared by the built-in validators.
pub(crate) fn string_list<'a>(
    check: &mut crate::plugin::ConfigCheck<'a>,
    field: &str,
) -> Option<Vec<&'a str>> {
    let v = check.typed(field, "an array of strings", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().all(|x| x.is_string()))
    })?;
    Some(v.as_array()?.iter().filter_map(|x| x.as_str()).collect())
}

/// The strings of array field `field` of a (validated) component config.
pub(crate) fn config_strings(config: &crate::event::Json, field: &str) -> Vec<String> {
    config[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `*`-wildcard match (the only metacharacter), for tool and call names.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_with_star_wildcards_only() {
        assert!(glob_match("shell", "shell"));
        assert!(!glob_match("shell", "shell2"));
        assert!(glob_match("fs.*", "fs.read"));
        assert!(glob_match("*_admin", "db_admin"));
        assert!(glob_match("a*b*c", "a-x-b-y-c"));
        assert!(!glob_match("a*b*c", "a-c"));
        assert!(glob_match("*", "anything"));
    }
}
