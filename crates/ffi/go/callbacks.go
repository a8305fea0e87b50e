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
	"encoding/json"
	"errors"
	"fmt"
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

// The trampolines below are the C callbacks of every Go registration. Each
// looks up the Go function stored under user_data, runs it, and reports
// through the ABI's one result convention: a status, plus at most one
// malloc'ed string in *out (C.CString), which the library frees. A Go panic
// must not unwind into C: each trampoline recovers and reports it as a
// failure whose message says so.

// report writes a callback failure: status INTERNAL and the message.
func report(out **C.char, err error) C.int32_t {
	msg, status := err.Error(), StatusInternal
	// The library's own error handed back (next.Run's, a nested call's):
	// its status and message reach the caller unchanged.
	var e *Error
	if errors.As(err, &e) && e.Code != StatusOK {
		status = e.Code
		if e.Message != "" {
			msg = e.Message
		}
	}
	*out = C.CString(msg)
	return C.int32_t(status)
}

// recovered converts a panic in a Go callback into a reported failure.
func recovered(out **C.char, status *C.int32_t) {
	if r := recover(); r != nil {
		*status = report(out, fmt.Errorf("panic in Go callback: %v", r))
	}
}

//export nemoRelayGoGuard
func nemoRelayGoGuard(userData unsafe.Pointer, ctx, request *C.char, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	fn := userDataValue(userData).(GuardFunc)
	reason, reject, err := fn(decodeContext(ctx), rawJSON(request))
	if err != nil {
		return report(out, err)
	}
	if reject {
		*out = C.CString(reason)
	}
	return C.int32_t(StatusOK)
}

//export nemoRelayGoRewrite
func nemoRelayGoRewrite(userData unsafe.Pointer, ctx, value *C.char, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	fn := userDataValue(userData).(RewriteFunc)
	next, err := fn(decodeContext(ctx), rawJSON(value))
	if err != nil {
		return report(out, err)
	}
	if next != nil {
		*out = C.CString(string(next))
	}
	return C.int32_t(StatusOK)
}

//export nemoRelayGoIntercept
func nemoRelayGoIntercept(userData unsafe.Pointer, ctx, request *C.char, next *C.NemoRelayNext, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	fn := userDataValue(userData).(InterceptFunc)
	result, err := fn(decodeContext(ctx), rawJSON(request), Next{token: uintptr(unsafe.Pointer(next))})
	if err != nil {
		return report(out, err)
	}
	*out = jsonOut(result)
	return C.int32_t(StatusOK)
}

// subscriberErrors counts recovered subscriber panics (see Stats).
var subscriberErrors atomic.Uint64

//export nemoRelayGoSubscriber
func nemoRelayGoSubscriber(userData unsafe.Pointer, event *C.char) {
	// A subscriber cannot report failure to the library: count it.
	defer func() {
		if recover() != nil {
			subscriberErrors.Add(1)
		}
	}()
	userDataValue(userData).(SubscriberFunc)(rawJSON(event))
}

//export nemoRelayGoCall
func nemoRelayGoCall(userData unsafe.Pointer, request *C.char, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	fn := userDataValue(userData).(CallFunc)
	result, err := fn(rawJSON(request))
	if err != nil {
		return report(out, err)
	}
	*out = jsonOut(result)
	return C.int32_t(StatusOK)
}

//export nemoRelayGoPull
func nemoRelayGoPull(userData unsafe.Pointer, request *C.char, index C.uint64_t, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	fn := userDataValue(userData).(PullFunc)
	chunk, ok, err := fn(rawJSON(request), uint64(index))
	if err != nil {
		return report(out, err)
	}
	if ok {
		*out = jsonOut(chunk)
	}
	return C.int32_t(StatusOK)
}

// jsonOut is a callback's JSON answer as a C string for the library. An
// empty one (a nil json.RawMessage) is null, as encoding/json writes it.
func jsonOut(v json.RawMessage) *C.char {
	if len(v) == 0 {
		return C.CString("null")
	}
	return C.CString(string(v))
}
