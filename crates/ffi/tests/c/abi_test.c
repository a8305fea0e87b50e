/*
 * C-side test of the nemo-relay C ABI conventions.
 *
 * Built by crates/ffi/scripts/test-c.sh against the generated header, with
 * AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer (or under
 * valgrind where sanitizers are unavailable), so a leaked library string or a
 * mismatched free fails the run even when every assertion passes.
 *
 * Each case is a function returning the number of failed checks; main() runs
 * them all and prints "N passed, M failed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nemo_relay.h"

static int g_checks_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "  check failed at %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                      \
            g_checks_failed++;                                                   \
        }                                                                        \
    } while (0)

/* True when the thread's last error exists and contains `needle`. */
static int last_error_mentions(const char *needle) {
    const char *message = nemo_relay_last_error();
    return message != NULL && strstr(message, needle) != NULL;
}

static void test_abi_version_matches_header(void) {
    CHECK(nemo_relay_abi_version() == NEMO_RELAY_ABI_VERSION);
    CHECK(strcmp(nemo_relay_version(), NEMO_RELAY_VERSION) == 0);
}

static void test_status_values_are_pinned(void) {
    /* Values shared with the upstream ABI; a change here breaks callers. */
    CHECK(NEMO_RELAY_STATUS_OK == 0);
    CHECK(NEMO_RELAY_STATUS_ALREADY_EXISTS == 1);
    CHECK(NEMO_RELAY_STATUS_NOT_FOUND == 2);
    CHECK(NEMO_RELAY_STATUS_INTERNAL == 5);
    CHECK(NEMO_RELAY_STATUS_NULL_POINTER == 6);
    CHECK(NEMO_RELAY_STATUS_INVALID_JSON == 7);
    CHECK(NEMO_RELAY_STATUS_INVALID_UTF8 == 8);
    CHECK(NEMO_RELAY_STATUS_INVALID_ARGUMENT == 9);
    CHECK(NEMO_RELAY_STATUS_PANIC == 12);
    CHECK(sizeof(NemoRelayStatus) == sizeof(int32_t));
}

static void test_status_names(void) {
    /* NEMO_RELAY_STATUS_TIMEOUT is the highest code today. */
    for (int32_t code = NEMO_RELAY_STATUS_OK; code <= NEMO_RELAY_STATUS_TIMEOUT; code++) {
        const char *name = nemo_relay_status_name(code);
        CHECK(name != NULL && strncmp(name, "NEMO_RELAY_STATUS_", 18) == 0);
    }
    CHECK(strcmp(nemo_relay_status_name(NEMO_RELAY_STATUS_INVALID_UTF8),
                 "NEMO_RELAY_STATUS_INVALID_UTF8") == 0);
    CHECK(nemo_relay_status_name(-1) == NULL);
    CHECK(nemo_relay_status_name(NEMO_RELAY_STATUS_TIMEOUT + 1) == NULL);
}

static void test_null_out_pointer(void) {
    NemoRelayStatus status = nemo_relay_json_normalize("{}", NULL);
    CHECK(status == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(nemo_relay_last_error_code() == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(last_error_mentions("out_json"));
}

static void test_null_input_is_not_read_as_json_null(void) {
    char sentinel = 0;
    char *out = &sentinel; /* must be reset to NULL on entry */
    NemoRelayStatus status = nemo_relay_json_normalize(NULL, &out);
    CHECK(status == NEMO_RELAY_STATUS_NULL_POINTER);
    CHECK(out == NULL);
    CHECK(last_error_mentions("`json`"));
}

static void test_invalid_utf8(void) {
    char *out = NULL;
    NemoRelayStatus status = nemo_relay_json_normalize("\"\xff\xfe\"", &out);
    CHECK(status == NEMO_RELAY_STATUS_INVALID_UTF8);
    CHECK(out == NULL);
    CHECK(last_error_mentions("UTF-8"));
}

static void test_invalid_json(void) {
    char *out = NULL;
    NemoRelayStatus status = nemo_relay_json_normalize("{\"a\":", &out);
    CHECK(status == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(out == NULL);
    CHECK(last_error_mentions("not valid JSON"));
}

static void test_deep_nesting_is_rejected(void) {
    enum { DEPTH = 100000 };
    char *deep = malloc(2 * DEPTH + 1);
    CHECK(deep != NULL);
    if (deep == NULL) return;
    memset(deep, '[', DEPTH);
    memset(deep + DEPTH, ']', DEPTH);
    deep[2 * DEPTH] = '\0';
    char *out = NULL;
    CHECK(nemo_relay_json_normalize(deep, &out) == NEMO_RELAY_STATUS_INVALID_JSON);
    CHECK(out == NULL);
    free(deep);
}

static void test_success_returns_owned_string_and_clears_error(void) {
    char *out = NULL;
    CHECK(nemo_relay_json_normalize("{", &out) == NEMO_RELAY_STATUS_INVALID_JSON);
    const char *borrowed = nemo_relay_last_error();
    CHECK(borrowed != NULL); /* borrowed: never freed by us */

    NemoRelayStatus status = nemo_relay_json_normalize(" [1, {\"k\": \"v\"} ] ", &out);
    CHECK(status == NEMO_RELAY_STATUS_OK);
    CHECK(out != NULL && strcmp(out, "[1,{\"k\":\"v\"}]") == 0);
    CHECK(nemo_relay_last_error() == NULL);
    CHECK(nemo_relay_last_error_code() == NEMO_RELAY_STATUS_OK);
    nemo_relay_string_free(out);
}

static void test_last_error_copy(void) {
    char *out = NULL;
    CHECK(nemo_relay_json_normalize(NULL, &out) == NEMO_RELAY_STATUS_NULL_POINTER);
    size_t full = strlen(nemo_relay_last_error());

    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(nemo_relay_last_error_copy(small, sizeof small) == full);
    CHECK(small[sizeof small - 1] == '\0' && strlen(small) == sizeof small - 1);
    CHECK(nemo_relay_last_error_copy(NULL, 0) == full);

    char *big = malloc(full + 1);
    CHECK(big != NULL);
    if (big != NULL) {
        CHECK(nemo_relay_last_error_copy(big, full + 1) == full);
        CHECK(strcmp(big, nemo_relay_last_error()) == 0);
        free(big);
    }

    nemo_relay_clear_last_error();
    CHECK(nemo_relay_last_error() == NULL);
    CHECK(nemo_relay_last_error_copy(small, sizeof small) == 0 && small[0] == '\0');
}

static void test_string_new_and_free(void) {
    char *copy = nemo_relay_string_new("hello world", 5);
    CHECK(copy != NULL && strcmp(copy, "hello") == 0);
    nemo_relay_string_free(copy);

    char *empty = nemo_relay_string_new(NULL, 0);
    CHECK(empty != NULL && empty[0] == '\0');
    nemo_relay_string_free(empty);

    CHECK(nemo_relay_string_new("a\0b", 3) == NULL);
    CHECK(nemo_relay_last_error_code() == NEMO_RELAY_STATUS_INVALID_ARGUMENT);
    CHECK(nemo_relay_string_new(NULL, 4) == NULL);
    CHECK(nemo_relay_last_error_code() == NEMO_RELAY_STATUS_NULL_POINTER);

    nemo_relay_string_free(NULL); /* documented no-op */
    nemo_relay_clear_last_error();
}

static void test_panic_is_contained(void) {
    CHECK(nemo_relay_debug_panic() == NEMO_RELAY_STATUS_PANIC);
    CHECK(last_error_mentions("nemo_relay_debug_panic was called"));
    /* The library stays usable afterwards. */
    char *out = NULL;
    CHECK(nemo_relay_json_normalize("true", &out) == NEMO_RELAY_STATUS_OK);
    nemo_relay_string_free(out);
}

static void *fail_on_worker_thread(void *arg) {
    (void)arg;
    char *out = NULL;
    int ok = nemo_relay_json_normalize("nope", &out) == NEMO_RELAY_STATUS_INVALID_JSON &&
             nemo_relay_last_error() != NULL;
    return ok ? (void *)1 : NULL;
}

static void test_last_error_is_per_thread(void) {
    nemo_relay_clear_last_error();
    pthread_t worker;
    void *worker_ok = NULL;
    CHECK(pthread_create(&worker, NULL, fail_on_worker_thread, NULL) == 0);
    CHECK(pthread_join(worker, &worker_ok) == 0);
    CHECK(worker_ok == (void *)1);
    CHECK(nemo_relay_last_error() == NULL); /* the worker's error stayed there */
}

/*
 * With LeakSanitizer linked in, check for leaks now, so a leak is counted in the
 * summary line instead of only being reported after it. The weak declaration
 * resolves to NULL when the harness runs without sanitizers (valgrind then
 * reports leaks through its exit code).
 */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void test_no_leaks_so_far(void) {
    nemo_relay_clear_last_error();
    if (__lsan_do_recoverable_leak_check != NULL) {
        CHECK(__lsan_do_recoverable_leak_check() == 0);
    }
}

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn run;
};

#define CASE(fn) {#fn, fn}

int main(void) {
    /* Unbuffered, so output survives a sanitizer's _exit. */
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct test_case cases[] = {
        CASE(test_abi_version_matches_header),
        CASE(test_status_values_are_pinned),
        CASE(test_status_names),
        CASE(test_null_out_pointer),
        CASE(test_null_input_is_not_read_as_json_null),
        CASE(test_invalid_utf8),
        CASE(test_invalid_json),
        CASE(test_deep_nesting_is_rejected),
        CASE(test_success_returns_owned_string_and_clears_error),
        CASE(test_last_error_copy),
        CASE(test_string_new_and_free),
        CASE(test_panic_is_contained),
        CASE(test_last_error_is_per_thread),
        CASE(test_no_leaks_so_far), /* keep last */
    };
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = g_checks_failed;
        cases[i].run();
        if (g_checks_failed == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
