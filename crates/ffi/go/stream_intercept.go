package nemorelay

// LLM stream execution intercepts, and streams made in Go.

// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"runtime"
	"unsafe"
)

// StreamInterceptFunc wraps a streaming LLM call: get the downstream stream
// with next.RunStream and return it, or a stream made with NewStream that
// reads from it. The library takes ownership of the returned stream. An
// error fails the call with ErrCallbackFailed and the error's message.
type StreamInterceptFunc func(ctx CallContext, request json.RawMessage, next Next) (*Stream, error)

// RegisterStreamIntercept registers an LLM stream execution intercept.
func RegisterStreamIntercept(name string, fn StreamInterceptFunc, opts ...RegisterOption) error {
	return register(name, fn, opts, func(cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_register_stream_intercept(cname, C.int32_t(r.priority), r.ownerPtr(), r.stack.raw(),
			goStreamInterceptFn(), ud, goFreeFn())
	})
}

// RunStream runs the rest of a streaming chain (later stream intercepts,
// then the provider) and returns its stream. Valid only while the
// StreamInterceptFunc that received next runs.
func (n Next) RunStream(request json.RawMessage) (*Stream, error) {
	creq, err := cString(string(request), "request_json")
	if err != nil {
		return nil, err
	}
	defer freeC(creq)
	var ptr *C.NemoRelayStream
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_next_run_stream(nextPtr(n.token), creq, &ptr)
	}); err != nil {
		return nil, err
	}
	return newStream(ptr), nil
}

// NewStream makes a stream whose chunks come from pull (its request
// argument is nil), e.g. to transform a downstream stream in a
// StreamInterceptFunc.
func NewStream(pull PullFunc) (*Stream, error) {
	userData := newUserData(pull)
	var ptr *C.NemoRelayStream
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_stream_new(goPullFn(), userData, goFreeFn(), &ptr)
	}); err != nil {
		return nil, err
	}
	return newStream(ptr), nil
}

func newStream(ptr *C.NemoRelayStream) *Stream {
	st := &Stream{ptr: ptr}
	runtime.SetFinalizer(st, (*Stream).Close)
	return st
}
