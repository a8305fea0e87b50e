package nemorelay

// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"runtime"
)

// PullFunc produces a stream's chunks: it is called with index 0, 1, ...
// and returns (chunk, true, nil) for a chunk, (nil, false, nil) at the end.
// request is the (intercepted) LLM request.
type PullFunc func(request json.RawMessage, index uint64) (json.RawMessage, bool, error)

// Stream is the caller's side of a streaming LLM call.
type Stream struct{ ptr *C.NemoRelayStream }

// LLMStream starts a streaming LLM call whose provider is pull. Read the
// chunks with Next; Close when done (also before the end: the call is then
// recorded as cancelled).
func (s *Stack) LLMStream(name string, request any, opts Options, pull PullFunc) (*Stream, error) {
	cname, creq, copts, err := callArgs(name, request, opts)
	if err != nil {
		return nil, err
	}
	defer freeC(cname, creq, copts)
	defer runtime.KeepAlive(s)
	userData := newUserData(pull)
	var ptr *C.NemoRelayStream
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_llm_stream_execute(s.raw(), cname, creq, copts, goPullFn(), userData, goFreeFn(), &ptr)
	}); err != nil {
		return nil, err
	}
	st := &Stream{ptr: ptr}
	runtime.SetFinalizer(st, (*Stream).Close)
	return st, nil
}

// Next returns the next chunk, or ok == false at the end (and after Close).
func (st *Stream) Next() (chunk json.RawMessage, ok bool, err error) {
	if st == nil || st.ptr == nil {
		return nil, false, nil
	}
	defer runtime.KeepAlive(st)
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_stream_next(st.ptr, &out) }); err != nil {
		return nil, false, err
	}
	if out == nil {
		return nil, false, nil
	}
	return json.RawMessage(takeString(out)), true, nil
}

// Close finishes the stream early if needed and releases it. Idempotent.
func (st *Stream) Close() {
	if st == nil || st.ptr == nil {
		return
	}
	C.nemo_relay_stream_free(st.ptr) // closes first
	st.ptr = nil
	runtime.SetFinalizer(st, nil)
}
