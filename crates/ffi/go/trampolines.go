package nemorelay

// C helpers that let Go pass function pointers and user_data tokens to the
// library. They live apart from callbacks.go because cgo forbids definitions
// in the preamble of a file with //export functions.

/*
#include <stdint.h>
#include "nemo_relay.h"

extern void nemoRelayGoReleaseUserData(void *user_data);

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
