/*
 * The ATIF exporter from C: options errors, registration, export of a small
 * scripted agent run (schema ATIF-v1.7, user and agent steps, the tool call
 * and its observation), clear and free.
 */
#include "test_support.h"

/* Provider for the first turn: the model asks for get_weather (call_1). */
static int32_t first_turn(void *ud, const char *request, char **out_json) {
    (void)ud;
    (void)request;
    *out_json = lib_string(
        "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\","
        "\"content\":\"Let me check.\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}}],"
        "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":10}}");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t final_turn(void *ud, const char *request, char **out_json) {
    (void)ud;
    (void)request;
    *out_json = lib_string(
        "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\","
        "\"content\":\"It is 18C and sunny in Paris.\"}}]}");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t get_weather(void *ud, const char *args, char **out_json) {
    (void)ud;
    (void)args;
    *out_json = lib_string("\"18C, sunny\"");
    return NEMO_RELAY_STATUS_OK;
}

/* The scripted run: one agent, two LLM turns and the tool call between. */
static void run_agent(void) {
    NemoRelayStack *stack = NULL;
    CHECK_OK(nemo_relay_stack_new(&stack));
    NemoRelayScope *agent = NULL;
    CHECK_OK(nemo_relay_scope_push(stack, "weather-agent", NEMO_RELAY_SCOPE_TYPE_AGENT,
                                   "{\"input\":{\"task\":\"weather\"}}", &agent));
    char *out = NULL;
    CHECK_OK(nemo_relay_llm_execute(
        stack, "openai.chat",
        "{\"headers\":{},\"content\":{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"Weather in Paris?\"}]}}",
        "{\"model_name\":\"gpt-4.1\"}", first_turn, NULL, NULL, &out));
    nemo_relay_string_free(out);
    CHECK_OK(nemo_relay_tool_execute(stack, "get_weather", "{\"city\":\"Paris\"}", "{\"tool_call_id\":\"call_1\"}",
                                     get_weather, NULL, NULL, &out));
    nemo_relay_string_free(out);
    CHECK_OK(nemo_relay_llm_execute(
        stack, "openai.chat",
        "{\"headers\":{},\"content\":{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"Weather in Paris?\"},{\"role\":\"tool\",\"tool_call_id\":\"call_1\","
        "\"content\":\"18C, sunny\"}]}}",
        "{\"model_name\":\"gpt-4.1\"}", final_turn, NULL, NULL, &out));
    nemo_relay_string_free(out);
    CHECK_OK(nemo_relay_scope_pop(stack, agent, NULL));
    nemo_relay_scope_free(agent);
    nemo_relay_stack_free(stack);
}

static void test_bad_options_are_rejected_with_the_field_named(void) {
    NemoRelayAtifExporter *exporter = NULL;
    CHECK(nemo_relay_atif_exporter_create("{\"agent_nmae\":\"x\"}", &exporter) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(last_error_mentions("agent_nmae"));
    CHECK(exporter == NULL);
    CHECK(nemo_relay_atif_exporter_create("{\"include_raw_events\":\"yes\"}", &exporter) ==
          NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(nemo_relay_atif_exporter_create("{\"filename_template\":\"run.json\"}", &exporter) ==
          NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_mentions("filename_template"));
    CHECK(nemo_relay_atif_exporter_create(NULL, NULL) == NEMO_RELAY_STATUS_NULL_POINTER);
}

static void test_a_scripted_run_exports_as_an_atif_trajectory(void) {
    NemoRelayAtifExporter *exporter = NULL;
    CHECK_OK(nemo_relay_atif_exporter_create("{\"agent_version\":\"9.9\"}", &exporter));
    CHECK_OK(nemo_relay_atif_exporter_register(exporter, NULL));
    CHECK(nemo_relay_atif_exporter_register(exporter, NULL) == NEMO_RELAY_STATUS_ALREADY_EXISTS);

    char *json = NULL;
    CHECK(nemo_relay_atif_exporter_export(exporter, &json) == NEMO_RELAY_STATUS_NOT_FOUND);
    CHECK(json == NULL);

    run_agent();
    CHECK_OK(nemo_relay_atif_exporter_export(exporter, &json));
    CHECK(json != NULL && strstr(json, "\"schema_version\":\"ATIF-v1.7\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"name\":\"weather-agent\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"version\":\"9.9\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"source\":\"user\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"message\":\"Weather in Paris?\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"tool_call_id\":\"call_1\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"source_call_id\":\"call_1\"") != NULL);
    CHECK(json != NULL && strstr(json, "It is 18C and sunny in Paris.") != NULL);
    CHECK(json != NULL && strstr(json, "\"step_id\":3") != NULL);
    nemo_relay_string_free(json);

    CHECK_OK(nemo_relay_atif_exporter_flush(exporter));
    CHECK_OK(nemo_relay_atif_exporter_clear(exporter));
    CHECK(nemo_relay_atif_exporter_export(exporter, &json) == NEMO_RELAY_STATUS_NOT_FOUND);
    nemo_relay_atif_exporter_free(exporter);
    nemo_relay_atif_exporter_free(NULL);
}

static void test_freeing_an_exporter_frees_its_subscriber_name(void) {
    NemoRelayAtifExporter *first = NULL, *second = NULL;
    CHECK_OK(nemo_relay_atif_exporter_create(NULL, &first));
    CHECK_OK(nemo_relay_atif_exporter_register(first, "atif-a"));
    nemo_relay_atif_exporter_free(first);
    CHECK_OK(nemo_relay_atif_exporter_create("null", &second));
    CHECK_OK(nemo_relay_atif_exporter_register(second, "atif-a"));
    nemo_relay_atif_exporter_free(second);
}

int main(void) {
    static const struct test_case cases[] = {
        CASE(test_bad_options_are_rejected_with_the_field_named),
        CASE(test_a_scripted_run_exports_as_an_atif_trajectory),
        CASE(test_freeing_an_exporter_frees_its_subscriber_name),
    };
    int rc = run_cases(cases, sizeof cases / sizeof cases[0]);
    CHECK_OK(nemo_relay_shutdown());
    return rc;
}
