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
extern int32_t nemoRelayGoStreamIntercept(void *, char *, char *, NemoRelayNext *, NemoRelayStream **);
extern int32_t nemoRelayGoPluginValidate(void *, char *, NemoRelayConfigCheck *, char **);
extern int32_t nemoRelayGoPluginRegister(void *, char *, NemoRelayPluginContext *, char **);
extern void nemoRelayGoTeardown(void *user_data);

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
static inline NemoRelayStreamInterceptFn nr_go_stream_intercept(void) {
    return (NemoRelayStreamInterceptFn)nemoRelayGoStreamIntercept;
}
static inline NemoRelayPluginValidateFn nr_go_plugin_validate(void) {
    return (NemoRelayPluginValidateFn)nemoRelayGoPluginValidate;
}
static inline NemoRelayPluginRegisterFn nr_go_plugin_register(void) {
    return (NemoRelayPluginRegisterFn)nemoRelayGoPluginRegister;
}
// The free_fn of a teardown registration: it runs the Go function, then
// releases the handle.
static inline NemoRelayFreeFn nr_go_teardown_fn(void) { return nemoRelayGoTeardown; }
// Lent handles (plugin check and context) are tokens, like `next`.
static inline NemoRelayConfigCheck *nr_check(uintptr_t token) { return (NemoRelayConfigCheck *)token; }
static inline NemoRelayPluginContext *nr_plugin_ctx(uintptr_t token) {
    return (NemoRelayPluginContext *)token;
}
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
func goGuardFn() C.NemoRelayGuardFn                     { return C.nr_go_guard() }
func goRewriteFn() C.NemoRelayRewriteFn                 { return C.nr_go_rewrite() }
func goInterceptFn() C.NemoRelayInterceptFn             { return C.nr_go_intercept() }
func goSubscriberFn() C.NemoRelaySubscriberFn           { return C.nr_go_subscriber() }
func goCallFn() C.NemoRelayCallFn                       { return C.nr_go_call() }
func goPullFn() C.NemoRelayPullFn                       { return C.nr_go_pull() }
func nextPtr(token uintptr) *C.NemoRelayNext            { return C.nr_next(C.uintptr_t(token)) }
func goStreamInterceptFn() C.NemoRelayStreamInterceptFn { return C.nr_go_stream_intercept() }
func goPluginValidateFn() C.NemoRelayPluginValidateFn   { return C.nr_go_plugin_validate() }
func goPluginRegisterFn() C.NemoRelayPluginRegisterFn   { return C.nr_go_plugin_register() }
func goTeardownFn() C.NemoRelayFreeFn                   { return C.nr_go_teardown_fn() }
func checkPtr(token uintptr) *C.NemoRelayConfigCheck    { return C.nr_check(C.uintptr_t(token)) }
func pluginCtxPtr(token uintptr) *C.NemoRelayPluginContext {
	return C.nr_plugin_ctx(C.uintptr_t(token))
}
