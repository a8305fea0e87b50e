package nemorelay

// The user_data side of callback registrations.
//
// C callbacks receive a void *user_data. Go may not hand Go pointers to C
// for C to keep, so the binding stores the Go value (a closure, usually) in a
// runtime/cgo.Handle and passes the handle's integer as user_data. The library
// calls free_fn(user_data) exactly once when the registration is dropped (also
// when registering fails), and nemoRelayGoReleaseUserData deletes the handle
// then. liveUserData counts outstanding handles so tests can assert that
// nothing leaks once registrations are gone.
//
// This file holds only //export functions: cgo forbids C definitions in the
// preamble of a file that exports, so the C helpers (and the Go functions
// that call them, since a preamble is visible only to its own file) live in
// trampolines.go.

// #include "nemo_relay.h"
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

var liveUserData atomic.Int64

// userDataValue returns the value stored by newUserData. Trampolines call it
// with the user_data the library passed back.
func userDataValue(userData unsafe.Pointer) any {
	return cgo.Handle(uintptr(userData)).Value()
}

// liveUserDataCount is the number of user_data handles not yet released.
func liveUserDataCount() int64 {
	return liveUserData.Load()
}

//export nemoRelayGoReleaseUserData
func nemoRelayGoReleaseUserData(userData unsafe.Pointer) {
	// This runs on a C stack, possibly on a library thread; a Go panic here
	// would kill the process. Deleting a handle twice is a library bug that
	// must not take the host program down with it.
	defer func() { _ = recover() }()
	cgo.Handle(uintptr(userData)).Delete()
	liveUserData.Add(-1)
}
