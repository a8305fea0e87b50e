package nemorelay

// The plugin host: validate, activate and clear configuration documents
// ({"version": 1, "components": [...], "policy": {...}}, or a .toml/.json
// file). See plugin_kind.go for plugin kinds written in Go.

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// Diagnostic is one finding about a configuration document.
type Diagnostic struct {
	Level     string `json:"level"` // "warning" or "error"
	Code      string `json:"code"`  // "plugin.unknown_field", ...
	Message   string `json:"message"`
	Component *int   `json:"component,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Field     string `json:"field,omitempty"`
}

// ValidationReport is what ValidatePlugins found.
type ValidationReport struct {
	HasErrors   bool         `json:"has_errors"`
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// PluginKindInfo describes one registered plugin kind.
type PluginKindInfo struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// ValidatePlugins checks a document (marshalled to JSON; json.RawMessage
// passes through) without changing anything.
func ValidatePlugins(doc any) (*ValidationReport, error) {
	out, err := documentCall(doc, func(cdoc *C.char, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_plugin_validate(cdoc, out)
	})
	return decodeValidation(out, err)
}

// ValidatePluginsFile checks a .toml or .json file.
func ValidatePluginsFile(path string) (*ValidationReport, error) {
	out, err := pathCall(path, func(cpath *C.char, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_plugin_validate_file(cpath, out)
	})
	return decodeValidation(out, err)
}

// InitializePlugins validates doc and activates it in place of the active
// configuration, atomically: on error nothing changes. It returns the
// activation report.
func InitializePlugins(doc any) (json.RawMessage, error) {
	return documentCall(doc, func(cdoc *C.char, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_plugin_initialize(cdoc, out)
	})
}

// InitializePluginsFile is InitializePlugins for a .toml or .json file.
func InitializePluginsFile(path string) (json.RawMessage, error) {
	return pathCall(path, func(cpath *C.char, out **C.char) C.NemoRelayStatus {
		return C.nemo_relay_plugin_initialize_file(cpath, out)
	})
}

// ClearPlugins removes everything the active configuration installed and
// reports whether one was active.
func ClearPlugins() (bool, error) {
	var active C.bool
	err := call(func() C.NemoRelayStatus { return C.nemo_relay_plugin_clear(&active) })
	return bool(active), err
}

// ActivePlugins returns the activation report of the active configuration,
// or JSON null.
func ActivePlugins() (json.RawMessage, error) {
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_plugin_active_report(&out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

// PluginKinds lists the registered kinds (built-in and from any binding).
func PluginKinds() ([]PluginKindInfo, error) {
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_plugin_kinds(&out) }); err != nil {
		return nil, err
	}
	var kinds []PluginKindInfo
	if err := json.Unmarshal([]byte(takeString(out)), &kinds); err != nil {
		return nil, errorf(StatusInternal, "plugin kinds: %v", err)
	}
	return kinds, nil
}

func documentCall(doc any, run func(*C.char, **C.char) C.NemoRelayStatus) (json.RawMessage, error) {
	cdoc, err := jsonArg(doc, "config_json")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cdoc))
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return run(cdoc, &out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

func pathCall(path string, run func(*C.char, **C.char) C.NemoRelayStatus) (json.RawMessage, error) {
	cpath, err := cString(path, "path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return run(cpath, &out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

func decodeValidation(out json.RawMessage, err error) (*ValidationReport, error) {
	if err != nil {
		return nil, err
	}
	report := &ValidationReport{}
	if err := json.Unmarshal(out, report); err != nil {
		return nil, errorf(StatusInternal, "validation report: %v", err)
	}
	return report, nil
}
