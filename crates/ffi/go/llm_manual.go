package nemorelay

// Manually reported LLM calls (the application calls the provider itself),
// and the failure end of manual tool calls.

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import "runtime"

// LLM is a manually reported LLM call.
type LLM struct{ ptr *C.NemoRelayLlm }

// StartLLM emits the start event of an LLM call the caller makes itself;
// request is {"headers": {...}, "content": ...}.
func (s *Stack) StartLLM(name string, request any, opts Options) (*LLM, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	cname, creq, copts, err := callArgs(name, request, opts)
	if err != nil {
		return nil, err
	}
	defer freeC(cname, creq, copts)
	defer runtime.KeepAlive(s)
	var ptr *C.NemoRelayLlm
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_llm_start(s.raw(), cname, creq, copts, &ptr)
	}); err != nil {
		return nil, err
	}
	l := &LLM{ptr: ptr}
	runtime.SetFinalizer(l, (*LLM).Close)
	return l, nil
}

// End emits the LLM call's success end event with response.
func (l *LLM) End(s *Stack, response any, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	cres, copts, err := endArgs(response, opts)
	if err != nil {
		return err
	}
	defer freeC(cres, copts)
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(l)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_llm_end(s.raw(), l.ptr, cres, copts) })
}

// Fail emits the LLM call's failure end event with message.
func (l *LLM) Fail(s *Stack, message string, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	cmsg, copts, err := failArgs(message, opts)
	if err != nil {
		return err
	}
	defer freeC(cmsg, copts)
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(l)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_llm_fail(s.raw(), l.ptr, cmsg, copts) })
}

// UUID is the id the call's events carry.
func (l *LLM) UUID() (string, error) {
	defer runtime.KeepAlive(l)
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_llm_uuid(l.ptr, &out) }); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// Close releases the handle (it does not end the call). Idempotent.
func (l *LLM) Close() {
	if l == nil || l.ptr == nil {
		return
	}
	C.nemo_relay_llm_free(l.ptr)
	l.ptr = nil
	runtime.SetFinalizer(l, nil)
}

// Fail emits the tool call's failure end event with message.
func (t *Tool) Fail(s *Stack, message string, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	cmsg, copts, err := failArgs(message, opts)
	if err != nil {
		return err
	}
	defer freeC(cmsg, copts)
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(t)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_tool_fail(s.raw(), t.ptr, cmsg, copts) })
}

func failArgs(message string, opts Options) (cmsg, copts *C.char, err error) {
	if cmsg, err = cString(message, "message"); err != nil {
		return nil, nil, err
	}
	if copts, err = optionsArg(opts); err != nil {
		freeC(cmsg)
		return nil, nil, err
	}
	return cmsg, copts, nil
}
