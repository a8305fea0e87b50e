package nemorelay

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

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

// takeString copies a library-owned string into Go memory and frees it.
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.nemo_relay_string_free(s)
	return C.GoString(s)
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
