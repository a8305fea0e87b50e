package nemorelay

// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
)

// PullFunc produces a stream's chunks: it is called with index 0, 1, ...
// and returns (chunk, true, nil) for a chunk, (nil, false, nil) at the end.
// request is the (intercepted) LLM request.
type PullFunc func(request json.RawMessage, index uint64) (json.RawMessage, bool, error)

// Stream is the caller's side of a streaming LLM call.
//
// Close may be called from another goroutine while one is in Next (to
// stop a stream being read): it waits for the pull in progress (that Next
// returns what the provider gives), then finishes the stream: every later
// Next returns the end, and the handle is released once no goroutine uses
// it. A provider that never returns cannot be stopped this way; give it a
// deadline of its own.
type Stream struct {
	mu     sync.Mutex
	ptr    *C.NemoRelayStream
	users  int // goroutines in Next or Close holding ptr
	closed bool
}

// LLMStream starts a streaming LLM call whose provider is pull. Read the
// chunks with Next; Close when done (also before the end: the call is then
// recorded as cancelled).
func (s *Stack) LLMStream(name string, request any, opts Options, pull PullFunc) (*Stream, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
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
	ptr := st.use()
	if ptr == nil {
		return nil, false, nil
	}
	defer st.done()
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_stream_next(ptr, &out) }); err != nil {
		return nil, false, err
	}
	if out == nil {
		return nil, false, nil
	}
	return json.RawMessage(takeString(out)), true, nil
}

// Close finishes the stream early if needed and releases it. Idempotent,
// and safe while another goroutine is in Next.
func (st *Stream) Close() {
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.closed || st.ptr == nil {
		st.mu.Unlock()
		return
	}
	st.closed = true
	st.users++
	ptr := st.ptr
	st.mu.Unlock()
	runtime.SetFinalizer(st, nil)
	// Thread-safe, unlike freeing: it waits for a Next in progress.
	C.nemo_relay_stream_close(ptr)
	st.done()
}

// use takes the handle for one library call, or nil once closed.
func (st *Stream) use() *C.NemoRelayStream {
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.ptr == nil {
		return nil
	}
	st.users++
	return st.ptr
}

// done gives the handle back; the last user after Close frees it.
func (st *Stream) done() {
	st.mu.Lock()
	st.users--
	var ptr *C.NemoRelayStream
	if st.closed && st.users == 0 {
		ptr, st.ptr = st.ptr, nil
	}
	st.mu.Unlock()
	if ptr != nil {
		C.nemo_relay_stream_free(ptr)
	}
}

// detach gives the handle up (to the library, which then owns it); nil if
// the stream is closed or in use.
func (st *Stream) detach() *C.NemoRelayStream {
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.users > 0 {
		return nil
	}
	ptr := st.ptr
	st.ptr = nil
	runtime.SetFinalizer(st, nil)
	return ptr
}
