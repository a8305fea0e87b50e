package nemorelay

// #include "nemo_relay.h"
import "C"

import "runtime"

// ScopeType is a NEMO_RELAY_SCOPE_TYPE_* value.
type ScopeType int32

// Scope types.
const (
	ScopeAgent     = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_AGENT)
	ScopeFunction  = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_FUNCTION)
	ScopeTool      = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_TOOL)
	ScopeLLM       = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_LLM)
	ScopeRetriever = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_RETRIEVER)
	ScopeGuardrail = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_GUARDRAIL)
	ScopeCustom    = ScopeType(C.NEMO_RELAY_SCOPE_TYPE_CUSTOM)
)

// Stack is a scope stack: where scopes are pushed and what new events are
// parented to.
//
// Goroutines move between OS threads, so Go code should not rely on the
// library's per-thread default stack: create a Stack per task (request,
// agent run) and call its methods. The nil *Stack means "the calling
// thread's current stack", which is right inside a callback the library runs
// (a tool, an intercept): there it is the call being executed, so nested
// calls made with a nil Stack are parented to it.
//
// A Stack may be used from several goroutines. Close releases it; a
// finalizer does so too if Close is forgotten.
type Stack struct {
	ptr *C.NemoRelayStack
}

// NewStack creates an empty stack.
func NewStack() (*Stack, error) {
	var ptr *C.NemoRelayStack
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_stack_new(&ptr) }); err != nil {
		return nil, err
	}
	s := &Stack{ptr: ptr}
	runtime.SetFinalizer(s, (*Stack).Close)
	return s, nil
}

// Close releases the stack handle. Idempotent; open scopes stay valid.
func (s *Stack) Close() {
	if s == nil || s.ptr == nil {
		return
	}
	C.nemo_relay_stack_free(s.ptr)
	s.ptr = nil
	runtime.SetFinalizer(s, nil)
}

// usable fails for a closed Stack: its handle reads as NULL, which the
// library takes for "the calling thread's current stack", so a closed
// Stack would otherwise put scopes and events wherever the goroutine's OS
// thread happens to be.
func (s *Stack) usable() error {
	if s != nil && s.ptr == nil {
		return &Error{Code: StatusInvalidState, Message: "the Stack is closed"}
	}
	return nil
}

func (s *Stack) raw() *C.NemoRelayStack {
	if s == nil {
		return nil
	}
	return s.ptr
}

// Scope is an open (or closed) scope.
type Scope struct {
	ptr  *C.NemoRelayScope
	uuid string
}

// UUID is the scope's id, as carried by its events.
func (sc *Scope) UUID() string { return sc.uuid }

// Close releases the handle; it does not pop the scope. Idempotent.
func (sc *Scope) Close() {
	if sc == nil || sc.ptr == nil {
		return
	}
	C.nemo_relay_scope_free(sc.ptr)
	sc.ptr = nil
	runtime.SetFinalizer(sc, nil)
}

// PushScope opens a scope and emits its start event. Options: "input",
// "data", "metadata", "parent", "attributes", "timestamp_us".
func (s *Stack) PushScope(name string, typ ScopeType, opts Options) (*Scope, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	cname, err := cString(name, "name")
	if err != nil {
		return nil, err
	}
	copts, err := optionsArg(opts)
	if err != nil {
		freeC(cname)
		return nil, err
	}
	defer freeC(cname, copts)
	defer runtime.KeepAlive(s) // the finalizer must not free the stack mid-call
	var ptr *C.NemoRelayScope
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_scope_push(s.raw(), cname, C.int32_t(typ), copts, &ptr)
	}); err != nil {
		return nil, err
	}
	sc := &Scope{ptr: ptr}
	var uuid *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_scope_uuid(ptr, &uuid) }); err != nil {
		sc.Close()
		return nil, err
	}
	sc.uuid = takeString(uuid)
	runtime.SetFinalizer(sc, (*Scope).Close)
	return sc, nil
}

// PopScope closes sc, which must be the innermost open scope, and emits its
// end event. Options: "output", "metadata", "timestamp_us".
func (s *Stack) PopScope(sc *Scope, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	copts, err := optionsArg(opts)
	if err != nil {
		return err
	}
	defer freeC(copts)
	var ptr *C.NemoRelayScope
	if sc != nil {
		ptr = sc.ptr
	}
	err = call(func() C.NemoRelayStatus { return C.nemo_relay_scope_pop(s.raw(), ptr, copts) })
	runtime.KeepAlive(sc)
	runtime.KeepAlive(s)
	return err
}

// Mark emits a point-in-time event under the innermost scope. Options:
// "data", "data_schema", "metadata", "category", "category_profile",
// "parent", "timestamp_us".
func (s *Stack) Mark(name string, opts Options) error {
	if err := s.usable(); err != nil {
		return err
	}
	cname, err := cString(name, "name")
	if err != nil {
		return err
	}
	copts, err := optionsArg(opts)
	if err != nil {
		freeC(cname)
		return err
	}
	defer freeC(cname, copts)
	defer runtime.KeepAlive(s)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_mark(s.raw(), cname, copts) })
}
