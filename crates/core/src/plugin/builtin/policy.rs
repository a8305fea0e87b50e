//! `policy`: tool allow/deny lists and a per-scope call budget.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;
use crate::event::Json;
use crate::id::Uuid;
use crate::middleware::{guard, Verdict};
use crate::plugin::builtin::{config_strings, glob_match, string_list};
use crate::plugin::{ConfigCheck, PluginContext, PluginKind};
use crate::registry::Middleware;

/// How many scopes' budgets are remembered. Scope ids are time-ordered
/// (UUID v7), so evicting the smallest forgets the oldest scope first.
const BUDGET_SCOPES: usize = 65_536;

/// Tool conditional-execution guardrails from allow/deny lists and budgets.
pub struct ToolPolicy;

impl PluginKind for ToolPolicy {
    fn kind(&self) -> &str {
        "policy"
    }

    fn description(&self) -> &str {
        "tool allow/deny lists and a per-scope tool call budget (conditional guardrails)"
    }

    fn validate(&self, check: &mut ConfigCheck<'_>) {
        check.known_fields("", &["allow", "deny", "max_calls_per_scope"]);
        let allow = string_list(check, "allow");
        let deny = string_list(check, "deny");
        let budget = check.typed("max_calls_per_scope", "a positive integer", |v| {
            v.as_u64().is_some_and(|n| n > 0 && n <= u32::MAX as u64)
        });
        if allow.as_ref().is_some_and(|a| a.is_empty()) {
            check.warn(
                "allow",
                "policy.empty_allow",
                "an empty 'allow' list allows no tool: every tool call is rejected",
            );
        }
        if allow.is_none() && deny.is_none() && budget.is_none() {
            check.error(
                "allow",
                "plugin.missing_field",
                "configure at least one of 'allow', 'deny' or 'max_calls_per_scope'",
            );
        }
    }

    fn register(&self, config: &Json, ctx: &mut PluginContext) -> Result<()> {
        let list = |field: &str| config_strings(config, field);
        // An `allow` list, once given, is the whole list of what may run:
        // an empty one allows nothing (it must not fail open).
        let allow = config.get("allow").is_some().then(|| list("allow"));
        let deny = list("deny");
        if allow.is_some() || !deny.is_empty() {
            ctx.register(
                "allow-deny",
                Middleware::ToolConditionalExecution(guard(move |call, _: &Json| {
                    let name = &*call.name;
                    if deny.iter().any(|p| glob_match(p, name)) {
                        return Ok(Verdict::Reject(format!(
                            "tool '{name}' is denied by policy"
                        )));
                    }
                    if allow
                        .as_ref()
                        .is_some_and(|a| !a.iter().any(|p| glob_match(p, name)))
                    {
                        return Ok(Verdict::Reject(format!(
                            "tool '{name}' is not in the policy's allow list"
                        )));
                    }
                    Ok(Verdict::Allow)
                })),
            )?;
        }
        if let Some(max) = config["max_calls_per_scope"].as_u64() {
            let used: Arc<Mutex<BTreeMap<Uuid, u64>>> = Arc::default();
            ctx.register(
                "budget",
                Middleware::ToolConditionalExecution(guard(move |call, _: &Json| {
                    let mut used = used.lock();
                    let n = used.entry(call.parent_uuid).or_default();
                    if *n >= max {
                        return Ok(Verdict::Reject(format!(
                            "tool call budget of {max} per scope is exhausted"
                        )));
                    }
                    *n += 1;
                    if used.len() > BUDGET_SCOPES {
                        used.pop_first();
                    }
                    Ok(Verdict::Allow)
                })),
            )?;
        }
        Ok(())
    }
}
