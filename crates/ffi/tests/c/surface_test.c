/*
 * The C ABI surface from C: scopes, marks, manual and managed calls,
 * middleware of every shape, streams, and their error paths.
 *
 * Built and run by crates/ffi/scripts/test-c.sh under ASan/UBSan/LSan (or
 * valgrind), so every library string and handle must be released here.
 */
#include "test_support.h"

static struct collector g_events;

/* ---- callbacks used by several cases ---------------------------------- */

/* Tool: {"echo": <args>}. */
static int32_t echo_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    size_t n = strlen(args_json) + 16;
    char *buf = (char *)malloc(n);
    snprintf(buf, n, "{\"echo\":%s}", args_json);
    *out_json = buf; /* plain malloc is allowed for callback results */
    return NEMO_RELAY_STATUS_OK;
}

static int32_t failing_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    *out_json = lib_string("boom");
    return NEMO_RELAY_STATUS_INTERNAL;
}

static int32_t garbage_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    *out_json = lib_string("not json");
    return NEMO_RELAY_STATUS_OK;
}

static int g_tool_runs;
static int32_t counting_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    g_tool_runs++;
    *out_json = lib_string("{\"ran\":true}");
    return NEMO_RELAY_STATUS_OK;
}

/* Guard: reject when the request mentions "rm". */
static int32_t deny_rm(void *ud, const char *ctx, const char *request, char **out_reason) {
    (void)ud;
    (void)ctx;
    if (strstr(request, "rm") != NULL) *out_reason = lib_string("rm is blocked");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t allow_all(void *ud, const char *ctx, const char *request, char **out_reason) {
    (void)ud;
    (void)ctx;
    (void)request;
    (void)out_reason;
    return NEMO_RELAY_STATUS_OK;
}

/* Request intercept: wrap args as {"inner": args, "intercepted": true}. */
static int32_t wrap_args(void *ud, const char *ctx, const char *value, char **out_json) {
    (void)ud;
    (void)ctx;
    size_t n = strlen(value) + 40;
    char *buf = (char *)malloc(n);
    snprintf(buf, n, "{\"inner\":%s,\"intercepted\":true}", value);
    *out_json = buf;
    return NEMO_RELAY_STATUS_OK;
}

/* Sanitizer: replace the whole payload. */
static int32_t redact_all(void *ud, const char *ctx, const char *value, char **out_json) {
    (void)ud;
    (void)ctx;
    (void)value;
    *out_json = lib_string("\"[redacted]\"");
    return NEMO_RELAY_STATUS_OK;
}

/* ---- scopes and marks -------------------------------------------------- */

static void test_scopes_push_and_pop_in_order_and_report_misuse(void) {
    NemoRelayStack *stack = NULL;
    CHECK_OK(nemo_relay_stack_new(&stack));
    NemoRelayScope *outer = NULL, *inner = NULL;
    CHECK_OK(nemo_relay_scope_push(stack, "outer", NEMO_RELAY_SCOPE_TYPE_AGENT,
                                   "{\"input\":{\"task\":1},\"attributes\":[\"parallel\"]}", &outer));
    CHECK_OK(nemo_relay_scope_push(stack, "inner", NEMO_RELAY_SCOPE_TYPE_FUNCTION, NULL, &inner));

    CHECK(nemo_relay_scope_pop(stack, outer, NULL) == NEMO_RELAY_STATUS_SCOPE_NOT_ON_TOP);
    CHECK(last_error_mentions("outer"));
    CHECK_OK(nemo_relay_scope_pop(stack, inner, "{\"output\":1}"));
    CHECK(nemo_relay_scope_pop(stack, inner, NULL) == NEMO_RELAY_STATUS_NOT_FOUND); /* stale */

    char *uuid = NULL;
    CHECK_OK(nemo_relay_scope_uuid(outer, &uuid));
    CHECK(uuid != NULL && strlen(uuid) == 36);
    char *json = NULL;
    CHECK_OK(nemo_relay_scope_json(outer, &json));
    CHECK(json != NULL && strstr(json, "\"name\":\"outer\"") && strstr(json, "\"parallel\""));
    nemo_relay_string_free(json);

    /* A scope of another stack is foreign here. */
    NemoRelayStack *other = NULL;
    CHECK_OK(nemo_relay_stack_new(&other));
    CHECK(nemo_relay_scope_pop(other, outer, NULL) == NEMO_RELAY_STATUS_FOREIGN_SCOPE);
    CHECK_OK(nemo_relay_scope_pop(stack, outer, NULL));

    /* With everything popped, the top is the implicit root, which stays. */
    NemoRelayScope *root = NULL;
    CHECK_OK(nemo_relay_stack_top(stack, &root));
    CHECK(nemo_relay_scope_pop(stack, root, NULL) == NEMO_RELAY_STATUS_ROOT_SCOPE);

    nemo_relay_string_free(uuid);
    nemo_relay_scope_free(root);
    nemo_relay_scope_free(inner);
    nemo_relay_scope_free(outer);
    nemo_relay_stack_free(other);
    nemo_relay_stack_free(stack);
}

static void test_bad_arguments_are_reported_not_crashed_on(void) {
    NemoRelayScope *scope = (NemoRelayScope *)&scope; /* must be reset to NULL */
    CHECK(nemo_relay_scope_push(NULL, "s", 999, NULL, &scope) == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(scope == NULL && last_error_mentions("scope_type"));
    CHECK(nemo_relay_scope_push(NULL, "s", -1, NULL, &scope) == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_scope_push(NULL, "bad\xff", 0, NULL, &scope) == NEMO_RELAY_STATUS_INVALID_UTF8);
    CHECK(nemo_relay_scope_push(NULL, NULL, 0, NULL, &scope) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_scope_push(NULL, "s", 0, "{\"input\":", &scope) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(nemo_relay_scope_push(NULL, "s", 0, "{\"inptu\":1}", &scope) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(last_error_mentions("inptu"));
    CHECK(nemo_relay_scope_push(NULL, "", 0, NULL, &scope) == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_scope_push(NULL, "s", 0, "{\"metadata\":[1]}", &scope) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_scope_push(NULL, "s", 0, "{\"attributes\":4096}", &scope) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_scope_push(NULL, "s", 0, NULL, NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_scope_pop(NULL, NULL, NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_mark(NULL, "m", "{\"category\":\"robot\"}") == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    char *out = NULL;
    CHECK(nemo_relay_registrations(12, &out) == NEMO_RELAY_STATUS_INVALID_ARGUMENT && out == NULL);
    CHECK(nemo_relay_stream_next(NULL, &out) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_next_run(NULL, "{}", &out) == NEMO_RELAY_STATUS_NULL_POINTER);
}

static void test_every_free_function_accepts_null(void) {
    nemo_relay_stack_free(NULL);
    nemo_relay_scope_free(NULL);
    nemo_relay_tool_free(NULL);
    nemo_relay_llm_free(NULL);
    nemo_relay_stream_free(NULL);
    nemo_relay_string_free(NULL);
}

static void test_scopes_and_marks_reach_a_subscriber_in_order(void) {
    NemoRelayStack *stack = NULL;
    CHECK_OK(nemo_relay_stack_new(&stack));
    collector_clear(&g_events);
    NemoRelayScope *scope = NULL;
    CHECK_OK(nemo_relay_scope_push(stack, "order-scope", NEMO_RELAY_SCOPE_TYPE_AGENT, NULL, &scope));
    CHECK_OK(nemo_relay_mark(stack, "order-mark", "{\"data\":{\"n\":1},\"data_schema\":{\"name\":\"s\",\"version\":\"1\"}}"));
    CHECK_OK(nemo_relay_scope_pop(stack, scope, NULL));
    CHECK_OK(nemo_relay_flush());
    CHECK(g_events.count == 3);
    if (g_events.count == 3) {
        CHECK(strstr(g_events.lines[0], "\"scope_category\":\"start\""));
        CHECK(strstr(g_events.lines[1], "\"name\":\"order-mark\""));
        CHECK(strstr(g_events.lines[1], "\"data_schema\":{\"name\":\"s\",\"version\":\"1\"}"));
        CHECK(strstr(g_events.lines[2], "\"scope_category\":\"end\""));
    }
    nemo_relay_scope_free(scope);
    nemo_relay_stack_free(stack);
}

/* ---- managed calls ----------------------------------------------------- */

static void test_tool_execute_returns_the_result_and_releases_user_data_once(void) {
    int freed = 0;
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "echo", "{\"q\":1}", "{\"tool_call_id\":\"c1\"}", echo_tool,
                                     counted_new(&freed, "echo"), counted_free, &result));
    CHECK(result != NULL && strcmp(result, "{\"echo\":{\"q\":1}}") == 0);
    CHECK(load_count(&freed) == 1);
    nemo_relay_string_free(result);
}

static void test_execute_releases_user_data_even_when_arguments_are_invalid(void) {
    int freed = 0;
    char *result = NULL;
    CHECK(nemo_relay_tool_execute(NULL, "t", "{", NULL, echo_tool, counted_new(&freed, "a"), counted_free,
                                  &result) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(nemo_relay_tool_execute(NULL, "t", "{}", NULL, NULL, counted_new(&freed, "b"), counted_free,
                                  &result) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_tool_execute(NULL, "t", "{}", NULL, echo_tool, counted_new(&freed, "c"), counted_free,
                                  NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_llm_execute(NULL, "l", "{\"body\":1}", NULL, echo_tool, counted_new(&freed, "d"),
                                 counted_free, &result) == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(result == NULL);
    CHECK(load_count(&freed) == 4);
}

static void test_failing_callbacks_report_callback_failed_with_their_message(void) {
    char *result = NULL;
    CHECK(nemo_relay_tool_execute(NULL, "fails", "{}", NULL, failing_tool, NULL, NULL, &result) ==
          NEMO_RELAY_STATUS_CALLBACK_FAILED);
    CHECK(last_error_mentions("boom"));
    CHECK(nemo_relay_tool_execute(NULL, "garbage", "{}", NULL, garbage_tool, NULL, NULL, &result) ==
          NEMO_RELAY_STATUS_CALLBACK_FAILED);
    CHECK(last_error_mentions("not valid JSON"));
    CHECK(result == NULL);
}

static void test_a_rejecting_guardrail_blocks_the_call_and_emits_only_a_mark(void) {
    int freed = 0;
    CHECK_OK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "deny-rm", 0, NULL,
                                       NULL, deny_rm, counted_new(&freed, "g"), counted_free));
    collector_clear(&g_events);
    g_tool_runs = 0;
    char *result = NULL;
    CHECK(nemo_relay_tool_execute(NULL, "shell", "{\"cmd\":\"rm\"}", NULL, counting_tool, NULL, NULL,
                                  &result) == NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    CHECK(last_error_mentions("rm is blocked") && last_error_mentions("deny-rm"));
    CHECK(g_tool_runs == 0 && result == NULL);
    CHECK_OK(nemo_relay_tool_execute(NULL, "shell", "{\"cmd\":\"ls\"}", NULL, counting_tool, NULL, NULL,
                                     &result));
    CHECK(g_tool_runs == 1);
    nemo_relay_string_free(result);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, "\"rejection_reason\":\"rm is blocked\"") == 1);
    CHECK(collector_count(&g_events, "\"kind\":\"scope\"") == 2); /* only the allowed call */
    bool removed = false;
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "deny-rm", NULL, NULL,
                                   &removed));
    CHECK(removed && load_count(&freed) == 1);
}

static char g_seen_args[256];
static int32_t remember_args_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    snprintf(g_seen_args, sizeof g_seen_args, "%s", args_json);
    *out_json = lib_string("{\"secret\":\"s3cr3t\"}");
    return NEMO_RELAY_STATUS_OK;
}

static void test_request_intercepts_rewrite_the_call_and_sanitizers_only_the_events(void) {
    CHECK_OK(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "wrap", 0, true, NULL,
                                         NULL, wrap_args, NULL, NULL));
    CHECK_OK(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_SANITIZE_RESPONSE, "redact", 0, false,
                                         NULL, NULL, redact_all, NULL, NULL));
    collector_clear(&g_events);
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "lookup", "{\"k\":1}", NULL, remember_args_tool, NULL, NULL,
                                     &result));
    CHECK(strcmp(g_seen_args, "{\"inner\":{\"k\":1},\"intercepted\":true}") == 0);
    CHECK(result && strstr(result, "s3cr3t")); /* the caller gets the real result */
    nemo_relay_string_free(result);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, "s3cr3t") == 0); /* events do not */
    CHECK(collector_count(&g_events, "[redacted]") == 1);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "wrap", NULL, NULL, NULL));
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_SANITIZE_RESPONSE, "redact", NULL, NULL, NULL));
}

static const NemoRelayNext *g_kept_next;
static int32_t retry_twice(void *ud, const char *ctx, const char *request, const NemoRelayNext *next,
                           char **out_json) {
    (void)ud;
    CHECK(strstr(ctx, "\"kind\":\"tool\"") && strstr(ctx, "\"name\":\"wrapped\""));
    g_kept_next = next;
    char *first = NULL;
    int32_t status = nemo_relay_next_run(next, request, &first);
    if (status != NEMO_RELAY_STATUS_OK) return status;
    nemo_relay_string_free(first);
    return nemo_relay_next_run(next, request, out_json); /* the second result is returned */
}

static int32_t short_circuit(void *ud, const char *ctx, const char *request, const NemoRelayNext *next,
                             char **out_json) {
    (void)ud;
    (void)ctx;
    (void)request;
    (void)next;
    *out_json = lib_string("{\"cached\":true}");
    return NEMO_RELAY_STATUS_OK;
}

static void test_execution_intercepts_wrap_the_tool_and_next_expires_after_return(void) {
    CHECK_OK(nemo_relay_register_intercept(NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT, "retry", 0, NULL,
                                           NULL, retry_twice, NULL, NULL));
    g_tool_runs = 0;
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "wrapped", "{}", NULL, counting_tool, NULL, NULL, &result));
    CHECK(g_tool_runs == 2 && result && strcmp(result, "{\"ran\":true}") == 0);
    nemo_relay_string_free(result);
    /* A continuation kept past its intercept is expired, not dangling. */
    CHECK(nemo_relay_next_run(g_kept_next, "{}", &result) == NEMO_RELAY_STATUS_CONTINUATION_EXPIRED);
    CHECK(result == NULL);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT, "retry", NULL, NULL, NULL));

    CHECK_OK(nemo_relay_register_intercept(NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT, "cache", 0, NULL,
                                           NULL, short_circuit, NULL, NULL));
    g_tool_runs = 0;
    CHECK_OK(nemo_relay_tool_execute(NULL, "wrapped", "{}", NULL, counting_tool, NULL, NULL, &result));
    CHECK(g_tool_runs == 0 && result && strcmp(result, "{\"cached\":true}") == 0);
    nemo_relay_string_free(result);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT, "cache", NULL, NULL, NULL));
}

static int32_t add_header(void *ud, const char *ctx, const char *request, char **out_json) {
    (void)ud;
    (void)ctx;
    CHECK(strstr(request, "\"headers\""));
    *out_json = lib_string("{\"headers\":{\"authorization\":\"Bearer k\",\"x-added\":\"1\"},"
                           "\"content\":{\"prompt\":\"hi\"}}");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t provider_sees_header(void *ud, const char *request, char **out_json) {
    (void)ud;
    CHECK(strstr(request, "\"x-added\":\"1\"") && strstr(request, "Bearer k"));
    *out_json = lib_string("{\"text\":\"hello\"}");
    return NEMO_RELAY_STATUS_OK;
}

static void test_llm_calls_run_their_middleware_and_keep_credentials_out_of_events(void) {
    CHECK_OK(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_LLM_REQUEST_INTERCEPT, "hdr", 0, false, NULL,
                                         NULL, add_header, NULL, NULL));
    collector_clear(&g_events);
    char *response = NULL;
    CHECK_OK(nemo_relay_llm_execute(NULL, "chat", "{\"content\":{\"prompt\":\"hi\"}}",
                                    "{\"model_name\":\"m1\"}", provider_sees_header, NULL, NULL, &response));
    CHECK(response && strcmp(response, "{\"text\":\"hello\"}") == 0);
    nemo_relay_string_free(response);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, "\"model_name\":\"m1\"") == 2);
    CHECK(collector_count(&g_events, "Bearer") == 0);
    CHECK(collector_count(&g_events, "x-added") == 1);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_LLM_REQUEST_INTERCEPT, "hdr", NULL, NULL, NULL));
}

static void test_manual_calls_emit_start_and_end_events(void) {
    collector_clear(&g_events);
    NemoRelayTool *tool = NULL;
    CHECK_OK(nemo_relay_tool_start(NULL, "manual-tool", "{\"a\":1}", NULL, &tool));
    CHECK_OK(nemo_relay_tool_end(NULL, tool, "{\"ok\":true}", "{\"metadata\":{\"m\":1}}"));
    char *uuid = NULL;
    CHECK_OK(nemo_relay_tool_uuid(tool, &uuid));
    NemoRelayLlm *llm = NULL;
    CHECK_OK(nemo_relay_llm_start(NULL, "manual-llm", "{\"content\":\"hi\"}", NULL, &llm));
    CHECK_OK(nemo_relay_llm_fail(NULL, llm, "provider down", NULL));
    char *json = NULL;
    CHECK_OK(nemo_relay_llm_json(llm, &json));
    CHECK(json && strstr(json, "\"scope_type\":\"llm\""));
    CHECK(nemo_relay_tool_end(NULL, NULL, "{}", NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, uuid) == 2);
    CHECK(collector_count(&g_events, "provider down") == 1);
    nemo_relay_string_free(json);
    nemo_relay_string_free(uuid);
    nemo_relay_llm_free(llm);
    nemo_relay_tool_free(tool);
}

/* ---- registration ------------------------------------------------------ */

static void test_double_registration_is_rejected_and_each_user_data_freed_once(void) {
    int first = 0, second = 0;
    CHECK_OK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, "dup", 0, NULL, NULL,
                                       allow_all, counted_new(&first, "1"), counted_free));
    CHECK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, "dup", 0, NULL, NULL,
                                    allow_all, counted_new(&second, "2"), counted_free) ==
          NEMO_RELAY_STATUS_ALREADY_EXISTS);
    CHECK(load_count(&second) == 1 && load_count(&first) == 0);
    char *names = NULL;
    CHECK_OK(nemo_relay_registrations(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, &names));
    CHECK(names && strcmp(names, "[\"dup\"]") == 0);
    nemo_relay_string_free(names);
    bool removed = false;
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, "dup", NULL, NULL, &removed));
    CHECK(removed && load_count(&first) == 1);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, "dup", NULL, NULL, &removed));
    CHECK(!removed);
}

static void test_registration_errors_still_release_user_data(void) {
    int freed = 0;
    CHECK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "x", 0, NULL, NULL, allow_all,
                                    counted_new(&freed, "shape"), counted_free) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_register_guard(99, "x", 0, NULL, NULL, allow_all, counted_new(&freed, "range"),
                                    counted_free) == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST, "x", 0, true, NULL, NULL,
                                      redact_all, counted_new(&freed, "break"), counted_free) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, NULL, 0, NULL, NULL,
                                    allow_all, counted_new(&freed, "name"), counted_free) ==
          NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "x", 0, NULL, NULL, NULL,
                                    counted_new(&freed, "cb"), counted_free) == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_register_subscriber("bad\xfe", 0, NULL, NULL, collector_on_event,
                                         counted_new(&freed, "utf8"), counted_free) ==
          NEMO_RELAY_STATUS_INVALID_UTF8);
    CHECK(load_count(&freed) == 6);
}

static void test_scope_local_middleware_vanishes_when_its_scope_pops(void) {
    NemoRelayStack *stack = NULL;
    CHECK_OK(nemo_relay_stack_new(&stack));
    NemoRelayScope *scope = NULL;
    CHECK_OK(nemo_relay_scope_push(stack, "session", NEMO_RELAY_SCOPE_TYPE_AGENT, NULL, &scope));
    int freed = 0;
    CHECK_OK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "local-deny", 0, scope,
                                       stack, deny_rm, counted_new(&freed, "local"), counted_free));
    char *result = NULL;
    CHECK(nemo_relay_tool_execute(stack, "t", "\"rm\"", NULL, counting_tool, NULL, NULL, &result) ==
          NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    /* Another stack does not see it. */
    CHECK_OK(nemo_relay_tool_execute(NULL, "t", "\"rm\"", NULL, counting_tool, NULL, NULL, &result));
    nemo_relay_string_free(result);
    CHECK_OK(nemo_relay_scope_pop(stack, scope, NULL));
    CHECK(load_count(&freed) == 1);
    CHECK_OK(nemo_relay_tool_execute(stack, "t", "\"rm\"", NULL, counting_tool, NULL, NULL, &result));
    nemo_relay_string_free(result);
    /* Registering on a popped scope is NOT_FOUND, and still frees. */
    CHECK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "late", 0, scope, stack,
                                    deny_rm, counted_new(&freed, "late"), counted_free) ==
          NEMO_RELAY_STATUS_NOT_FOUND);
    CHECK(load_count(&freed) == 2);
    nemo_relay_scope_free(scope);
    nemo_relay_stack_free(stack);
}

/* ---- streams ----------------------------------------------------------- */

static int32_t three_chunks(void *ud, const char *request, uint64_t index, char **out_chunk) {
    (void)ud;
    CHECK(request != NULL && strstr(request, "\"content\""));
    if (index < 3) {
        char buf[32];
        snprintf(buf, sizeof buf, "{\"delta\":%llu}", (unsigned long long)index);
        *out_chunk = lib_string(buf);
    }
    return NEMO_RELAY_STATUS_OK;
}

static void test_a_streaming_call_yields_its_chunks_then_ends(void) {
    int freed = 0;
    collector_clear(&g_events);
    NemoRelayStream *stream = NULL;
    CHECK_OK(nemo_relay_llm_stream_execute(NULL, "streamed", "{\"content\":\"hi\"}", NULL, three_chunks,
                                           counted_new(&freed, "s"), counted_free, &stream));
    char *chunk = NULL;
    int chunks = 0;
    while (nemo_relay_stream_next(stream, &chunk) == NEMO_RELAY_STATUS_OK && chunk != NULL) {
        chunks++;
        nemo_relay_string_free(chunk);
    }
    CHECK(chunks == 3);
    CHECK_OK(nemo_relay_stream_next(stream, &chunk)); /* still finished */
    CHECK(chunk == NULL);
    CHECK_OK(nemo_relay_stream_close(stream));
    CHECK_OK(nemo_relay_stream_close(stream)); /* idempotent */
    nemo_relay_stream_free(stream);
    CHECK(load_count(&freed) == 1);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, "\"name\":\"llm.chunk\"") == 3);
    CHECK(collector_count(&g_events, "\"chunks\":[{\"delta\":0},{\"delta\":1},{\"delta\":2}]") == 1);
}

static void test_closing_a_stream_early_records_a_cancelled_end(void) {
    collector_clear(&g_events);
    NemoRelayStream *stream = NULL;
    CHECK_OK(nemo_relay_llm_stream_execute(NULL, "early", "{\"content\":\"hi\"}", NULL, three_chunks, NULL,
                                           NULL, &stream));
    char *chunk = NULL;
    CHECK_OK(nemo_relay_stream_next(stream, &chunk));
    nemo_relay_string_free(chunk);
    CHECK_OK(nemo_relay_stream_close(stream));
    CHECK_OK(nemo_relay_stream_next(stream, &chunk));
    CHECK(chunk == NULL);
    nemo_relay_stream_free(stream);
    CHECK_OK(nemo_relay_flush());
    CHECK(collector_count(&g_events, "\"error.type\":\"cancelled\"") == 1);
}

struct upper_state {
    NemoRelayStream *inner;
};

/* Pull fn of a transforming stream: wraps each downstream chunk. */
static int32_t wrap_chunks(void *ud, const char *request, uint64_t index, char **out_chunk) {
    (void)request;
    (void)index;
    struct upper_state *state = (struct upper_state *)ud;
    char *inner = NULL;
    int32_t status = nemo_relay_stream_next(state->inner, &inner);
    if (status != NEMO_RELAY_STATUS_OK || inner == NULL) return status;
    size_t n = strlen(inner) + 16;
    *out_chunk = (char *)malloc(n);
    snprintf(*out_chunk, n, "{\"wrapped\":%s}", inner);
    nemo_relay_string_free(inner);
    return NEMO_RELAY_STATUS_OK;
}

static void free_upper_state(void *ud) {
    struct upper_state *state = (struct upper_state *)ud;
    nemo_relay_stream_free(state->inner);
    free(state);
}

static int32_t wrapping_stream_intercept(void *ud, const char *ctx, const char *request,
                                         const NemoRelayNext *next, NemoRelayStream **out_stream) {
    (void)ud;
    CHECK(strstr(ctx, "\"kind\":\"llm_stream\""));
    struct upper_state *state = (struct upper_state *)calloc(1, sizeof *state);
    int32_t status = nemo_relay_next_run_stream(next, request, &state->inner);
    if (status != NEMO_RELAY_STATUS_OK) {
        free_upper_state(state);
        return status;
    }
    return nemo_relay_stream_new(wrap_chunks, state, free_upper_state, out_stream);
}

static void test_a_stream_intercept_can_transform_the_downstream_chunks(void) {
    CHECK_OK(nemo_relay_register_stream_intercept("wrap-chunks", 0, NULL, NULL, wrapping_stream_intercept,
                                                  NULL, NULL));
    NemoRelayStream *stream = NULL;
    CHECK_OK(nemo_relay_llm_stream_execute(NULL, "wrapped-stream", "{\"content\":\"hi\"}", NULL,
                                           three_chunks, NULL, NULL, &stream));
    char *chunk = NULL;
    CHECK_OK(nemo_relay_stream_next(stream, &chunk));
    CHECK(chunk && strcmp(chunk, "{\"wrapped\":{\"delta\":0}}") == 0);
    nemo_relay_string_free(chunk);
    nemo_relay_stream_free(stream); /* free without close: closes */
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_LLM_STREAM_EXECUTION_INTERCEPT, "wrap-chunks", NULL,
                                   NULL, NULL));
}

static void test_shutdown_is_idempotent_and_later_calls_still_run(void) {
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "surface-events", NULL, NULL, NULL));
    CHECK_OK(nemo_relay_shutdown());
    CHECK_OK(nemo_relay_shutdown());
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "after", "1", NULL, echo_tool, NULL, NULL, &result));
    nemo_relay_string_free(result);
    collector_clear(&g_events);
}

int main(void) {
    collector_init(&g_events);
    if (collector_register(&g_events, "surface-events") != NEMO_RELAY_STATUS_OK) {
        fprintf(stderr, "cannot register the collector: %s\n", nemo_relay_last_error());
        return 1;
    }
    const struct test_case cases[] = {
        CASE(test_scopes_push_and_pop_in_order_and_report_misuse),
        CASE(test_bad_arguments_are_reported_not_crashed_on),
        CASE(test_every_free_function_accepts_null),
        CASE(test_scopes_and_marks_reach_a_subscriber_in_order),
        CASE(test_tool_execute_returns_the_result_and_releases_user_data_once),
        CASE(test_execute_releases_user_data_even_when_arguments_are_invalid),
        CASE(test_failing_callbacks_report_callback_failed_with_their_message),
        CASE(test_a_rejecting_guardrail_blocks_the_call_and_emits_only_a_mark),
        CASE(test_request_intercepts_rewrite_the_call_and_sanitizers_only_the_events),
        CASE(test_execution_intercepts_wrap_the_tool_and_next_expires_after_return),
        CASE(test_llm_calls_run_their_middleware_and_keep_credentials_out_of_events),
        CASE(test_manual_calls_emit_start_and_end_events),
        CASE(test_double_registration_is_rejected_and_each_user_data_freed_once),
        CASE(test_registration_errors_still_release_user_data),
        CASE(test_scope_local_middleware_vanishes_when_its_scope_pops),
        CASE(test_a_streaming_call_yields_its_chunks_then_ends),
        CASE(test_closing_a_stream_early_records_a_cancelled_end),
        CASE(test_a_stream_intercept_can_transform_the_downstream_chunks),
        CASE(test_shutdown_is_idempotent_and_later_calls_still_run), /* keep last */
    };
    return run_cases(cases, sizeof cases / sizeof cases[0]);
}
