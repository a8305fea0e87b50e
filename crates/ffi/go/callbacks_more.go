package nemorelay

// The //export trampolines added with stream intercepts and plugin kinds;
// same rules as callbacks.go (recover every panic, report through the
// status plus at most one C string).

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

//export nemoRelayGoStreamIntercept
func nemoRelayGoStreamIntercept(userData unsafe.Pointer, ctx, request *C.char, next *C.NemoRelayNext, out **C.NemoRelayStream) (status C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			status = failStream(fmt.Errorf("panic in Go callback: %v", r))
		}
	}()
	fn := userDataValue(userData).(StreamInterceptFunc)
	st, err := fn(decodeContext(ctx), rawJSON(request), Next{token: uintptr(unsafe.Pointer(next))})
	if err != nil {
		return failStream(err)
	}
	ptr := st.detach()
	if ptr == nil {
		return failStream(fmt.Errorf("the stream intercept returned no open stream"))
	}
	// Ownership of the stream passes to the library with the return.
	*out = ptr
	return C.int32_t(StatusOK)
}

// failStream reports a stream intercept's failure. Its typedef has no
// message slot, so the message goes through
// nemo_relay_stream_intercept_set_error, on this (the callback's) thread.
func failStream(err error) C.int32_t {
	var msg *C.char
	status := report(&msg, err)
	C.nemo_relay_stream_intercept_set_error(msg)
	C.free(unsafe.Pointer(msg))
	return status
}

//export nemoRelayGoPluginValidate
func nemoRelayGoPluginValidate(userData unsafe.Pointer, config *C.char, check *C.NemoRelayConfigCheck, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	kind := userDataValue(userData).(*PluginKind)
	if err := kind.Validate(rawJSON(config), ConfigCheck{token: uintptr(unsafe.Pointer(check))}); err != nil {
		return report(out, err)
	}
	return C.int32_t(StatusOK)
}

//export nemoRelayGoPluginRegister
func nemoRelayGoPluginRegister(userData unsafe.Pointer, config *C.char, ctx *C.NemoRelayPluginContext, out **C.char) (status C.int32_t) {
	defer recovered(out, &status)
	kind := userDataValue(userData).(*PluginKind)
	if err := kind.Register(rawJSON(config), PluginContext{token: uintptr(unsafe.Pointer(ctx))}); err != nil {
		return report(out, err)
	}
	return C.int32_t(StatusOK)
}

//export nemoRelayGoTeardown
func nemoRelayGoTeardown(userData unsafe.Pointer) {
	defer func() { _ = recover() }() // runs on a library thread; must not unwind
	handle := cgo.Handle(uintptr(userData))
	fn := handle.Value().(func())
	handle.Delete()
	liveUserData.Add(-1)
	fn()
}

// errorf builds a binding-side *Error (no C call was made).
func errorf(code Status, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
