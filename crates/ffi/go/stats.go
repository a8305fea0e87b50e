package nemorelay

// Runtime counters and registration listings.

// #include "nemo_relay.h"
import "C"

import "encoding/json"

// Stats are the runtime's delivery counters.
type Stats struct {
	Delivered         uint64 `json:"delivered"`
	DroppedFull       uint64 `json:"dropped_full"`
	Overflowed        uint64 `json:"overflowed"`
	DroppedClosed     uint64 `json:"dropped_closed"`
	SubscriberPanics  uint64 `json:"subscriber_panics"`
	Queued            uint64 `json:"queued"`
	Capacity          uint64 `json:"capacity"`
	SanitizerFailures uint64 `json:"sanitizer_failures"`
	// SubscriberErrors counts panics of Go subscribers, which this binding
	// recovers (as Node's stats().subscriberErrors counts throws).
	SubscriberErrors uint64 `json:"-"`
}

// RuntimeStats returns the runtime's counters.
func RuntimeStats() (Stats, error) {
	var out *C.char
	var stats Stats
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_stats(&out) }); err != nil {
		return stats, err
	}
	if err := json.Unmarshal([]byte(takeString(out)), &stats); err != nil {
		return stats, errorf(StatusInternal, "stats: %v", err)
	}
	stats.SubscriberErrors = subscriberErrors.Load()
	return stats, nil
}

// Registrations returns the names of the global registrations of family,
// in run order.
func Registrations(family Family) ([]string, error) {
	var out *C.char
	if err := call(func() C.NemoRelayStatus { return C.nemo_relay_registrations(C.int32_t(family), &out) }); err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal([]byte(takeString(out)), &names); err != nil {
		return nil, errorf(StatusInternal, "registrations: %v", err)
	}
	return names, nil
}
