package nemorelay

// #include "nemo_relay.h"
import "C"

import "fmt"

// Status is a NemoRelayStatus code. The values come from the header, so they
// cannot drift from the library.
type Status int32

// Status codes; see nemo_relay.h for what each one means.
const (
	StatusOK                  = Status(C.NEMO_RELAY_STATUS_OK)
	StatusAlreadyExists       = Status(C.NEMO_RELAY_STATUS_ALREADY_EXISTS)
	StatusNotFound            = Status(C.NEMO_RELAY_STATUS_NOT_FOUND)
	StatusScopeStackEmpty     = Status(C.NEMO_RELAY_STATUS_SCOPE_STACK_EMPTY)
	StatusGuardrailRejected   = Status(C.NEMO_RELAY_STATUS_GUARDRAIL_REJECTED)
	StatusInternal            = Status(C.NEMO_RELAY_STATUS_INTERNAL)
	StatusNullPointer         = Status(C.NEMO_RELAY_STATUS_NULL_POINTER)
	StatusInvalidJSON         = Status(C.NEMO_RELAY_STATUS_INVALID_JSON)
	StatusInvalidUTF8         = Status(C.NEMO_RELAY_STATUS_INVALID_UTF8)
	StatusInvalidArgument     = Status(C.NEMO_RELAY_STATUS_INVALID_ARGUMENT)
	StatusStreamEnd           = Status(C.NEMO_RELAY_STATUS_STREAM_END)
	StatusBackpressured       = Status(C.NEMO_RELAY_STATUS_BACKPRESSURED)
	StatusPanic               = Status(C.NEMO_RELAY_STATUS_PANIC)
	StatusInvalidState        = Status(C.NEMO_RELAY_STATUS_INVALID_STATE)
	StatusCancelled           = Status(C.NEMO_RELAY_STATUS_CANCELLED)
	StatusShutDown            = Status(C.NEMO_RELAY_STATUS_SHUT_DOWN)
	StatusCallbackFailed      = Status(C.NEMO_RELAY_STATUS_CALLBACK_FAILED)
	StatusScopeNotOnTop       = Status(C.NEMO_RELAY_STATUS_SCOPE_NOT_ON_TOP)
	StatusForeignScope        = Status(C.NEMO_RELAY_STATUS_FOREIGN_SCOPE)
	StatusRootScope           = Status(C.NEMO_RELAY_STATUS_ROOT_SCOPE)
	StatusContinuationExpired = Status(C.NEMO_RELAY_STATUS_CONTINUATION_EXPIRED)
	StatusTimeout             = Status(C.NEMO_RELAY_STATUS_TIMEOUT)
)

// String returns the header spelling, e.g. "NEMO_RELAY_STATUS_NOT_FOUND".
func (s Status) String() string {
	// The library owns the name table; the string is static, never freed.
	if name := C.nemo_relay_status_name(C.int32_t(s)); name != nil {
		return C.GoString(name)
	}
	return fmt.Sprintf("NemoRelayStatus(%d)", int32(s))
}
