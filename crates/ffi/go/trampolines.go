package nemorelay

// C helpers that let Go pass function pointers and user_data tokens to the
// library. They live apart from callbacks.go because cgo forbids definitions
// in the preamble of a file with //export functions.

/*
#include <stdint.h>
#include "nemo_relay.h"

extern void nemoRelayGoReleaseUserData(void *user_data);
// The //export functions of callbacks.go, as cgo declares them (cgo drops
// `const`, hence the casts to the header's typedefs below).
extern int32_t nemoRelayGoGuard(void *, char *, char *, char **);
extern int32_t nemoRelayGoRewrite(void *, char *, char *, char **);
extern int32_t nemoRelayGoIntercept(void *, char *, char *, NemoRelayNext *, char **);
extern void nemoRelayGoSubscriber(void *, char *);
extern int32_t nemoRelayGoCall(void *, char *, char **);
extern int32_t nemoRelayGoPull(void *, char *, uint64_t, char **);

static inline NemoRelayGuardFn nr_go_guard(void) { return (NemoRelayGuardFn)nemoRelayGoGuard; }
static inline NemoRelayRewriteFn nr_go_rewrite(void) { return (NemoRelayRewriteFn)nemoRelayGoRewrite; }
static inline NemoRelayInterceptFn nr_go_intercept(void) {
    return (NemoRelayInterceptFn)nemoRelayGoIntercept;
}
static inline NemoRelaySubscriberFn nr_go_subscriber(void) {
    return (NemoRelaySubscriberFn)nemoRelayGoSubscriber;
}
static inline NemoRelayCallFn nr_go_call(void) { return (NemoRelayCallFn)nemoRelayGoCall; }
static inline NemoRelayPullFn nr_go_pull(void) { return (NemoRelayPullFn)nemoRelayGoPull; }
// A continuation token from the library, back to its C type (the Go side
// keeps it as an integer: it is a token, not memory Go may look at).
static inline const NemoRelayNext *nr_next(uintptr_t token) { return (const NemoRelayNext *)token; }

// cgo.Handle is an integer; C receives it as an opaque pointer-sized token.
static inline void *nr_handle_to_user_data(uintptr_t handle) { return (void *)handle; }

// The NemoRelayFreeFn every Go registration passes along with its user_data.
static inline NemoRelayFreeFn nr_go_free_fn(void) { return nemoRelayGoReleaseUserData; }

// Calls a free_fn the way the library does; used by tests of the handle table.
static inline void nr_call_free_fn(NemoRelayFreeFn free_fn, void *user_data) {
    free_fn(user_data);
}
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// newUserData stores v and returns the pointer-sized token to pass to C as
// user_data together with goFreeFn().
func newUserData(v any) unsafe.Pointer {
	liveUserData.Add(1)
	return C.nr_handle_to_user_data(C.uintptr_t(cgo.NewHandle(v)))
}

// goFreeFn is the free_fn to pass with every user_data from newUserData.
func goFreeFn() C.NemoRelayFreeFn {
	return C.nr_go_free_fn()
}

// releaseThroughC invokes goFreeFn from C, exactly as the library will when a
// registration is dropped.
func releaseThroughC(userData unsafe.Pointer) {
	C.nr_call_free_fn(goFreeFn(), userData)
}

// The C function pointers of the Go trampolines, for the register calls.
func goGuardFn() C.NemoRelayGuardFn           { return C.nr_go_guard() }
func goRewriteFn() C.NemoRelayRewriteFn       { return C.nr_go_rewrite() }
func goInterceptFn() C.NemoRelayInterceptFn   { return C.nr_go_intercept() }
func goSubscriberFn() C.NemoRelaySubscriberFn { return C.nr_go_subscriber() }
func goCallFn() C.NemoRelayCallFn             { return C.nr_go_call() }
func goPullFn() C.NemoRelayPullFn             { return C.nr_go_pull() }
func nextPtr(token uintptr) *C.NemoRelayNext  { return C.nr_next(C.uintptr_t(token)) }
