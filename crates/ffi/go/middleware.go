package nemorelay

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"time"
	"unsafe"
)

// Family is a NEMO_RELAY_FAMILY_* value: which registry a callback joins.
type Family int32

// Middleware families.
const (
	ToolConditionalExecution    = Family(C.NEMO_RELAY_FAMILY_TOOL_CONDITIONAL_EXECUTION)
	ToolRequestIntercept        = Family(C.NEMO_RELAY_FAMILY_TOOL_REQUEST_INTERCEPT)
	ToolSanitizeRequest         = Family(C.NEMO_RELAY_FAMILY_TOOL_SANITIZE_REQUEST)
	ToolSanitizeResponse        = Family(C.NEMO_RELAY_FAMILY_TOOL_SANITIZE_RESPONSE)
	ToolExecutionIntercept      = Family(C.NEMO_RELAY_FAMILY_TOOL_EXECUTION_INTERCEPT)
	LLMConditionalExecution     = Family(C.NEMO_RELAY_FAMILY_LLM_CONDITIONAL_EXECUTION)
	LLMRequestIntercept         = Family(C.NEMO_RELAY_FAMILY_LLM_REQUEST_INTERCEPT)
	LLMSanitizeRequest          = Family(C.NEMO_RELAY_FAMILY_LLM_SANITIZE_REQUEST)
	LLMSanitizeResponse         = Family(C.NEMO_RELAY_FAMILY_LLM_SANITIZE_RESPONSE)
	LLMExecutionIntercept       = Family(C.NEMO_RELAY_FAMILY_LLM_EXECUTION_INTERCEPT)
	LLMStreamExecutionIntercept = Family(C.NEMO_RELAY_FAMILY_LLM_STREAM_EXECUTION_INTERCEPT)
	Subscribers                 = Family(C.NEMO_RELAY_FAMILY_SUBSCRIBER)
)

// CallContext describes the call a middleware callback runs for.
type CallContext struct {
	Kind       string `json:"kind"` // "tool", "llm" or "llm_stream"
	Name       string `json:"name"`
	UUID       string `json:"uuid"` // the id the call's events carry
	ParentUUID string `json:"parent_uuid"`
	ToolCallID string `json:"tool_call_id"`
	ModelName  string `json:"model_name"`
}

func decodeContext(ctx *C.char) CallContext {
	var c CallContext
	_ = json.Unmarshal(rawJSON(ctx), &c) // the library always sends a valid object
	return c
}

// GuardFunc is a conditional-execution guardrail: reject == true blocks the
// call with reason; a non-nil error fails the call.
type GuardFunc func(ctx CallContext, request json.RawMessage) (reason string, reject bool, err error)

// RewriteFunc is a request intercept or sanitize guardrail: it returns the
// value to use instead, or nil to keep it unchanged.
type RewriteFunc func(ctx CallContext, value json.RawMessage) (json.RawMessage, error)

// InterceptFunc is an execution intercept: continue with next.Run (zero or
// more times) and return the result.
type InterceptFunc func(ctx CallContext, request json.RawMessage, next Next) (json.RawMessage, error)

// SubscriberFunc receives every event as canonical ATOF JSON, in order, on
// the runtime's dispatcher thread.
type SubscriberFunc func(event json.RawMessage)

// Next continues an execution chain. Valid only while the InterceptFunc
// that received it runs; later calls fail with ErrContinuationExpired.
type Next struct{ token uintptr }

// Run runs the rest of the chain (later intercepts, then the callback).
func (n Next) Run(request json.RawMessage) (json.RawMessage, error) {
	creq, err := cString(string(request), "request_json")
	if err != nil {
		return nil, err
	}
	defer freeC(creq)
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_next_run(nextPtr(n.token), creq, &out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

// RegisterOption adjusts a registration.
type RegisterOption func(*registration)

type registration struct {
	priority   int32
	breakChain bool
	owner      *Scope
	stack      *Stack
}

// WithPriority sets the priority (lower runs first; default 0).
func WithPriority(p int32) RegisterOption { return func(r *registration) { r.priority = p } }

// WithBreakChain makes a request intercept skip the request intercepts after it.
func WithBreakChain() RegisterOption { return func(r *registration) { r.breakChain = true } }

// OwnedBy makes the registration scope-local: it lives until scope (open on
// stack) is popped.
func OwnedBy(stack *Stack, scope *Scope) RegisterOption {
	return func(r *registration) { r.owner, r.stack = scope, stack }
}

type registerFn func(name *C.char, r *registration, userData unsafe.Pointer) C.NemoRelayStatus

func register(name string, fn any, opts []RegisterOption, run registerFn) error {
	r := &registration{}
	for _, o := range opts {
		o(r)
	}
	if err := r.usable(); err != nil {
		return err
	}
	cname, err := cString(name, "name")
	if err != nil {
		return err
	}
	defer freeC(cname)
	defer runtime.KeepAlive(r.owner)
	defer runtime.KeepAlive(r.stack)
	// From here the library owns the handle and releases it exactly once,
	// even if registering fails.
	userData := newUserData(fn)
	return call(func() C.NemoRelayStatus { return run(cname, r, userData) })
}

// usable refuses a closed Stack or owner Scope: the library would take a
// NULL owner for "global".
func (r *registration) usable() error {
	if r.owner != nil && r.owner.ptr == nil {
		return &Error{Code: StatusInvalidState, Message: "the owner Scope is closed"}
	}
	return r.stack.usable()
}

func (r *registration) ownerPtr() *C.NemoRelayScope {
	if r.owner == nil {
		return nil
	}
	return r.owner.ptr
}

// RegisterGuard registers a conditional-execution guardrail
// (ToolConditionalExecution or LLMConditionalExecution).
func RegisterGuard(family Family, name string, fn GuardFunc, opts ...RegisterOption) error {
	return register(name, fn, opts, func(cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_register_guard(C.int32_t(family), cname, C.int32_t(r.priority), r.ownerPtr(),
			r.stack.raw(), goGuardFn(), ud, goFreeFn())
	})
}

// RegisterRewrite registers a request intercept or sanitize guardrail.
func RegisterRewrite(family Family, name string, fn RewriteFunc, opts ...RegisterOption) error {
	return register(name, fn, opts, func(cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_register_rewrite(C.int32_t(family), cname, C.int32_t(r.priority), C.bool(r.breakChain),
			r.ownerPtr(), r.stack.raw(), goRewriteFn(), ud, goFreeFn())
	})
}

// RegisterIntercept registers an execution intercept
// (ToolExecutionIntercept or LLMExecutionIntercept).
func RegisterIntercept(family Family, name string, fn InterceptFunc, opts ...RegisterOption) error {
	return register(name, fn, opts, func(cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_register_intercept(C.int32_t(family), cname, C.int32_t(r.priority), r.ownerPtr(),
			r.stack.raw(), goInterceptFn(), ud, goFreeFn())
	})
}

// RegisterSubscriber registers an event subscriber.
func RegisterSubscriber(name string, fn SubscriberFunc, opts ...RegisterOption) error {
	return register(name, fn, opts, func(cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_register_subscriber(cname, C.int32_t(r.priority), r.ownerPtr(), r.stack.raw(),
			goSubscriberFn(), ud, goFreeFn())
	})
}

// Deregister removes registration name of family (global, or scope-local
// with OwnedBy) and reports whether it existed.
func Deregister(family Family, name string, opts ...RegisterOption) (bool, error) {
	r := &registration{}
	for _, o := range opts {
		o(r)
	}
	if err := r.usable(); err != nil {
		return false, err
	}
	cname, err := cString(name, "name")
	if err != nil {
		return false, err
	}
	defer freeC(cname)
	defer runtime.KeepAlive(r.owner)
	defer runtime.KeepAlive(r.stack)
	var removed C.bool
	err = call(func() C.NemoRelayStatus {
		return C.nemo_relay_deregister(C.int32_t(family), cname, r.ownerPtr(), r.stack.raw(), &removed)
	})
	return bool(removed), err
}

// Flush blocks until every event emitted so far has been delivered.
// From inside a subscriber it returns at once.
func Flush() error {
	return call(func() C.NemoRelayStatus { return C.nemo_relay_flush() })
}

// FlushTimeout is Flush with an upper bound: ErrTimeout if the events were
// not all delivered in time (delivery goes on). d is rounded down to whole
// milliseconds; a negative d, or one past the C ABI's uint32 milliseconds
// (about 49 days), is ErrInvalidArgument.
func FlushTimeout(d time.Duration) error {
	ms := d.Milliseconds()
	if ms < 0 || ms > math.MaxUint32 {
		return &Error{Code: StatusInvalidArgument, Message: fmt.Sprintf("flush timeout %v is out of range", d)}
	}
	return call(func() C.NemoRelayStatus { return C.nemo_relay_flush_timeout(C.uint32_t(ms)) })
}

// Shutdown delivers queued events and stops delivery for good; call it once
// at exit. Idempotent.
func Shutdown() error {
	return call(func() C.NemoRelayStatus { return C.nemo_relay_shutdown() })
}
