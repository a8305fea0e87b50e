/*
 * The plugin system from C, end to end: a plugin kind written in C is
 * registered, validates documents (with policy-driven diagnostics),
 * activates middleware of several families through its plugin context,
 * survives a failing re-activation with the previous configuration intact,
 * and is cleared; plus the built-in kinds, files and misuse.
 *
 * The kind, "c-deny", takes {"tool": <name>} and installs a guardrail that
 * rejects that tool, an execution intercept that wraps every tool result as
 * {"via": "c-deny", "result": ...}, a subscriber and a stream intercept.
 * {"tool": "fail"} makes its register hook fail after recording a guard;
 * {"tool": "reenter"} makes it call nemo_relay_plugin_initialize from
 * inside the hook.
 */
#include "test_support.h"

#include <unistd.h>

static int g_kind_freed;        /* the kind's user_data */
static int g_middleware_freed;  /* user_data of every registration it made */
static int g_middleware_made;
static int g_teardowns;
static int g_events_seen;
static int g_streams_seen;
static NemoRelayPluginContext *g_kept_ctx; /* a context kept past its hook */
static NemoRelayStatus g_reentry_status;

/* The value of "key":"..." in compact JSON, copied into buf ("" if absent). */
static void string_field(const char *json, const char *key, char *buf, size_t n) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr(json, pattern);
    buf[0] = '\0';
    if (at == NULL) return;
    at += strlen(pattern);
    size_t len = 0;
    while (at[len] != '\0' && at[len] != '"' && len + 1 < n) len++;
    memcpy(buf, at, len);
    buf[len] = '\0';
}

/* ---- the middleware the kind installs --------------------------------- */

static int32_t deny_configured_tool(void *ud, const char *ctx, const char *request, char **out_reason) {
    (void)request;
    char name[64];
    string_field(ctx, "name", name, sizeof name);
    if (strcmp(name, (const char *)ud) == 0) *out_reason = lib_string("blocked by the c-deny plugin");
    return NEMO_RELAY_STATUS_OK;
}

static void free_tool_name(void *ud) {
    __atomic_add_fetch(&g_middleware_freed, 1, __ATOMIC_SEQ_CST);
    free(ud);
}

static int32_t wrap_result(void *ud, const char *ctx, const char *request, const NemoRelayNext *next,
                           char **out_json) {
    (void)ud;
    (void)ctx;
    char *inner = NULL;
    NemoRelayStatus status = nemo_relay_next_run(next, request, &inner);
    if (status != NEMO_RELAY_STATUS_OK) return status;
    size_t n = strlen(inner) + 40;
    char *buf = (char *)malloc(n);
    snprintf(buf, n, "{\"via\":\"c-deny\",\"result\":%s}", inner);
    nemo_relay_string_free(inner);
    *out_json = buf;
    return NEMO_RELAY_STATUS_OK;
}

static void count_event(void *ud, const char *event_json) {
    (void)ud;
    if (strstr(event_json, "plugin-probe") != NULL) __atomic_add_fetch(&g_events_seen, 1, __ATOMIC_SEQ_CST);
}

static int32_t pass_stream(void *ud, const char *ctx, const char *request, const NemoRelayNext *next,
                           NemoRelayStream **out_stream) {
    (void)ud;
    (void)ctx;
    g_streams_seen++;
    return nemo_relay_next_run_stream(next, request, out_stream);
}

static void count_free(void *ud) {
    (void)ud;
    __atomic_add_fetch(&g_middleware_freed, 1, __ATOMIC_SEQ_CST);
}

static NemoRelayStatus g_clear_in_teardown = NEMO_RELAY_STATUS_OK;

static void count_teardown(void *ud) {
    (void)ud;
    g_teardowns++;
    /* Changing the configuration from a teardown would wait for itself. */
    g_clear_in_teardown = nemo_relay_plugin_clear(NULL);
}

/* ---- the kind's hooks ---------------------------------------------------- */

static int32_t c_deny_validate(void *ud, const char *config_json, NemoRelayConfigCheck *check, char **out_error) {
    (void)ud;
    (void)out_error;
    CHECK_OK(nemo_relay_config_check_known_fields(check, NULL, "[\"tool\",\"mode\"]"));
    char value[64];
    string_field(config_json, "tool", value, sizeof value);
    if (value[0] == '\0') {
        CHECK_OK(nemo_relay_config_check_error(check, "tool", "plugin.missing_field",
                                               "missing required field 'tool': the tool to deny"));
    }
    string_field(config_json, "mode", value, sizeof value);
    if (value[0] != '\0' && strcmp(value, "block") != 0) {
        CHECK_OK(nemo_relay_config_check_unsupported(check, "mode", "only mode \"block\" is supported"));
    }
    return NEMO_RELAY_STATUS_OK;
}

static int32_t c_deny_register(void *ud, const char *config_json, NemoRelayPluginContext *ctx, char **out_error) {
    (void)ud;
    char tool[64];
    string_field(config_json, "tool", tool, sizeof tool);
    g_kept_ctx = ctx;
    if (strcmp(tool, "reenter") == 0) {
        char *report = NULL;
        g_reentry_status = nemo_relay_plugin_initialize("{}", &report);
        nemo_relay_string_free(report);
        return NEMO_RELAY_STATUS_OK;
    }
    NemoRelayStatus s = nemo_relay_plugin_context_register_guard(
        ctx, NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "deny", 0, deny_configured_tool, strdup(tool),
        free_tool_name);
    if (s != NEMO_RELAY_STATUS_OK) return s;
    g_middleware_made++;
    if (strcmp(tool, "fail") == 0) {
        *out_error = lib_string("c-deny refuses tool 'fail'");
        return NEMO_RELAY_STATUS_INVALID_ARGUMENT;
    }
    /* The same local name twice in one family is refused, and the refused
     * registration's user_data is released right away. */
    int dup_freed = 0;
    CHECK(nemo_relay_plugin_context_register_guard(ctx, NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "deny", 0,
                                                   deny_configured_tool, counted_new(&dup_freed, "dup"),
                                                   counted_free) == NEMO_RELAY_STATUS_ALREADY_EXISTS);
    CHECK(dup_freed == 1);
    CHECK_OK(nemo_relay_plugin_context_register_intercept(ctx, NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT, "wrap",
                                                          0, wrap_result, NULL, count_free));
    CHECK_OK(nemo_relay_plugin_context_register_subscriber(ctx, "events", 0, count_event, NULL, count_free));
    CHECK_OK(nemo_relay_plugin_context_register_stream_intercept(ctx, "stream", 0, pass_stream, NULL, count_free));
    CHECK_OK(nemo_relay_plugin_context_on_teardown(ctx, NULL, count_teardown));
    g_middleware_made += 3;
    char *qualified = NULL;
    CHECK_OK(nemo_relay_plugin_context_qualify(ctx, "deny", &qualified));
    CHECK(qualified != NULL && strcmp(qualified, "c-deny#1/deny") == 0);
    nemo_relay_string_free(qualified);
    return NEMO_RELAY_STATUS_OK;
}

static void free_kind(void *ud) {
    (void)ud;
    g_kind_freed++;
}

/* ---- helpers -------------------------------------------------------------- */

static int32_t echo_tool(void *ud, const char *args, char **out_json) {
    (void)ud;
    size_t n = strlen(args) + 16;
    char *buf = (char *)malloc(n);
    snprintf(buf, n, "{\"echo\":%s}", args);
    *out_json = buf;
    return NEMO_RELAY_STATUS_OK;
}

static int32_t one_chunk(void *ud, const char *request, uint64_t index, char **out) {
    (void)ud;
    (void)request;
    if (index == 0) *out = lib_string("{\"delta\":\"hi\"}");
    return NEMO_RELAY_STATUS_OK;
}

/* Runs tool `name`; returns its status and (if wanted) its result. */
static NemoRelayStatus run_tool(const char *name, char **result) {
    char *out = NULL;
    NemoRelayStatus s = nemo_relay_tool_execute(NULL, name, "{\"x\":1}", NULL, echo_tool, NULL, NULL, &out);
    if (result != NULL) {
        *result = out;
    } else {
        nemo_relay_string_free(out);
    }
    return s;
}

static const char *DOC_SHELL =
    "{\"version\":1,\"components\":[{\"kind\":\"c-deny\",\"config\":{\"tool\":\"shell\"}}]}";

/* ---- cases ------------------------------------------------------------------ */

static void test_a_c_kind_is_listed_with_the_builtin_kinds(void) {
    CHECK_OK(nemo_relay_plugin_register_kind("c-deny", "{\"description\":\"denies one tool\"}", c_deny_validate,
                                             c_deny_register, NULL, free_kind));
    char *kinds = NULL;
    CHECK_OK(nemo_relay_plugin_kinds(&kinds));
    CHECK(kinds != NULL && strstr(kinds, "{\"description\":\"denies one tool\",\"kind\":\"c-deny\"}") != NULL);
    CHECK(kinds != NULL && strstr(kinds, "\"kind\":\"redaction\"") != NULL);
    nemo_relay_string_free(kinds);
    /* Kind names are unique, built-in ones included; the refused user_data is released. */
    int freed = 0;
    CHECK(nemo_relay_plugin_register_kind("redaction", NULL, NULL, c_deny_register, counted_new(&freed, "k"),
                                          counted_free) == NEMO_RELAY_STATUS_ALREADY_EXISTS);
    CHECK(freed == 1);
    CHECK(nemo_relay_plugin_register_kind("x", "{\"descripton\":1}", NULL, c_deny_register, NULL, NULL) ==
          NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(nemo_relay_plugin_register_kind("x", NULL, NULL, NULL, NULL, NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
}

static void test_validation_reports_the_c_kinds_diagnostics_by_policy(void) {
    char *report = NULL;
    CHECK_OK(nemo_relay_plugin_validate(
        "{\"components\":[{\"kind\":\"c-deny\",\"config\":{\"mode\":\"loud\",\"colour\":1}}]}", &report));
    CHECK(report != NULL && strstr(report, "\"has_errors\":true") != NULL);
    CHECK(report != NULL && strstr(report, "\"code\":\"plugin.missing_field\"") != NULL);
    CHECK(report != NULL && strstr(report, "\"field\":\"config.tool\"") != NULL);
    CHECK(report != NULL && strstr(report, "\"code\":\"plugin.unsupported_value\"") != NULL);
    CHECK(report != NULL && strstr(report, "\"level\":\"warning\"") != NULL); /* unknown field: default warn */
    nemo_relay_string_free(report);

    /* The document's policy decides the level of unknown fields. */
    CHECK_OK(nemo_relay_plugin_validate("{\"components\":[{\"kind\":\"c-deny\",\"config\":{\"tool\":\"a\","
                                        "\"colour\":1}}],\"policy\":{\"unknown_field\":\"ignore\"}}",
                                        &report));
    CHECK(report != NULL && strcmp(report, "{\"diagnostics\":[],\"has_errors\":false}") == 0);
    nemo_relay_string_free(report);

    CHECK(nemo_relay_plugin_validate("{not json", &report) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(report == NULL);
}

static void test_initialize_activates_the_c_kinds_middleware_on_managed_calls(void) {
    char *report = NULL;
    CHECK_OK(nemo_relay_plugin_initialize(DOC_SHELL, &report));
    CHECK(report != NULL && strstr(report, "[\"tool_conditional_execution\",\"c-deny#1/deny\"]") != NULL);
    nemo_relay_string_free(report);

    CHECK(run_tool("shell", NULL) == NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    CHECK(last_error_mentions("blocked by the c-deny plugin"));
    char *result = NULL;
    CHECK_OK(run_tool("search", &result));
    CHECK(result != NULL && strcmp(result, "{\"result\":{\"echo\":{\"x\":1}},\"via\":\"c-deny\"}") == 0);
    nemo_relay_string_free(result);

    NemoRelayStream *stream = NULL;
    CHECK_OK(nemo_relay_llm_stream_execute(NULL, "chat", "{\"content\":{}}", NULL, one_chunk, NULL, NULL, &stream));
    char *chunk = NULL;
    CHECK_OK(nemo_relay_stream_next(stream, &chunk));
    CHECK(chunk != NULL);
    nemo_relay_string_free(chunk);
    nemo_relay_stream_free(stream);
    CHECK(g_streams_seen == 1);

    CHECK_OK(nemo_relay_mark(NULL, "plugin-probe", NULL));
    CHECK_OK(nemo_relay_flush());
    CHECK(load_count(&g_events_seen) == 1);

    char *active = NULL;
    CHECK_OK(nemo_relay_plugin_active_report(&active));
    CHECK(active != NULL && strstr(active, "c-deny#1/wrap") != NULL);
    nemo_relay_string_free(active);
}

static void test_a_context_kept_past_its_hook_is_refused(void) {
    CHECK(g_kept_ctx != NULL);
    int freed = 0;
    CHECK(nemo_relay_plugin_context_register_guard(g_kept_ctx, NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "late",
                                                   0, deny_configured_tool, counted_new(&freed, "late"),
                                                   counted_free) == NEMO_RELAY_STATUS_INVALID_STATE);
    CHECK(last_error_mentions("only valid during the callback"));
    CHECK(freed == 1);
}

static void test_a_failing_reinitialization_keeps_the_previous_configuration(void) {
    int freed_before = load_count(&g_middleware_freed);
    char *report = NULL;
    /* Error diagnostics: refused before any hook runs. */
    CHECK(nemo_relay_plugin_initialize("{\"components\":[{\"kind\":\"c-deny\",\"config\":{}}]}", &report) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_mentions("plugin.missing_field"));
    CHECK(report == NULL);
    /* A failing register hook: the guard it had recorded is discarded. Its
     * status (one of the library's own) reaches the caller. */
    CHECK(nemo_relay_plugin_initialize(
              "{\"components\":[{\"kind\":\"c-deny\",\"config\":{\"tool\":\"fail\"}}]}", &report) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_mentions("c-deny refuses tool 'fail'"));
    CHECK(last_error_mentions("components[0] (c-deny)"));
    CHECK(load_count(&g_middleware_freed) == freed_before + 1);
    CHECK(g_teardowns == 0);

    CHECK(run_tool("shell", NULL) == NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    char *result = NULL;
    CHECK_OK(run_tool("fail", &result));
    CHECK(result != NULL && strstr(result, "\"via\":\"c-deny\"") != NULL);
    nemo_relay_string_free(result);
}

static void test_initializing_from_inside_a_hook_is_refused_not_a_deadlock(void) {
    char *report = NULL;
    CHECK(nemo_relay_plugin_initialize(
              "{\"components\":[{\"kind\":\"c-deny\",\"config\":{\"tool\":\"reenter\"}}]}", &report) ==
          NEMO_RELAY_STATUS_OK);
    nemo_relay_string_free(report);
    CHECK(g_reentry_status == NEMO_RELAY_STATUS_INVALID_STATE);
    /* That activation replaced the previous one: its teardown ran. */
    CHECK(g_teardowns == 1);
    CHECK_OK(run_tool("shell", NULL));
}

static void test_clear_removes_everything_and_releases_every_callback(void) {
    char *report = NULL;
    CHECK_OK(nemo_relay_plugin_initialize(DOC_SHELL, &report));
    nemo_relay_string_free(report);
    CHECK(run_tool("shell", NULL) == NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    bool was_active = false;
    CHECK_OK(nemo_relay_plugin_clear(&was_active));
    CHECK(was_active);
    CHECK_OK(run_tool("shell", NULL));
    CHECK_OK(nemo_relay_flush());
    CHECK(g_teardowns == 2);
    CHECK(g_clear_in_teardown == NEMO_RELAY_STATUS_INVALID_STATE);
    CHECK(load_count(&g_middleware_freed) == g_middleware_made);
    char *active = NULL;
    CHECK_OK(nemo_relay_plugin_active_report(&active));
    CHECK(active != NULL && strcmp(active, "null") == 0);
    nemo_relay_string_free(active);
    CHECK_OK(nemo_relay_plugin_clear(&was_active));
    CHECK(!was_active);
}

static void test_deregistering_the_kind_releases_its_user_data_once(void) {
    bool removed = false;
    CHECK_OK(nemo_relay_plugin_deregister_kind("c-deny", &removed));
    CHECK(removed && g_kind_freed == 1);
    CHECK_OK(nemo_relay_plugin_deregister_kind("c-deny", &removed));
    CHECK(!removed && g_kind_freed == 1);
    char *report = NULL;
    CHECK_OK(nemo_relay_plugin_validate(DOC_SHELL, &report));
    CHECK(report != NULL && strstr(report, "plugin.unknown_component") != NULL);
    nemo_relay_string_free(report);
}

static void test_builtin_kinds_and_files_work_through_the_same_functions(void) {
    /* Any name other than *.json is read as TOML. */
    char path[] = "/tmp/nemo_relay_plugins_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *toml = "version = 1\n[[components]]\nkind = \"policy\"\nconfig = { deny = [\"rm*\"] }\n";
    CHECK(write(fd, toml, strlen(toml)) == (ssize_t)strlen(toml));
    close(fd);
    char *report = NULL;
    CHECK_OK(nemo_relay_plugin_validate_file(path, &report));
    CHECK(report != NULL && strstr(report, "\"has_errors\":false") != NULL);
    nemo_relay_string_free(report);
    CHECK_OK(nemo_relay_plugin_initialize_file(path, &report));
    nemo_relay_string_free(report);
    CHECK(run_tool("rmdir", NULL) == NEMO_RELAY_STATUS_GUARDRAIL_REJECTED);
    CHECK_OK(nemo_relay_plugin_clear(NULL));
    CHECK_OK(run_tool("rmdir", NULL));
    unlink(path);
    CHECK(nemo_relay_plugin_initialize_file("/nonexistent/plugins.toml", &report) == NEMO_RELAY_STATUS_NOT_FOUND);
    CHECK(report == NULL);
}

int main(void) {
    static const struct test_case cases[] = {
        CASE(test_a_c_kind_is_listed_with_the_builtin_kinds),
        CASE(test_validation_reports_the_c_kinds_diagnostics_by_policy),
        CASE(test_initialize_activates_the_c_kinds_middleware_on_managed_calls),
        CASE(test_a_context_kept_past_its_hook_is_refused),
        CASE(test_a_failing_reinitialization_keeps_the_previous_configuration),
        CASE(test_initializing_from_inside_a_hook_is_refused_not_a_deadlock),
        CASE(test_clear_removes_everything_and_releases_every_callback),
        CASE(test_deregistering_the_kind_releases_its_user_data_once),
        CASE(test_builtin_kinds_and_files_work_through_the_same_functions),
    };
    int rc = run_cases(cases, sizeof cases / sizeof cases[0]);
    CHECK_OK(nemo_relay_shutdown());
    return rc;
}
