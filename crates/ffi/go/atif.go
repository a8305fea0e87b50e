package nemorelay

// The ATIF trajectory exporter (ATIF-v1.7 documents of agent runs).

// #include <stdlib.h>
// #include "nemo_relay.h"
import "C"

import (
	"encoding/json"
	"runtime"
)

// AtifExporter buffers the events of agent runs and exports them as ATIF
// trajectories. It may be used from several goroutines.
type AtifExporter struct{ ptr *C.NemoRelayAtifExporter }

// NewAtifExporter creates an exporter. Options: "output_directory",
// "filename_template", "agent_name", "agent_version", "session_id",
// "include_raw_events" (nil: defaults).
func NewAtifExporter(opts Options) (*AtifExporter, error) {
	copts, err := optionsArg(opts)
	if err != nil {
		return nil, err
	}
	defer freeC(copts)
	var ptr *C.NemoRelayAtifExporter
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_atif_exporter_create(copts, &ptr) }); err != nil {
		return nil, err
	}
	e := &AtifExporter{ptr: ptr}
	runtime.SetFinalizer(e, (*AtifExporter).Close)
	return e, nil
}

// Register subscribes the exporter to the runtime as name ("" for the
// default "nemo_relay.atif").
func (e *AtifExporter) Register(name string) error {
	var cname *C.char
	if name != "" {
		var err error
		if cname, err = cString(name, "name"); err != nil {
			return err
		}
		defer freeC(cname)
	}
	defer runtime.KeepAlive(e)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_atif_exporter_register(e.ptr, cname) })
}

// Export delivers pending events and returns the trajectory of the
// configured (or most recent) session. ErrNotFound when nothing is buffered.
func (e *AtifExporter) Export() (json.RawMessage, error) {
	defer runtime.KeepAlive(e)
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_atif_exporter_export(e.ptr, &out) }); err != nil {
		return nil, err
	}
	return json.RawMessage(takeString(out)), nil
}

// Clear forgets every buffered event.
func (e *AtifExporter) Clear() error {
	defer runtime.KeepAlive(e)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_atif_exporter_clear(e.ptr) })
}

// Flush delivers pending events and reports the first file write error.
func (e *AtifExporter) Flush() error {
	defer runtime.KeepAlive(e)
	return call(func() C.NemoRelayStatus { return C.nemo_relay_atif_exporter_flush(e.ptr) })
}

// Close deregisters and releases the exporter. Idempotent.
func (e *AtifExporter) Close() {
	if e == nil || e.ptr == nil {
		return
	}
	C.nemo_relay_atif_exporter_free(e.ptr)
	e.ptr = nil
	runtime.SetFinalizer(e, nil)
}
