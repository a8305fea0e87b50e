package nemorelay

// Plugin kinds written in Go. A kind's hooks run synchronously inside
// ValidatePlugins / InitializePlugins, on the calling goroutine's thread;
// the ConfigCheck and PluginContext they receive are valid only until the
// hook returns (later use fails with ErrInvalidState).

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// PluginKind is a plugin kind implemented in Go.
type PluginKind struct {
	// Kind is the component "kind" string the kind answers to.
	Kind string
	// Description is shown by PluginKinds.
	Description string
	// Single makes a second component of this kind in one document an error.
	Single bool
	// Validate reports problems with a component's config through check; nil
	// accepts any config. A returned error becomes a
	// plugin.validator_failed error diagnostic.
	Validate func(config json.RawMessage, check ConfigCheck) error
	// Register installs a component's behaviour through ctx. An error aborts
	// the whole activation (the previous one stays active).
	Register func(config json.RawMessage, ctx PluginContext) error
}

// RegisterPluginKind makes k available to later validations and activations.
func RegisterPluginKind(k PluginKind) error {
	if k.Register == nil {
		return errorf(StatusNullPointer, "PluginKind.Register must not be nil")
	}
	ckind, err := cString(k.Kind, "kind")
	if err != nil {
		return err
	}
	copts, err := jsonArg(map[string]any{"description": k.Description, "allows_multiple": !k.Single}, "options_json")
	if err != nil {
		freeC(ckind)
		return err
	}
	defer freeC(ckind, copts)
	validate := C.NemoRelayPluginValidateFn(nil)
	if k.Validate != nil {
		validate = goPluginValidateFn()
	}
	kind := k
	userData := newUserData(&kind) // released by the library, even on failure
	return call(func() C.NemoRelayStatus {
		return C.nemo_relay_plugin_register_kind(ckind, copts, validate, goPluginRegisterFn(), userData, goFreeFn())
	})
}

// DeregisterPluginKind removes a kind from later validations and activations
// and reports whether it existed.
func DeregisterPluginKind(kind string) (bool, error) {
	ckind, err := cString(kind, "kind")
	if err != nil {
		return false, err
	}
	defer freeC(ckind)
	var removed C.bool
	err = call(func() C.NemoRelayStatus { return C.nemo_relay_plugin_deregister_kind(ckind, &removed) })
	return bool(removed), err
}

// ConfigCheck is where a Validate hook reports findings. Field paths are
// relative to the component's config ("" is the config itself).
type ConfigCheck struct{ token uintptr }

// Error reports an error diagnostic (it blocks activation).
func (c ConfigCheck) Error(field, code, message string) error {
	return c.report(field, code, message, false)
}

// Warn reports a warning diagnostic.
func (c ConfigCheck) Warn(field, code, message string) error {
	return c.report(field, code, message, true)
}

func (c ConfigCheck) report(field, code, message string, warn bool) error {
	strs, err := cStrings(map[string]string{"field": field, "code": code, "message": message})
	if err != nil {
		return err
	}
	defer freeC(strs["field"], strs["code"], strs["message"])
	return call(func() C.NemoRelayStatus {
		if warn {
			return C.nemo_relay_config_check_warn(checkPtr(c.token), strs["field"], strs["code"], strs["message"])
		}
		return C.nemo_relay_config_check_error(checkPtr(c.token), strs["field"], strs["code"], strs["message"])
	})
}

// Unsupported reports a value this kind does not support; the document's
// policy decides its level (default error).
func (c ConfigCheck) Unsupported(field, message string) error {
	strs, err := cStrings(map[string]string{"field": field, "message": message})
	if err != nil {
		return err
	}
	defer freeC(strs["field"], strs["message"])
	return call(func() C.NemoRelayStatus {
		return C.nemo_relay_config_check_unsupported(checkPtr(c.token), strs["field"], strs["message"])
	})
}

// KnownFields reports every key of the object at path that is not in known;
// the document's policy decides the level (default warning).
func (c ConfigCheck) KnownFields(path string, known ...string) error {
	cpath, err := cString(path, "path")
	if err != nil {
		return err
	}
	if known == nil {
		known = []string{}
	}
	cknown, err := jsonArg(known, "known_json")
	if err != nil {
		freeC(cpath)
		return err
	}
	defer freeC(cpath, cknown)
	return call(func() C.NemoRelayStatus {
		return C.nemo_relay_config_check_known_fields(checkPtr(c.token), cpath, cknown)
	})
}

func cStrings(values map[string]string) (map[string]*C.char, error) {
	out := make(map[string]*C.char, len(values))
	for name, value := range values {
		cs, err := cString(value, name)
		if err != nil {
			for _, p := range out {
				freeC(p)
			}
			return nil, err
		}
		out[name] = cs
	}
	return out, nil
}

// PluginContext is where a Register hook installs a component's behaviour.
// Names are local to the component: the runtime sees "<kind>#<n>/<name>".
// Registrations take effect with the whole activation. WithPriority and
// WithBreakChain apply; OwnedBy does not (plugins register globally).
type PluginContext struct{ token uintptr }

func (p PluginContext) register(name string, fn any, opts []RegisterOption,
	run func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus) error {
	r := &registration{}
	for _, o := range opts {
		o(r)
	}
	if r.owner != nil {
		return errorf(StatusInvalidArgument, "plugin registrations are global; OwnedBy does not apply")
	}
	cname, err := cString(name, "name")
	if err != nil {
		return err
	}
	defer freeC(cname)
	userData := newUserData(fn)
	return call(func() C.NemoRelayStatus { return run(pluginCtxPtr(p.token), cname, r, userData) })
}

// RegisterGuard records a conditional-execution guardrail.
func (p PluginContext) RegisterGuard(family Family, name string, fn GuardFunc, opts ...RegisterOption) error {
	return p.register(name, fn, opts, func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_register_guard(ctx, C.int32_t(family), cname, C.int32_t(r.priority), goGuardFn(), ud, goFreeFn())
	})
}

// RegisterRewrite records a request intercept or sanitize guardrail.
func (p PluginContext) RegisterRewrite(family Family, name string, fn RewriteFunc, opts ...RegisterOption) error {
	return p.register(name, fn, opts, func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_register_rewrite(ctx, C.int32_t(family), cname, C.int32_t(r.priority), C.bool(r.breakChain), goRewriteFn(), ud, goFreeFn())
	})
}

// RegisterIntercept records an execution intercept.
func (p PluginContext) RegisterIntercept(family Family, name string, fn InterceptFunc, opts ...RegisterOption) error {
	return p.register(name, fn, opts, func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_register_intercept(ctx, C.int32_t(family), cname, C.int32_t(r.priority), goInterceptFn(), ud, goFreeFn())
	})
}

// RegisterStreamIntercept records an LLM stream execution intercept.
func (p PluginContext) RegisterStreamIntercept(name string, fn StreamInterceptFunc, opts ...RegisterOption) error {
	return p.register(name, fn, opts, func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_register_stream_intercept(ctx, cname, C.int32_t(r.priority), goStreamInterceptFn(), ud, goFreeFn())
	})
}

// RegisterSubscriber records an event subscriber.
func (p PluginContext) RegisterSubscriber(name string, fn SubscriberFunc, opts ...RegisterOption) error {
	return p.register(name, fn, opts, func(ctx *C.NemoRelayPluginContext, cname *C.char, r *registration, ud unsafe.Pointer) C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_register_subscriber(ctx, cname, C.int32_t(r.priority), goSubscriberFn(), ud, goFreeFn())
	})
}

// OnTeardown runs fn once when the activation ends (cleared, replaced, or
// discarded because it failed), possibly on another goroutine.
func (p PluginContext) OnTeardown(fn func()) error {
	userData := newUserData(fn)
	return call(func() C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_on_teardown(pluginCtxPtr(p.token), userData, goTeardownFn())
	})
}

// Qualify returns the runtime-visible name of local registration name.
func (p PluginContext) Qualify(name string) (string, error) {
	cname, err := cString(name, "local")
	if err != nil {
		return "", err
	}
	defer freeC(cname)
	var out *C.char
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_plugin_context_qualify(pluginCtxPtr(p.token), cname, &out)
	}); err != nil {
		return "", err
	}
	return takeString(out), nil
}
