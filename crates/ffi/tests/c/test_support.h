/*
 * Shared helpers of the C test programs: CHECK, a case runner printing
 * "N passed, M failed", counting free_fns, and a subscriber that collects
 * event JSON. Header-only (static functions) so each test program is one
 * translation unit.
 */
#ifndef NEMO_RELAY_TEST_SUPPORT_H
#define NEMO_RELAY_TEST_SUPPORT_H

/* strdup is POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

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
            const char *last_ = nemo_relay_last_error();                         \
            if (last_ != NULL) fprintf(stderr, "  last error: %s\n", last_);     \
            g_checks_failed++;                                                   \
        }                                                                        \
    } while (0)

#define CHECK_OK(expr) CHECK((expr) == NEMO_RELAY_STATUS_OK)

/* True when the thread's last error exists and contains `needle`. */
static inline int last_error_mentions(const char *needle) {
    const char *message = nemo_relay_last_error();
    return message != NULL && strstr(message, needle) != NULL;
}

/* A library-allocated copy of `text`, for callback results. */
static inline char *lib_string(const char *text) {
    return nemo_relay_string_new(text, strlen(text));
}

/* user_data for counting free_fn calls: a heap int the free_fn increments
 * through a pointer stored next to it, then frees. */
struct counted {
    int *freed;
    const char *tag;
};

static inline void counted_free(void *user_data) {
    struct counted *c = (struct counted *)user_data;
    __atomic_add_fetch(c->freed, 1, __ATOMIC_SEQ_CST);
    free(c);
}

static inline struct counted *counted_new(int *freed, const char *tag) {
    struct counted *c = (struct counted *)malloc(sizeof *c);
    c->freed = freed;
    c->tag = tag;
    return c;
}

static inline int load_count(int *counter) { return __atomic_load_n(counter, __ATOMIC_SEQ_CST); }

/* Collects the JSON of every delivered event, in order. */
struct collector {
    pthread_mutex_t lock;
    char **lines;
    size_t count;
    size_t capacity;
};

static inline void collector_on_event(void *user_data, const char *event_json) {
    struct collector *c = (struct collector *)user_data;
    pthread_mutex_lock(&c->lock);
    if (c->count == c->capacity) {
        c->capacity = c->capacity ? c->capacity * 2 : 16;
        c->lines = (char **)realloc(c->lines, c->capacity * sizeof *c->lines);
    }
    c->lines[c->count++] = strdup(event_json);
    pthread_mutex_unlock(&c->lock);
}

static inline void collector_init(struct collector *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

/* Empties `c` after delivering everything already emitted, so events of an
 * earlier case never show up in the next one. */
static inline void collector_clear(struct collector *c) {
    (void)nemo_relay_flush();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) free(c->lines[i]);
    free(c->lines);
    c->lines = NULL;
    c->count = c->capacity = 0;
    pthread_mutex_unlock(&c->lock);
}

/* How many collected events contain `needle`. */
static inline size_t collector_count(struct collector *c, const char *needle) {
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        if (strstr(c->lines[i], needle) != NULL) n++;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Registers `c` as global subscriber `name` (no free_fn: `c` is static). */
static inline NemoRelayStatus collector_register(struct collector *c, const char *name) {
    return nemo_relay_register_subscriber(name, 0, NULL, NULL, collector_on_event, c, NULL);
}

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn run;
};

#define CASE(fn) {#fn, fn}

static inline int run_cases(const struct test_case *cases, size_t n) {
    setvbuf(stdout, NULL, _IONBF, 0); /* output survives a sanitizer's _exit */
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
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

#endif /* NEMO_RELAY_TEST_SUPPORT_H */
