package nemorelay

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"strings"
	"unsafe"
)

// Options are the optional arguments of a call, sent as its options_json
// object: "input", "output", "data", "metadata", "parent", "attributes",
// "tool_call_id", "model_name", "timestamp_us", ... (see nemo_relay.h).
// A nil map sends NULL (no options). Unknown keys are rejected.
type Options map[string]any

// NormalizeJSON parses text with the library's JSON parser and returns it in
// compact form. It fails with ErrInvalidJSON for malformed input and with
// ErrInvalidUTF8 when text is not UTF-8.
func NormalizeJSON(text string) (string, error) {
	input, err := cString(text, "json")
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(input))
	var out *C.char
	if err := call(func() C.NemoRelayStatus {
		return C.nemo_relay_json_normalize(input, &out)
	}); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// cString copies s into C memory (free it with C.free). A Go string may hold
// NUL bytes, which C would silently cut at; they are rejected instead.
func cString(s, arg string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &Error{
			Code:    StatusInvalidArgument,
			Message: fmt.Sprintf("argument `%s` contains a NUL byte at offset %d", arg, i),
		}
	}
	return C.CString(s), nil
}

// jsonArg marshals v (json.RawMessage passes through) into C memory.
func jsonArg(v any, arg string) (*C.char, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Code: StatusInvalidJSON, Message: fmt.Sprintf("argument `%s`: %v", arg, err)}
	}
	return cString(string(text), arg)
}

// optionsArg is jsonArg for Options, with nil meaning NULL.
func optionsArg(opts Options) (*C.char, error) {
	if opts == nil {
		return nil, nil
	}
	return jsonArg(opts, "options_json")
}

// freeC releases C strings made by cString/jsonArg; nil entries are fine.
func freeC(ptrs ...*C.char) {
	for _, p := range ptrs {
		C.free(unsafe.Pointer(p))
	}
}

// takeString copies a library-owned string into Go memory and frees it.
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.nemo_relay_string_free(s)
	return C.GoString(s)
}

// rawJSON copies a borrowed C string as JSON.
func rawJSON(s *C.char) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(C.GoString(s))
}

// normalizeNullJSON passes a NULL input pointer; tests use it to check how
// NULL_POINTER errors surface in Go.
func normalizeNullJSON() error {
	var out *C.char
	return call(func() C.NemoRelayStatus {
		return C.nemo_relay_json_normalize(nil, &out)
	})
}

// debugPanic triggers nemo_relay_debug_panic; tests use it to check that a
// Rust panic arrives as ErrPanic instead of killing the process.
func debugPanic() error {
	return call(func() C.NemoRelayStatus { return C.nemo_relay_debug_panic() })
}
