/*
 * Callbacks that call back into the library, and threads.
 *
 * Every case must finish: a deadlock shows up as the alarm() below killing
 * the program (and test-c.sh's timeout as a second line of defence).
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "test_support.h"

static struct collector g_events;

/* ---- a subscriber calling flush and deregistering itself ---------------- */

static int g_flushes_inside;
static void flushing_subscriber(void *ud, const char *event_json) {
    (void)ud;
    (void)event_json;
    /* Called on the dispatcher thread: must return at once, not wait for itself. */
    if (nemo_relay_flush() == NEMO_RELAY_STATUS_OK) __atomic_add_fetch(&g_flushes_inside, 1, __ATOMIC_SEQ_CST);
}

static void test_a_subscriber_calling_flush_does_not_deadlock(void) {
    CHECK_OK(nemo_relay_register_subscriber("flusher", 0, NULL, NULL, flushing_subscriber, NULL, NULL));
    CHECK_OK(nemo_relay_mark(NULL, "ping", NULL));
    CHECK_OK(nemo_relay_flush_timeout(10000));
    CHECK(load_count(&g_flushes_inside) >= 1);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "flusher", NULL, NULL, NULL));
}

static int g_self_removals;
static void self_removing_subscriber(void *ud, const char *event_json) {
    (void)ud;
    (void)event_json;
    bool removed = false;
    if (nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "self-remover", NULL, NULL, &removed) ==
            NEMO_RELAY_STATUS_OK &&
        removed) {
        __atomic_add_fetch(&g_self_removals, 1, __ATOMIC_SEQ_CST);
    }
}

static void test_a_subscriber_deregistering_itself_does_not_deadlock(void) {
    int freed = 0;
    CHECK_OK(nemo_relay_register_subscriber("self-remover", 0, NULL, NULL, self_removing_subscriber,
                                            counted_new(&freed, "self"), counted_free));
    CHECK_OK(nemo_relay_mark(NULL, "first", NULL));
    CHECK_OK(nemo_relay_flush_timeout(10000));
    CHECK(load_count(&g_self_removals) == 1);
    CHECK_OK(nemo_relay_mark(NULL, "second", NULL));
    CHECK_OK(nemo_relay_flush_timeout(10000));
    CHECK(load_count(&freed) == 1);
}

/* ---- a guard registering middleware -------------------------------------- */

static int32_t registering_guard(void *ud, const char *ctx, const char *request, char **out_reason) {
    (void)ud;
    (void)ctx;
    (void)request;
    (void)out_reason;
    /* Registration from inside a running call applies to later calls. */
    int32_t status = nemo_relay_register_subscriber("from-guard", 0, NULL, NULL, collector_on_event,
                                                     &g_events, NULL);
    return status == NEMO_RELAY_STATUS_ALREADY_EXISTS ? NEMO_RELAY_STATUS_OK : status;
}

static int32_t ok_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    *out_json = lib_string("{}");
    return NEMO_RELAY_STATUS_OK;
}

static void test_a_guard_registering_a_subscriber_does_not_deadlock(void) {
    CHECK_OK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "registrar", 0, NULL,
                                       NULL, registering_guard, NULL, NULL));
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "t", "{}", NULL, ok_tool, NULL, NULL, &result));
    nemo_relay_string_free(result);
    char *names = NULL;
    CHECK_OK(nemo_relay_registrations(NEMO_RELAY_FAMILY_SUBSCRIBER, &names));
    CHECK(names && strstr(names, "from-guard"));
    nemo_relay_string_free(names);
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "registrar", NULL, NULL, NULL));
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "from-guard", NULL, NULL, NULL));
    collector_clear(&g_events);
}

/* ---- a tool calling tool_execute ------------------------------------------ */

static char g_outer_uuid[64];
static int32_t inner_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    *out_json = lib_string("{\"inner\":true}");
    return NEMO_RELAY_STATUS_OK;
}

static int32_t outer_tool(void *ud, const char *args_json, char **out_json) {
    (void)ud;
    (void)args_json;
    /* Inside the callback the current stack's top is this very call. */
    NemoRelayScope *top = NULL;
    char *uuid = NULL;
    if (nemo_relay_stack_top(NULL, &top) == NEMO_RELAY_STATUS_OK &&
        nemo_relay_scope_uuid(top, &uuid) == NEMO_RELAY_STATUS_OK) {
        snprintf(g_outer_uuid, sizeof g_outer_uuid, "%s", uuid);
    }
    nemo_relay_string_free(uuid);
    nemo_relay_scope_free(top);
    return nemo_relay_tool_execute(NULL, "inner", "{}", NULL, inner_tool, NULL, NULL, out_json);
}

static void test_a_tool_calling_tool_execute_nests_under_the_outer_call(void) {
    collector_clear(&g_events);
    char *result = NULL;
    CHECK_OK(nemo_relay_tool_execute(NULL, "outer", "{}", NULL, outer_tool, NULL, NULL, &result));
    CHECK(result && strcmp(result, "{\"inner\":true}") == 0);
    nemo_relay_string_free(result);
    CHECK_OK(nemo_relay_flush());
    char parent[96];
    snprintf(parent, sizeof parent, "\"parent_uuid\":\"%s\"", g_outer_uuid);
    /* The inner call's start and end events name the outer call as parent. */
    CHECK(strlen(g_outer_uuid) == 36 && collector_count(&g_events, parent) == 2);
    CHECK(collector_count(&g_events, "\"name\":\"inner\"") == 2);
}

/* ---- a free_fn calling back into the library ----------------------------- */

static int g_reentrant_frees;
static void reentrant_free(void *ud) {
    (void)ud;
    /* Registering and removing from inside free_fn must not deadlock. */
    if (nemo_relay_register_guard(NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION, "from-free", 0, NULL, NULL,
                                  NULL, NULL, NULL) == NEMO_RELAY_STATUS_NULL_POINTER &&
        nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "nothing", NULL, NULL, NULL) ==
            NEMO_RELAY_STATUS_OK) {
        __atomic_add_fetch(&g_reentrant_frees, 1, __ATOMIC_SEQ_CST);
    }
}

static int32_t allow(void *ud, const char *ctx, const char *request, char **out_reason) {
    (void)ud;
    (void)ctx;
    (void)request;
    (void)out_reason;
    return NEMO_RELAY_STATUS_OK;
}

static void test_a_free_fn_calling_back_into_the_library_does_not_deadlock(void) {
    CHECK_OK(nemo_relay_register_guard(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "reentrant-free", 0,
                                       NULL, NULL, allow, NULL, reentrant_free));
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION, "reentrant-free", NULL,
                                   NULL, NULL));
    CHECK(load_count(&g_reentrant_frees) == 1);
}

/* ---- threads -------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 200

static void *push_pop_many(void *arg) {
    int *failures = (int *)arg;
    NemoRelayStack *stack = NULL;
    if (nemo_relay_stack_new(&stack) != NEMO_RELAY_STATUS_OK) {
        (*failures)++;
        return NULL;
    }
    for (int i = 0; i < ROUNDS; i++) {
        NemoRelayScope *a = NULL, *b = NULL;
        if (nemo_relay_scope_push(stack, "a", NEMO_RELAY_SCOPE_TYPE_AGENT, NULL, &a) ||
            nemo_relay_scope_push(stack, "b", NEMO_RELAY_SCOPE_TYPE_FUNCTION, NULL, &b) ||
            nemo_relay_mark(stack, "m", NULL) || nemo_relay_scope_pop(stack, b, NULL) ||
            nemo_relay_scope_pop(stack, a, NULL)) {
            (*failures)++;
        }
        nemo_relay_scope_free(a);
        nemo_relay_scope_free(b);
    }
    nemo_relay_stack_free(stack);
    return NULL;
}

static void test_threads_with_their_own_stacks_do_not_interfere(void) {
    pthread_t threads[THREADS];
    int failures[THREADS] = {0};
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, push_pop_many, &failures[i]);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++) CHECK(failures[i] == 0);
    collector_clear(&g_events);
}

static void test_shutdown_joins_the_dispatcher(void) {
    CHECK_OK(nemo_relay_deregister(NEMO_RELAY_FAMILY_SUBSCRIBER, "reentrancy-events", NULL, NULL, NULL));
    CHECK_OK(nemo_relay_shutdown());
    collector_clear(&g_events);
}

int main(void) {
    alarm(120); /* a deadlock fails the run instead of hanging it */
    collector_init(&g_events);
    if (collector_register(&g_events, "reentrancy-events") != NEMO_RELAY_STATUS_OK) return 1;
    const struct test_case cases[] = {
        CASE(test_a_subscriber_calling_flush_does_not_deadlock),
        CASE(test_a_subscriber_deregistering_itself_does_not_deadlock),
        CASE(test_a_guard_registering_a_subscriber_does_not_deadlock),
        CASE(test_a_tool_calling_tool_execute_nests_under_the_outer_call),
        CASE(test_a_free_fn_calling_back_into_the_library_does_not_deadlock),
        CASE(test_threads_with_their_own_stacks_do_not_interfere),
        CASE(test_shutdown_joins_the_dispatcher), /* keep last */
    };
    return run_cases(cases, sizeof cases / sizeof cases[0]);
}
