package nemorelay

// #include "nemo_relay.h"
import "C"

import "fmt"

// HeaderABIVersion is the ABI version of the header this package was
// compiled against.
const HeaderABIVersion = uint32(C.NEMO_RELAY_ABI_VERSION)

// ABIVersion returns the ABI version of the library loaded at run time.
func ABIVersion() uint32 {
	return uint32(C.nemo_relay_abi_version())
}

// Version returns the library's package version, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.nemo_relay_version()) // static string, not freed
}

// CheckABI reports an error when the loaded library's ABI differs from the
// header this package was built with (for example a stale shared library
// found through the rpath or LD_LIBRARY_PATH).
func CheckABI() error {
	if loaded := ABIVersion(); loaded != HeaderABIVersion {
		return fmt.Errorf("nemo-relay: loaded library has ABI version %d, this package was built for %d",
			loaded, HeaderABIVersion)
	}
	return nil
}
