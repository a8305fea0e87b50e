package nemorelay

// #include "nemo_relay.h"
import "C"

import (
	"fmt"
	"runtime"
)

// Error is a failure reported by the library: the status code it returned
// and the message it stored for the calling thread.
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "nemo-relay: " + e.Code.String()
	}
	return fmt.Sprintf("nemo-relay: %s (%s)", e.Message, e.Code)
}

// Is makes errors.Is(err, ErrNotFound) match any *Error with the same code.
// A target with a non-empty Message must match the message too.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Sentinels for errors.Is. Each matches every *Error with its code.
var (
	ErrAlreadyExists       = &Error{Code: StatusAlreadyExists}
	ErrNotFound            = &Error{Code: StatusNotFound}
	ErrScopeStackEmpty     = &Error{Code: StatusScopeStackEmpty}
	ErrGuardrailRejected   = &Error{Code: StatusGuardrailRejected}
	ErrInternal            = &Error{Code: StatusInternal}
	ErrNullPointer         = &Error{Code: StatusNullPointer}
	ErrInvalidJSON         = &Error{Code: StatusInvalidJSON}
	ErrInvalidUTF8         = &Error{Code: StatusInvalidUTF8}
	ErrInvalidArgument     = &Error{Code: StatusInvalidArgument}
	ErrPanic               = &Error{Code: StatusPanic}
	ErrInvalidState        = &Error{Code: StatusInvalidState}
	ErrCancelled           = &Error{Code: StatusCancelled}
	ErrShutDown            = &Error{Code: StatusShutDown}
	ErrCallbackFailed      = &Error{Code: StatusCallbackFailed}
	ErrScopeNotOnTop       = &Error{Code: StatusScopeNotOnTop}
	ErrForeignScope        = &Error{Code: StatusForeignScope}
	ErrRootScope           = &Error{Code: StatusRootScope}
	ErrContinuationExpired = &Error{Code: StatusContinuationExpired}
	ErrTimeout             = &Error{Code: StatusTimeout}
)

// call runs one status-returning C function and converts a failure into an
// *Error.
//
// The library keeps the error message per OS thread. Without pinning, the
// goroutine could move to another thread between the call and the read and
// pick up nothing or another goroutine's message, which upstream's binding
// did. LockOSThread nests, so this is safe inside already-pinned code.
func call(f func() C.NemoRelayStatus) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := Status(f())
	if status == StatusOK {
		return nil
	}
	err := &Error{Code: status}
	// Borrowed pointer, valid until the next call on this thread: copy now.
	if message := C.nemo_relay_last_error(); message != nil {
		err.Message = C.GoString(message)
	}
	return err
}
