package nemorelay

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"runtime"
	"unsafe"
)

// CallFunc is the tool (or LLM provider) a managed call executes: it gets
// the request as JSON (after request intercepts) and returns the result.
type CallFunc func(request json.RawMessage) (json.RawMessage, error)

// ToolCall runs tool name with args (marshalled to JSON) through the whole
// pipeline: guardrails, request intercepts, start event, execution
// intercepts, fn, end event. Options: "tool_call_id", "metadata", "data",
// "parent", "attributes". A rejection is ErrGuardrailRejected; a failure of
// fn (or of middleware) is ErrCallbackFailed with fn's message.
func (s *Stack) ToolCall(name string, args any, opts Options, fn CallFunc) (json.RawMessage, error) {
	return s.execute(name, args, opts, fn, func(cname, cargs, copts *C.char, ud unsafe.Pointer, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_tool_execute(s.raw(), cname, cargs, copts, goCallFn(), ud, goFreeFn(), out)
	})
}

// LLMCall runs a unary LLM call: request is {"headers": {...}, "content":
// ...}; fn is the provider. Options as ToolCall, with "model_name".
func (s *Stack) LLMCall(name string, request any, opts Options, fn CallFunc) (json.RawMessage, error) {
	return s.execute(name, request, opts, fn, func(cname, creq, copts *C.char, ud unsafe.Pointer, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_llm_execute(s.raw(), cname, creq, copts, goCallFn(), ud, goFreeFn(), out)
	})
}

type executeFn func(name, request, options *C.char, userData unsafe.Pointer, out **C.char) C.NemoRelayStatus

func (s *Stack) execute(name string, request any, opts Options, fn CallFunc, run executeFn) (json.RawMessage, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	cname, creq, copts, err := callArgs(name, request, opts)
	if err != nil {
		return nil, err
	}
	defer freeC(cname, creq, copts)
	defer runtime.KeepAlive(s)
	// The library releases the handle (free_fn) once the call is over.
	userData := newUserData(fn)
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return run(cname, creq, copts, userData, &out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

func callArgs(name string, request any, opts Options) (cname, creq, copts *C.char, err error) {
	if cname, err = cString(name, "name"); err != nil {
		return nil, nil, nil, err
	}
	if creq, err = jsonArg(request, "request"); err != nil {
		freeC(cname)
		return nil, nil, nil, err
	}
	if copts, err = optionsArg(opts); err != nil {
		freeC(cname, creq)
		return nil, nil, nil, err
	}
	return cname, creq, copts, nil
}

// Tool is a manually reported tool call (the application runs the tool).
type Tool struct{ ptr *C.NemoRelayTool }

// StartTool emits the start event of a tool call the caller runs itself.
func (s *Stack) StartTool(name string, args any, opts Options) (*Tool, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	cname, cargs, copts, err := callArgs(name, args, opts)
	if err != nil {
		return nil, err
	}
	defer freeC(cname, cargs, copts)
	defer runtime.KeepAlive(s)
	var ptr *C.NemoRelayTool
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_tool_start(s.raw(), cname, cargs, copts, &ptr)
	}); err != nil {
		return nil, err
	}
	t := &Tool{ptr: ptr}
	runtime.SetFinalizer(t, (*Tool).Close)
	return t, nil
}

// End emits the tool's success end event with result.
func (t *Tool) End(s *Stack, result any, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	cres, copts, err := endArgs(result, opts)
	if err != nil {
		return err
	}
	defer freeC(cres, copts)
	defer runtime.KeepAlive(s)
	defer runtime.KeepAlive(t)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_tool_end(s.raw(), t.ptr, cres, copts) })
}

// Close releases the handle (it does not end the call). Idempotent.
func (t *Tool) Close() {
	if t == nil || t.ptr == nil {
		return
	}
	C.nemo_relay_tool_free(t.ptr)
	t.ptr = nil
	runtime.SetFinalizer(t, nil)
}

func endArgs(result any, opts Options) (cres, copts *C.char, err error) {
	if cres, err = jsonArg(result, "result"); err != nil {
		return nil, nil, err
	}
	if copts, err = optionsArg(opts); err != nil {
		freeC(cres)
		return nil, nil, err
	}
	return cres, copts, nil
}
