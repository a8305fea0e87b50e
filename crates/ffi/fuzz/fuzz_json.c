/*
 * libFuzzer target for every JSON-taking entry point of the C ABI.
 *
 * Input layout: byte 0 selects the entry point ('0'..'<', taken modulo 13
 * so every byte value selects one), the rest is the payload,
 * passed as a NUL-terminated string (cut at its first NUL, as C callers do).
 * The payload also comes back from callbacks, so the parsing of callback
 * results is fuzzed as well as the parsing of arguments.
 *
 * Oracles: no crash and no sanitizer report; every status is a known one;
 * a failure always comes with a last-error message; every string and handle
 * is released (LeakSanitizer checks at exit).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nemo_relay.h"

static const char *g_payload;

static char *copy(const char *text) { return nemo_relay_string_new(text, strlen(text)); }

/* A tool / provider whose result is the fuzzed text. */
static int32_t echo_payload(void *ud, const char *request, char **out) {
    (void)ud;
    (void)request;
    *out = copy(g_payload);
    return NEMO_RELAY_STATUS_OK;
}

/* A rewrite whose new value is the fuzzed text. */
static int32_t rewrite_payload(void *ud, const char *ctx, const char *value, char **out) {
    (void)ud;
    (void)ctx;
    (void)value;
    *out = copy(g_payload);
    return NEMO_RELAY_STATUS_OK;
}

/* A stream whose single chunk is the fuzzed text. */
static int32_t pull_payload(void *ud, const char *request, uint64_t index, char **out) {
    (void)ud;
    (void)request;
    if (index == 0) *out = copy(g_payload);
    return NEMO_RELAY_STATUS_OK;
}

/* A plugin kind whose validate hook passes the fuzzed text as the list of
 * known fields, and whose register hook uses it as a registration name. */
static int32_t fuzz_kind_validate(void *ud, const char *config, NemoRelayConfigCheck *check, char **out) {
    (void)ud;
    (void)config;
    (void)out;
    (void)nemo_relay_config_check_known_fields(check, g_payload, g_payload);
    (void)nemo_relay_config_check_unsupported(check, g_payload, g_payload);
    return NEMO_RELAY_STATUS_OK;
}

static int32_t fuzz_kind_register(void *ud, const char *config, NemoRelayPluginContext *ctx, char **out) {
    (void)ud;
    (void)config;
    (void)out;
    return nemo_relay_plugin_context_register_rewrite(ctx, NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST, g_payload, 0,
                                                      false, rewrite_payload, NULL, NULL);
}

static void ignore_event(void *ud, const char *event_json) {
    (void)ud;
    (void)event_json;
}

/* Checks a status right after its call (the next call clears the last error)
 * and passes it through. */
static NemoRelayStatus checked(NemoRelayStatus status) {
    if (status < NEMO_RELAY_STATUS_OK || status > NEMO_RELAY_STATUS_TIMEOUT) abort();
    if (status != NEMO_RELAY_STATUS_OK && nemo_relay_last_error() == NULL) abort();
    if (status == NEMO_RELAY_STATUS_PANIC) abort(); /* a panic is a bug even if contained */
    return status;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* With a subscriber, events are built and serialized, so payloads that
     * reach events are exercised too. */
    nemo_relay_register_subscriber("fuzz-sink", 0, NULL, NULL, ignore_event, NULL, NULL);
    nemo_relay_plugin_register_kind("fuzz-kind", NULL, fuzz_kind_validate, fuzz_kind_register, NULL, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char *payload = (char *)malloc(size);
    memcpy(payload, data + 1, size - 1);
    payload[size - 1] = '\0';
    g_payload = payload;
    char *out = NULL;
    NemoRelayStatus status = NEMO_RELAY_STATUS_OK;
    unsigned selector = (uint8_t)(data[0] - '0') % 13;
    switch (selector) {
    case 0:
        status = checked(nemo_relay_json_normalize(payload, &out));
        break;
    case 1: {
        NemoRelayScope *scope = NULL;
        status = checked(nemo_relay_scope_push(NULL, "fuzz", NEMO_RELAY_SCOPE_TYPE_AGENT, payload, &scope));
        if (scope != NULL) {
            (void)checked(nemo_relay_scope_pop(NULL, scope, payload[0] ? NULL : "{}"));
            nemo_relay_scope_free(scope);
        }
        break;
    }
    case 2:
        status = checked(nemo_relay_mark(NULL, "fuzz", payload));
        break;
    case 3:
        status = checked(nemo_relay_tool_execute(NULL, "fuzz", payload, NULL, echo_payload, NULL, NULL, &out));
        break;
    case 4:
        status = checked(nemo_relay_tool_execute(NULL, "fuzz", "{}", payload, echo_payload, NULL, NULL, &out));
        break;
    case 5:
        status = checked(nemo_relay_llm_execute(NULL, "fuzz", payload, NULL, echo_payload, NULL, NULL, &out));
        break;
    case 6: {
        (void)checked(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "fuzz-rw", 0,
                                                 false, NULL, NULL, rewrite_payload, NULL, NULL));
        status = checked(nemo_relay_tool_execute(NULL, "fuzz", "{}", NULL, echo_payload, NULL, NULL, &out));
        (void)checked(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT, "fuzz-rw", NULL,
                                           NULL, NULL));
        break;
    }
    case 7: {
        (void)checked(nemo_relay_register_rewrite(NEMO_RELAY_FAMILY_LLM_SANITIZE_REQUEST, "fuzz-san", 0,
                                                 false, NULL, NULL, rewrite_payload, NULL, NULL));
        status = checked(nemo_relay_llm_execute(NULL, "fuzz", "{\"content\":1}", NULL, echo_payload, NULL, NULL, &out));
        (void)checked(nemo_relay_deregister(NEMO_RELAY_FAMILY_LLM_SANITIZE_REQUEST, "fuzz-san", NULL,
                                           NULL, NULL));
        break;
    }
    case 8: {
        NemoRelayStream *stream = NULL;
        status = checked(nemo_relay_llm_stream_execute(NULL, "fuzz", "{}", NULL, pull_payload, NULL, NULL, &stream));
        if (stream != NULL) {
            char *chunk = NULL;
            while (nemo_relay_stream_next(stream, &chunk) == NEMO_RELAY_STATUS_OK && chunk != NULL) {
                nemo_relay_string_free(chunk);
            }
            nemo_relay_stream_free(stream);
        }
        break;
    }
    case 10: /* ':' a plugin document, validated */
        status = checked(nemo_relay_plugin_validate(payload, &out));
        break;
    case 11: /* ';' a plugin document, activated, then cleared */
        status = checked(nemo_relay_plugin_initialize(payload, &out));
        if (status == NEMO_RELAY_STATUS_OK) {
            char *result = NULL;
            (void)checked(nemo_relay_tool_execute(NULL, "fuzz", "{}", NULL, echo_payload, NULL, NULL, &result));
            nemo_relay_string_free(result);
            (void)checked(nemo_relay_plugin_clear(NULL));
        }
        break;
    case 12: { /* '<' ATIF exporter options */
        NemoRelayAtifExporter *exporter = NULL;
        status = checked(nemo_relay_atif_exporter_create(payload, &exporter));
        if ((status == NEMO_RELAY_STATUS_OK) != (exporter != NULL)) abort();
        nemo_relay_atif_exporter_free(exporter);
        break;
    }
    case 9: {
        NemoRelayTool *tool = NULL;
        status = checked(nemo_relay_tool_start(NULL, "fuzz", "{}", payload, &tool));
        if (tool != NULL) {
            (void)checked(nemo_relay_tool_end(NULL, tool, payload[0] ? payload : "null", payload));
            nemo_relay_tool_free(tool);
        }
        break;
    }
    }
    int has_result = selector == 0 || (selector >= 3 && selector <= 7) || selector == 10 || selector == 11;
    if (has_result && (status == NEMO_RELAY_STATUS_OK) != (out != NULL)) {
        abort(); /* a result exactly when the call succeeded */
    }
    nemo_relay_string_free(out);
    free(payload);
    return 0;
}
