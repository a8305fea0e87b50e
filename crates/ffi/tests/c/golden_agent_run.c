/*
 * The scripted agent run of tests/golden/README.md, from C.
 *
 * Prints the raw event stream (one canonical event per line) on stdout;
 * test-c.sh pipes it through tests/golden/normalize.py --check. Exits
 * non-zero if a step does not behave as the script says.
 */
#include "test_support.h"

#define STEP(expr)                                                                    \
    do {                                                                              \
        if ((expr) != NEMO_RELAY_STATUS_OK) {                                         \
            fprintf(stderr, "step failed: %s: %s\n", #expr, nemo_relay_last_error()); \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

/* add-trace: {...args, "trace": true}. The runtime writes objects with sorted
 * keys and no spaces, so appending before the closing brace is exact here. */
static int32_t add_trace(void *ud, const char *ctx, const char *args, char **out_json) {
    (void)ud;
    (void)ctx;
    size_t len = strlen(args);
    if (len < 2 || args[len - 1] != '}') return NEMO_RELAY_STATUS_OK; /* not an object: unchanged */
    char *buf = (char *)malloc(len + 16);
    memcpy(buf, args, len - 1);
    strcpy(buf + len - 1, len == 2 ? "\"trace\":true}" : ",\"trace\":true}");
    *out_json = buf;
    return NEMO_RELAY_STATUS_OK;
}

/* redact-api-key: "api_key" -> "[REDACTED]" (the script's only secret). */
static int32_t redact_api_key(void *ud, const char *ctx, const char *args, char **out_json) {
    (void)ud;
    (void)ctx;
    const char *secret = "\"api_key\":\"sk-123\"";
    const char *at = strstr(args, secret);
    if (at == NULL) return NEMO_RELAY_STATUS_OK;
    const char *replacement = "\"api_key\":\"[REDACTED]\"";
    size_t n = strlen(args) - strlen(secret) + strlen(replacement) + 1;
    char *buf = (char *)malloc(n);
    snprintf(buf, n, "%.*s%s%s", (int)(at - args), args, replacement, at + strlen(secret));
    *out_json = buf;
    return NEMO_RELAY_STATUS_OK;
}

/* no-rm: reject tool "shell" when the command starts with "rm". */
static int32_t no_rm(void *ud, const char *ctx, const char *args, char **out_reason) {
    (void)ud;
    if (strstr(ctx, "\"name\":\"shell\"") && strstr(args, "\"cmd\":\"rm")) {
        *out_reason = lib_string("destructive command");
    }
    return NEMO_RELAY_STATUS_OK;
}

static int g_search_ok;
static int32_t search(void *ud, const char *args, char **out_json) {
    (void)ud;
    /* The tool sees the intercepted, unredacted arguments. */
    g_search_ok = strcmp(args, "{\"api_key\":\"sk-123\",\"query\":\"nemo relay\",\"trace\":true}") == 0;
    *out_json = lib_string("{\"hits\":[\"nemo relay\"],\"traced\":true}");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t chat(void *ud, const char *request, char **out_json) {
    (void)ud;
    (void)request;
    *out_json = lib_string("{\"message\":{\"content\":\"summary\",\"role\":\"assistant\"}}");
    return NEMO_RELAY_STATUS_OK;
}

static int g_shell_runs;
static int32_t shell(void *ud, const char *args, char **out_json) {
    (void)ud;
    (void)args;
    g_shell_runs++;
    *out_json = lib_string("{}");
    return NEMO_RELAY_STATUS_OK;
}

int main(void) {
    struct collector events;
    collector_init(&events);
    NemoRelayStack *stack = NULL;
    STEP(nemo_relay_stack_new(&stack));
    STEP(nemo_relay_register_subscriber("golden", 0, NULL, NULL, collector_on_event, &events, NULL));
    STEP(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "add-trace", 0, false, NULL,
                                     NULL, add_trace, NULL, NULL));
    STEP(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST, "redact-api-key", 0, false,
                                     NULL, NULL, redact_api_key, NULL, NULL));
    STEP(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "no-rm", 0, NULL, NULL,
                                   no_rm, NULL, NULL));

    NemoRelayScope *agent = NULL;
    STEP(nemo_relay_scope_push(stack, "agent", NEMO_RELAY_SCOPE_TYPE_AGENT,
                               "{\"input\":{\"task\":\"find docs\"}}", &agent));
    STEP(nemo_relay_mark(stack, "plan", "{\"data\":{\"step\":1}}"));
    char *result = NULL;
    STEP(nemo_relay_tool_execute(stack, "search", "{\"query\":\"nemo relay\",\"api_key\":\"sk-123\"}",
                                 "{\"tool_call_id\":\"call-1\"}", search, NULL, NULL, &result));
    nemo_relay_string_free(result);
    STEP(nemo_relay_llm_execute(stack, "chat",
                                "{\"headers\":{\"authorization\":\"Bearer sk-live\",\"x-team\":\"docs\"},"
                                "\"content\":{\"messages\":[{\"role\":\"user\",\"content\":\"summarize\"}]}}",
                                "{\"model_name\":\"demo-model\"}", chat, NULL, NULL, &result));
    nemo_relay_string_free(result);
    NemoRelayStatus rejected =
        nemo_relay_tool_execute(stack, "shell", "{\"cmd\":\"rm -rf /\"}", NULL, shell, NULL, NULL, &result);
    STEP(nemo_relay_mark(stack, "done", "{\"data\":{\"ok\":true}}"));
    STEP(nemo_relay_scope_pop(stack, agent, "{\"output\":{\"answer\":\"summary\"}}"));
    STEP(nemo_relay_flush());

    for (size_t i = 0; i < events.count; i++) printf("%s\n", events.lines[i]);

    STEP(nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "golden", NULL, NULL, NULL));
    STEP(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "add-trace", NULL, NULL, NULL));
    STEP(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST, "redact-api-key", NULL, NULL, NULL));
    STEP(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "no-rm", NULL, NULL, NULL));
    STEP(nemo_relay_shutdown());
    nemo_relay_scope_free(agent);
    nemo_relay_stack_free(stack);
    collector_clear(&events);

    int ok = 1;
    if (rejected != NEMO_RELAY_STATUS_GUARDRAIL_REJECTED || g_shell_runs != 0) {
        fprintf(stderr, "the shell call was not rejected (status %d)\n", (int)rejected);
        ok = 0;
    }
    if (!g_search_ok) {
        fprintf(stderr, "search did not receive the intercepted, unredacted arguments\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}
